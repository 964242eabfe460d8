"""The demodulator's stages one at a time, their numba kernels against readable references, and
the front end alone against the symbol stream the composed ``Demodulator`` produced."""

import numpy as np
import pytest

from chaincast.fec.wire.plheader import Pls
from chaincast.sdr import plframe as pf
from chaincast.sdr import timing
from chaincast.sdr.acquisition import CarrierAcquisition
from chaincast.sdr.channel import Channel
from chaincast.sdr.framesync import FrameSync, SymbolBuffer
from chaincast.sdr.frontend import FrontEnd, SymbolChunk
from chaincast.sdr.header import HeaderDecoder, HeaderStatus
from chaincast.sdr.modem import qpsk_map
from chaincast.sdr.rx import Demodulator
from chaincast.sdr.tracking import _kalman_rts, kalman_rts_reference, track_frame
from chaincast.sdr.tx import Modulator

FS, SYMBOL_RATE_HZ, ROLLOFF = 2.4e6, 1e6, 0.2
QPSK_SHORT_PILOTS = Pls(4, True, True).pack()


def _frame(rng, pls_value):
    pls = Pls.unpack(pls_value)
    payload = qpsk_map(rng.integers(0, 2, 2 * pls.slots * 90).astype(np.uint8))
    return payload, pf.build_frame(payload, pls_value).astype(np.complex128)


def _noise(rng, n, n0):
    return np.sqrt(n0 / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))


def _signal(rng, nframes, cfo_hz, esn0_db=10.0, lead_s=0.005, seed=1):
    """complex64 samples at FS: ``nframes`` short QPSK frames with pilots between silent leads."""
    syms = np.concatenate([_frame(rng, QPSK_SHORT_PILOTS)[1] for _ in range(nframes)])
    lead = np.zeros(int(lead_s * FS), np.complex64)
    mod = Modulator(FS, SYMBOL_RATE_HZ, ROLLOFF)
    tx = np.concatenate([lead, mod.process(syms), mod.flush(), lead])
    ch = Channel(FS, SYMBOL_RATE_HZ, esn0_db, cfo_hz=cfo_hz, clock_ppm=20, seed=seed)
    return np.concatenate([ch.process(tx), ch.flush()]).astype(np.complex64)


def test_kalman_rts_kernel_equals_the_reference():
    rng = np.random.default_rng(3)
    for m in (0, 1, 2, 40, 400):
        t = np.sort(rng.uniform(0, 30000, m))
        z = np.cumsum(rng.normal(0, 0.05, m)) + rng.normal(0, 0.1, m)
        z[rng.random(m) < 0.05] += 2.0  # outliers for the gate
        r = rng.uniform(1e-3, 2e-2, m)
        gated = rng.random(m) < 0.7
        a = _kalman_rts(t, z, r, gated, 1e-4, 9.0)
        b = kalman_rts_reference(t, z, r, gated, 1e-4, 9.0)
        assert a.shape == b.shape == (m,)
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_timing_state_names_the_kernel_vector():
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(3000) + 1j * rng.standard_normal(3000)).astype(np.complex64)
    k1, k2 = timing.loop_gains(0.01)
    vector = timing.initial_state(2.4)
    state = timing.TimingState.initial(2.4)
    assert np.array_equal(state.to_array(), vector)
    for delayed in (False, True):
        a, pa = timing.gardner(x, vector, 2.4, k1, k2, delayed=delayed)
        b, pb = timing.gardner(x, state, 2.4, k1, k2, delayed=delayed)
        assert np.array_equal(a, b) and np.array_equal(pa, pb)
        assert np.array_equal(state.to_array(), vector)
        assert state.strobe == vector[timing.S_P] and state.integrator == vector[timing.S_INTEG]
        vector[timing.S_P] = state.strobe = 20.0


@pytest.mark.parametrize("cfo_hz", [37e3, -120e3])
def test_acquisition_finds_a_known_carrier_line(cfo_hz):
    rng = np.random.default_rng(1)
    block = 16384
    acq = CarrierAcquisition(FS, SYMBOL_RATE_HZ, ROLLOFF, block_samples=block, max_cfo_hz=0.3 * SYMBOL_RATE_HZ,
                             cfo_forget=0.7, search_hz=0.0, search_dwell_s=0.02, max_blocks=8)
    x = _signal(rng, 30, cfo_hz, lead_s=0.0)
    blocks = [x[i:i + block] - np.mean(x[i:i + block]) for i in range(0, x.size - block + 1, block)]
    estimates = [acq.update(blocks[i - acq.line_blocks + 1:i + 1], False) for i in range(acq.line_blocks - 1, 6)]
    assert all(e is not None and abs(e - cfo_hz) < 50 for e in estimates), estimates
    acq.reset()
    noise = _noise(rng, acq.line_blocks * block, 1.0).astype(np.complex64)
    assert acq.update(np.split(noise, acq.line_blocks), False) is None


def test_frame_sync_finds_the_sof_at_its_index_and_expects_the_next_frame():
    rng = np.random.default_rng(2)
    _, frame = _frame(rng, QPSK_SHORT_PILOTS)
    lead = qpsk_map(rng.integers(0, 2, 2 * 700).astype(np.uint8))
    y = np.concatenate([lead, frame, lead]) * np.exp(1j * (0.4 + 2 * np.pi * 1e-3 * np.arange(2 * lead.size + frame.size)))
    y = (y + _noise(rng, y.size, 10 ** -0.5)).astype(np.complex64)
    sync = FrameSync(2.4, sof_threshold=0.45)
    buf = SymbolBuffer()
    for part in np.array_split(np.arange(y.size), 7):  # the stream arrives in pieces
        buf.append(SymbolChunk(y[part], 2.4 * part.astype(np.float64), np.zeros(part.size)))
        sync.search(buf)
    assert [c.start for c in sync.state.pending] == [lead.size]
    assert not sync.state.pending[0].predicted and sync.state.pending[0].rho > 0.45
    sync.frame_found(lead.size, frame.size)
    assert sync.state.pending[-1].start == lead.size + frame.size and sync.state.pending[-1].predicted
    assert sync.state.next_allowed == lead.size + frame.size - 8


def test_header_stage_decodes_a_known_pls_under_a_frequency_offset():
    rng = np.random.default_rng(4)
    decoder = HeaderDecoder(sof_coherent_threshold=0.5, pls_threshold=0.5, modcod_ids=None)
    for value in (QPSK_SHORT_PILOTS, Pls(3, False, True).pack(), Pls(8, True, False).pack()):
        known = decoder.known_symbols(value).astype(np.complex128)
        k = np.arange(known.size)
        y = known * np.exp(1j * (1.1 + 2 * np.pi * 2e-3 * k)) + _noise(rng, known.size, 10 ** -0.3)
        result = decoder.decode(y)
        assert result.status is HeaderStatus.DECODED and result.pls_value == value
        assert abs(result.f_sym - 2e-3) < 2e-3
    assert decoder.decode(_noise(rng, pf.HEADER_SYMBOLS, 1.0)).status is HeaderStatus.NO_SOF
    only_8psk = HeaderDecoder(sof_coherent_threshold=0.5, pls_threshold=0.5, modcod_ids={8})
    y = decoder.known_symbols(QPSK_SHORT_PILOTS).astype(np.complex128)
    assert only_8psk.decode(y).status is HeaderStatus.UNUSABLE


@pytest.mark.parametrize("pilots", [True, False])
def test_tracking_stage_removes_a_known_phase_ramp(pilots):
    rng = np.random.default_rng(6)
    value = Pls(4, True, pilots).pack()
    pls = Pls.unpack(value)
    payload, frame = _frame(rng, value)
    f_true, n0 = 4e-4, 10 ** -1.0
    y = frame * np.exp(1j * (0.8 + 2 * np.pi * f_true * np.arange(frame.size))) + _noise(rng, frame.size, n0)
    header = pf.header_symbols(value).astype(np.complex128)
    track = track_frame(y, header, pls, headerless=False, afc_locked=False, afc_sigma_cycles=5e-5,
                        phase_walk_var=1e-4)
    assert track.payload.dtype == np.complex64 and track.payload.size == pls.slots * 90
    assert np.mean(np.abs(track.payload - payload) ** 2) < 2 * n0
    assert abs(track.noise_var / n0 - 1) < 0.3 and track.erased_fraction == 0.0
    if pilots:
        assert abs(track.f_fine - f_true) < 2e-5 and track.header_amplitude == pytest.approx(1.0, abs=0.1)
    else:
        assert track.header_amplitude is None and track.phase_walk_var == 1e-4


def test_front_end_alone_gives_the_demodulators_symbol_stream():
    """The front end fed the same blocks with the NCO frequencies and loop modes the Demodulator
    chose produces the same symbols, and each frame's start is its symbol's position there."""
    rng = np.random.default_rng(7)
    x = _signal(rng, 4, 0.0, lead_s=0.004)
    dem = Demodulator(FS, SYMBOL_RATE_HZ, ROLLOFF)
    calls = []
    run = dem.front_end.symbols

    def recording(block, samples, cfo_hz, tracking):
        chunk = run(block, samples, cfo_hz, tracking)
        calls.append((block, cfo_hz, tracking, chunk))
        return chunk

    dem.front_end.symbols = recording
    frames = dem.process(x) + dem.flush()
    assert len(frames) == 4 and dem._stream.replays == 0
    padded = np.concatenate([x, np.zeros(len(calls) * dem.block_samples - x.size, np.complex64)])
    alone = FrontEnd(FS, SYMBOL_RATE_HZ, ROLLOFF, block_samples=dem.block_samples, mf_span_symbols=16,
                     timing_bandwidth=0.002, acquire_timing_bandwidth=0.005)
    symbols, positions = [], []
    for block, cfo_hz, tracking, chunk in calls:
        b = dem.block_samples
        mine = alone.symbols(block, alone.remove_dc(padded[block * b:(block + 1) * b]), cfo_hz, tracking)
        assert np.array_equal(mine.symbols, chunk.symbols) and np.array_equal(mine.positions, chunk.positions)
        assert np.array_equal(mine.nco_phase, chunk.nco_phase)
        symbols.append(mine.symbols)
        positions.append(mine.positions)
    positions = np.concatenate(positions)
    assert positions.size == dem.stats.symbols_out
    for f in frames:
        assert f.start_sample == int(round(positions[f.symbol_index]))
    assert np.diff([f.symbol_index for f in frames]).tolist() == [pf.frame_symbols(Pls.unpack(QPSK_SHORT_PILOTS).slots, True)] * 3


def test_sof_metric_kernel_equals_the_reference_and_peaks_at_a_sof():
    from chaincast.sdr.framesync import sof_metric, sof_metric_reference

    rng = np.random.default_rng(21)
    signs = FrameSync(2.4, sof_threshold=0.5)._sof_diff_signs
    seg = (rng.standard_normal(5000) + 1j * rng.standard_normal(5000)).astype(np.complex64)
    sof = pf.sof_symbols()
    seg[1234:1234 + sof.size] = 2 * sof * np.exp(0.8j)
    seg[3000:3200] = 0  # a silent stretch: the normaliser is 0 there, rho too
    rho = sof_metric(seg, signs)
    assert rho.shape == (seg.size - signs.size,)
    assert np.allclose(rho, sof_metric_reference(seg, signs), atol=1e-6)
    assert int(np.argmax(rho[:2900])) == 1234 and rho[1234] > 0.99 and np.all(rho[3000:3100] == 0)
    assert np.all(np.delete(rho[:2900], 1234) < 0.6)  # (after the silence one product alone measures 1)


def test_acquisition_kernels_equal_their_numpy_expressions():
    import scipy.fft

    from chaincast.sdr import acquisition as acq

    rng = np.random.default_rng(22)
    x = (rng.standard_normal(4096) + 1j * rng.standard_normal(4096)).astype(np.complex64)
    assert acq.mean_power(x) == pytest.approx(acq.mean_power_reference(x), rel=1e-9)
    assert np.isnan(acq.mean_power(x[:0]))
    hann = np.hanning(x.size).astype(np.float32)
    fourth = acq.windowed_fourth_power(x, np.float32(0.6), hann)
    assert fourth.dtype == np.complex64
    assert np.allclose(fourth, acq.windowed_fourth_power_reference(x, np.float32(0.6), hann), rtol=1e-5, atol=1e-5)
    line = scipy.fft.fft(fourth)
    mask = rng.random(x.size) < 0.5
    spectrum = rng.random(x.size).astype(np.float32)
    expected = spectrum.copy()
    k = acq.accumulate_periodogram(line, spectrum, np.float32(0.7), mask)
    assert k == acq.accumulate_periodogram_reference(line, expected, np.float32(0.7), mask) and mask[k]
    assert np.allclose(spectrum, expected, rtol=1e-6)
