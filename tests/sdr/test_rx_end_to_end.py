"""Modulator -> Channel -> cu8 -> Demodulator, whole-link checks."""

import numpy as np
import pytest
from scipy.special import erfc

from chaincast.fec.wire.plheader import Pls
from chaincast.sdr import plframe as pf
from chaincast.sdr.channel import Channel, cu8_to_complex, quantize_cu8
from chaincast.sdr.modem import psk_map, qpsk_hard, qpsk_map
from chaincast.sdr.psk8 import psk8_hard
from chaincast.sdr.rx import Demodulator
from chaincast.sdr.tx import Modulator

SYMBOL_RATE_HZ = 1e6


def _link(sps, esn0_db, cfo_hz, ppm, nframes=20, seed=1, pls_values=None, lead_s=0.01):
    """Returns (payload bits per frame, pls values, cu8 samples as complex64, fs)."""
    rng = np.random.default_rng(seed)
    fs = sps * SYMBOL_RATE_HZ
    if pls_values is None:
        pls_values = [Pls(1, True, True).pack()] * nframes
    bits, syms = [], []
    for v in pls_values:
        pls = Pls.unpack(v)
        b = rng.integers(0, 2, pls.bits_per_symbol * pls.slots * 90).astype(np.uint8)
        bits.append(b)
        syms.append(pf.build_frame(psk_map(b, pls.bits_per_symbol), v))
    mod = Modulator(fs, SYMBOL_RATE_HZ, 0.2)
    lead = np.zeros(int(lead_s * fs), np.complex64)
    tx = np.concatenate([lead, mod.process(np.concatenate(syms)), mod.flush(), lead])
    ch = Channel(fs, SYMBOL_RATE_HZ, esn0_db, cfo_hz=cfo_hz, clock_ppm=ppm, seed=seed)
    rx = np.concatenate([ch.process(tx), ch.flush()])
    return bits, list(pls_values), cu8_to_complex(quantize_cu8(rx, rms_lsb=40.0)), fs


def _demod(iq, fs, chunk=1_000_000, **kw):
    dem = Demodulator(fs, SYMBOL_RATE_HZ, 0.2, **kw)
    frames = []
    for i in range(0, iq.size, chunk):
        frames += dem.process(iq[i:i + chunk])
    frames += dem.flush()
    return frames, dem


def _check_link(sps, cfo_hz, ppm, seed):
    bits, pls_values, iq, fs = _link(sps, 10.0, cfo_hz, ppm, seed=seed)
    frames, dem = _demod(iq, fs)
    assert len(frames) == len(bits) == dem.stats.frames_found
    assert [f.pls_value for f in frames] == pls_values
    assert [f.locked for f in frames] == [False] + [True] * (len(frames) - 1) and dem.stats.acquisitions == 1
    errs = np.concatenate([qpsk_hard(f.payload) != b for f, b in zip(frames, bits)])
    ber = errs.mean()
    ser = np.mean(errs.reshape(-1, 2).any(axis=1))
    pb = 0.5 * erfc(np.sqrt(10 ** (10 / 10) / 2))  # QPSK at Es/N0 = 10 dB: 7.7e-4
    ps = 2 * pb - pb * pb  # 1.55e-3
    assert ber < 1.5e-3, (ber, pb)
    assert ser < 2 * ps, (ser, ps)
    assert max(np.mean(qpsk_hard(f.payload) != b) for f, b in zip(frames, bits)) < 5e-3  # no bad frame
    assert abs(np.median([f.esn0_db for f in frames]) - 10.0) < 1.0
    assert all(abs(f.cfo_hz - cfo_hz) < 100 for f in frames)
    # frames are back to back: start spacing = frame length in (clock-offset) samples
    step = pf.frame_symbols(90, True) * sps * (1 + ppm * 1e-6)
    assert np.allclose(np.diff([f.start_sample for f in frames]), step, atol=2)
    assert np.all(np.diff([f.symbol_index for f in frames]) == pf.frame_symbols(90, True))
    lead_and_delays = 0.01 * fs + 8 * sps  # noise lead + modulator delay
    assert abs(frames[0].start_sample - lead_and_delays * (1 + ppm * 1e-6)) < 3
    for f in frames:
        assert f.payload.dtype == np.complex64 and f.payload.size == 8100
        assert abs(np.mean(np.abs(f.payload) ** 2) - (1 + f.noise_var)) < 0.1


def test_link_10db_cfo_20khz_30ppm_2p4sps_cu8():
    _check_link(2.4, 20e3, 30, seed=1)


def test_link_10db_cfo_100khz_100ppm_2p4sps():
    _check_link(2.4, -100e3, 100, seed=2)


def test_link_10db_cfo_100khz_minus_100ppm_2p0sps():
    _check_link(2.0, 100e3, -100, seed=3)


def test_no_frames_on_two_seconds_of_noise():
    fs = 2.4e6
    ch = Channel(fs, SYMBOL_RATE_HZ, 10.0, seed=12)
    iq = cu8_to_complex(quantize_cu8(ch.noise(int(2 * fs)), rms_lsb=40.0))
    frames, dem = _demod(iq, fs)
    assert frames == []
    assert dem.stats.frames_found == 0


def test_chunk_sizes_4096_and_1e6_give_identical_frames():
    bits, _, iq, fs = _link(2.4, 10.0, 20e3, 30, nframes=6, seed=4)
    a, _ = _demod(iq, fs, chunk=4096)
    b, _ = _demod(iq, fs, chunk=1_000_000)
    assert len(a) == len(b) == 6
    for fa, fb in zip(a, b):
        assert (fa.pls_value, fa.start_sample, fa.symbol_index) == (fb.pls_value, fb.start_sample, fb.symbol_index)
        assert fa.noise_var == fb.noise_var and fa.cfo_hz == fb.cfo_hz
        assert np.array_equal(fa.payload, fb.payload)


def test_modcod_filter_counts_header_failures_and_mixed_pilots():
    vals = [Pls(1, True, True).pack(), Pls(5, True, False).pack()] * 3
    bits, _, iq, fs = _link(2.4, 10.0, 5e3, 10, seed=5, pls_values=vals)
    frames, dem = _demod(iq, fs)
    assert [f.pls_value for f in frames] == vals
    for f, b in zip(frames, bits):
        assert np.mean(qpsk_hard(f.payload) != b) < 5e-3
    only1, dem1 = _demod(iq, fs, modcod_ids={1})
    assert [f.pls.modcod_id for f in only1] == [1, 1, 1]
    assert dem1.stats.header_failures >= 2  # the modcod-5 frames (the last may lack its successor)


@pytest.mark.slow
def test_link_2p31_and_4_sps():
    _check_link(2.31, 20e3, 30, seed=6)
    _check_link(4.0, -50e3, 50, seed=7)


def test_8psk_stream_with_and_without_pilots_locks_through_the_frames_own_frequency():
    # 8PSK has no 4th-power line, so only the frames (header + pilots) can steer the NCO to the
    # 60 kHz offset; pilotless 8PSK frames are phase-tracked with the 8th power.
    psk8_id = 8
    values = [Pls(psk8_id, short, pilots).pack() for short, pilots in [(True, True), (False, True), (True, False)] * 3]
    bits, pls_values, iq, fs = _link(2.4, 16.0, 60e3, 50, pls_values=values, seed=4)
    frames, dem = _demod(iq, fs)
    assert [f.pls_value for f in frames] == pls_values
    for f, b in zip(frames, bits):
        assert f.payload.size == Pls.unpack(f.pls_value).slots * 90
        # uncoded Gray 8PSK at 16 dB: SER = 2 Q(sqrt(2 Es/N0) sin(pi/8)) = 6.3e-4, BER ~2.1e-4
        assert np.mean(psk8_hard(f.payload) != b) < 1e-3
    assert abs(dem.stats.cfo_hz - 60e3) < 100
    assert all(abs(f.cfo_hz - 60e3) < 100 for f in frames)


def test_first_pilot_cycle_is_recovered_when_the_header_frequency_is_off_by_more_than_the_wrap():
    # A normal QPSK frame at Es/N0 1.2 dB whose frequency guess is 450 Hz off (the first pilot is
    # 1554 symbols from the header: unwrapping alone slips above 322 Hz). The payload's own
    # frequency estimate must pick the right cycle against a vague prior around the bad guess.
    from chaincast.sdr.tracking import _payload_frequency, _track_phase

    rng = np.random.default_rng(5)
    v = Pls(4, False, True).pack()
    pls = Pls.unpack(v)
    payload = qpsk_map(rng.integers(0, 2, 2 * pls.slots * 90).astype(np.uint8))
    clean = pf.build_frame(payload, v).astype(np.complex128)
    segs = [(0, pf.header_symbols(v).astype(np.complex128))]
    segs += [(int(st), np.full(pf.PILOT_BLOCK_SYMBOLS, pf.PILOT_SYMBOL, np.complex128))
             for st in pf.pilot_block_starts(pls.slots, pls.pilots)]
    f_true = 2.0e-3
    n0 = 10 ** (-1.2 / 10)
    slipped = 0
    for trial in range(5):
        noise = np.sqrt(n0 / 2) * (rng.normal(size=clean.size) + 1j * rng.normal(size=clean.size))
        y = clean * np.exp(2j * np.pi * f_true * np.arange(clean.size) + 0.7j) + noise
        guess = f_true + 450e-6
        f_pay, var_pay = _payload_frequency(y, pf.payload_indices(pls.slots, pls.pilots), guess, 4)
        assert abs(f_pay - f_true) < 1e-4
        track = _track_phase(y, segs, guess, [(guess, 3e-4), (f_pay, np.sqrt(var_pay))])
        g, f_est = track.g, track.f_fine
        pay = g[pf.payload_indices(pls.slots, pls.pilots)]
        slipped += np.mean(np.abs(pay - payload) ** 2) > 2 * n0
        assert abs(f_est - f_true) < 3e-5 or slipped
    assert slipped == 0


@pytest.mark.parametrize("linewidth_hz", [0.0, 20.0])
def test_phase_smoother_beats_pilot_interpolation(linewidth_hz):
    # A normal QPSK frame at Es/N0 3 dB under Wiener phase noise (1 Mbaud), tracked from its
    # header and pilots: the smoother must leave less phase error per slot than the interpolation,
    # whether the oscillator wanders (it follows) or not (it averages the pilots' own noise).
    from chaincast.sdr.tracking import _smooth_phase, _track_phase

    rng = np.random.default_rng(8)
    v = Pls(4, False, True).pack()
    pls = Pls.unpack(v)
    pay_idx = pf.payload_indices(pls.slots, True)
    segs = [(0, pf.header_symbols(v).astype(np.complex128))]
    segs += [(int(st), np.full(pf.PILOT_BLOCK_SYMBOLS, pf.PILOT_SYMBOL, np.complex128))
             for st in pf.pilot_block_starts(pls.slots, True)]
    n0 = 10 ** (-3 / 10)
    walk = 2 * np.pi * max(linewidth_hz, 0.1) / 1e6
    before = after = 0.0
    for trial in range(4):
        payload = qpsk_map(rng.integers(0, 2, 2 * pay_idx.size).astype(np.uint8))
        clean = pf.build_frame(payload, v).astype(np.complex128)
        theta = np.cumsum(rng.normal(0, np.sqrt(2 * np.pi * linewidth_hz / 1e6), clean.size)) if linewidth_hz else 0.0
        noise = np.sqrt(n0 / 2) * (rng.normal(size=clean.size) + 1j * rng.normal(size=clean.size))
        y = clean * np.exp(1j * (theta + 0.3)) + noise
        track = _track_phase(y, segs, 0.0)
        p = track.g[pay_idx]
        out = _smooth_phase(p, pay_idx, 4, track, np.array([0.5 * n0 / kn.size for _, kn in segs]), walk)
        err_before = np.angle(np.sum((p * np.conj(payload)).reshape(-1, 90), axis=1))
        err_after = np.angle(np.sum((out * np.conj(payload)).reshape(-1, 90), axis=1))
        before += np.mean(err_before ** 2) / 4
        after += np.mean(err_after ** 2) / 4
        assert np.max(np.abs(err_after)) < np.radians(30)  # no slot left on a wrong branch
    noise_only = n0 / 180  # a slot's own phase noise, which the comparison with the truth includes
    assert after - noise_only < 0.6 * (before - noise_only), (np.degrees(np.sqrt(after)), np.degrees(np.sqrt(before)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_frame_of_a_burst_at_200_khz_is_demodulated_cleanly(seed):
    # The first frame steers the NCO 200 kHz away; the blocks it came from are replayed at the
    # new frequency, so the first frame is not lost to the off-frequency matched filter.
    values = [Pls(3, False, True).pack()] * 3  # qpsk-1/2 normal frames
    bits, _, iq, fs = _link(2.4, 4.0, 200e3, 100, pls_values=values, seed=seed, lead_s=0.02)
    frames, dem = _demod(iq, fs)
    assert len(frames) == 3 and frames[0].symbol_index < frames[1].symbol_index
    pb = 0.5 * erfc(np.sqrt(10 ** (4.0 / 10) / 2))  # QPSK at Es/N0 4 dB: 1.25e-2
    assert np.mean(qpsk_hard(frames[0].payload) != bits[0]) < 1.3 * pb
    assert abs(frames[0].esn0_db - 4.0) < 0.6


def test_a_carrier_jump_while_locked_is_followed_not_held_by_the_afc():
    """A stream that restarts 7 kHz away (a spliced recording, an LNB mode hop) while frames steer the
    NCO: the AFC's prior must not hold the tracker on the old frequency (every later frame lost)."""
    bits_a, _, iq_a, fs = _link(2.4, 6.0, 20e3, 30, nframes=8, seed=3, lead_s=0.002)
    bits_b, _, iq_b, _ = _link(2.4, 6.0, 27e3, 30, nframes=8, seed=4, lead_s=0.0)
    frames, dem = _demod(np.concatenate([iq_a, iq_b]), fs)
    assert len(frames) >= 15
    assert dem.stats.acquisitions == 1  # followed, not lost and re-acquired
    after_jump = [f for f in frames if f.start_sample > iq_a.size]
    assert len(after_jump) >= 7
    for f in after_jump:
        assert abs(f.cfo_hz - 27e3) < 200, f.cfo_hz
        errors = min(np.mean(qpsk_hard(f.payload) != b) for b in bits_b)
        assert errors < 0.05  # uncoded QPSK at 6 dB: 2.4e-2


@pytest.mark.parametrize("cfo_hz", [1.7e6, -1.25e6])
def test_search_finds_a_carrier_megahertz_away_that_the_plain_receiver_cannot(cfo_hz):
    """--search-hz: an LNB that drifted further than the 4th-power line's range (+-300 kHz), 6 Msps, 3 dB."""
    bits, pls_values, iq, fs = _link(6.0, 3.0, cfo_hz, 50, nframes=60, seed=5, lead_s=0.2)
    plain, _ = _demod(iq, fs)
    assert len(plain) == 0
    frames, dem = _demod(iq, fs, search_hz=2e6)
    assert len(frames) >= 60 - 24  # a scan cycle (9 centres, 20 ms each) lasts 22 frames of 8.3 ms
    assert all(abs(f.cfo_hz - cfo_hz) < 200 for f in frames)
    ber = [min(np.mean(qpsk_hard(f.payload) != b) for b in bits) for f in frames]
    assert max(ber[1:]) < 0.1  # uncoded QPSK at 3 dB: 0.079 (the first, caught mid-acquisition, may be worse)


def _normal_qpsk_frames(nframes: int, seed: int, edit_symbols=None, edit_tx=None):
    """``nframes`` back-to-back normal qpsk-3/5 PL frames of random bits (10 ms of silence before
    and after) at 2.4 Msps, ``edit_symbols(list of frame symbol arrays)`` and ``edit_tx(samples,
    lead)`` applied in place before and after the modulator, then the channel at 10 dB, 20 kHz,
    30 ppm, cu8. Returns (bits per frame, complex64 samples, lead in samples)."""
    from chaincast.fec.wire.profile import MODCODS

    normal = Pls(MODCODS["qpsk-3/5"].pls_id, False, True).pack()
    fs = 2.4e6
    rng = np.random.default_rng(seed)
    bits, syms = [], []
    for _ in range(nframes):
        b = rng.integers(0, 2, 2 * 360 * 90).astype(np.uint8)
        bits.append(b)
        syms.append(pf.build_frame(qpsk_map(b), normal))
    if edit_symbols is not None:
        edit_symbols(syms)
    lead = np.zeros(int(0.01 * fs), np.complex64)
    tx = np.concatenate([lead, Modulator(fs, SYMBOL_RATE_HZ, 0.2).process(np.concatenate(syms)), lead])
    if edit_tx is not None:
        edit_tx(tx, lead.size)
    ch = Channel(fs, SYMBOL_RATE_HZ, 10.0, cfo_hz=20e3, clock_ppm=30, seed=seed)
    return bits, cu8_to_complex(quantize_cu8(np.concatenate([ch.process(tx), ch.flush()]), rms_lsb=40.0)), lead.size


def test_a_20_ms_blockage_is_erased_and_the_frames_after_it_are_found():
    """Issue 5's blockage on normal QPSK frames (33.6 ms): a 20 ms gap (signal absent, noise on)
    starting inside frame 2. Its faded pilots are left out of tracking and its blocked symbols are
    erased (payload 0: LLR 0) instead of being blown up by their near-zero amplitude (which took
    the frame's N0 estimate to -18 dB). Frame 3 lost its header: it is cut out where frame 2 ended,
    with frame 2's PLS, and tracked on its pilots. The timing loop holds through the gap at its
    averaged rate, so the symbols after it are where the frame before says they are."""
    fs, sps = 2.4e6, 2.4
    frame_samples = pf.frame_symbols(360, True) * sps

    def block(tx: np.ndarray, lead: int) -> None:
        gap_start = int(lead + 2.8 * frame_samples)  # the last 20% of frame 2, then 40% of frame 3
        tx[gap_start:gap_start + int(0.02 * fs)] = 0

    bits, iq, lead = _normal_qpsk_frames(6, seed=21, edit_tx=block)
    frames, dem = _demod(iq, fs)
    found = {round((f.start_sample - lead) / frame_samples): f for f in frames}
    assert sorted(found) == [0, 1, 2, 3, 4, 5] and dem.stats.headerless_frames == 1
    for i, erased in ((2, 0.2), (3, 0.4)):  # the tail of frame 2, the head of frame 3 (with its header)
        hit = found[i]
        assert abs(hit.erased_fraction - erased) < 0.02 and abs(hit.esn0_db - 10) < 1 and hit.headerless == (i == 3)
        kept = hit.payload != 0
        assert np.mean(qpsk_hard(hit.payload[kept]) != bits[i].reshape(-1, 2)[kept].reshape(-1)) < 2e-3
    for i in (4, 5):  # the frames after the gap: found, clean
        assert found[i].erased_fraction == 0 and np.mean(qpsk_hard(found[i].payload) != bits[i]) < 2e-3


def test_a_frame_one_symbol_early_is_found_by_its_sof_not_guessed_header_less():
    """Where the flywheel's header does not match because the frame starts a symbol early (here
    the frame before it lost its last symbol; at low Es/N0 the timing loop's jitter does the same),
    the header is there, only misaligned: no header-less guess at the wrong start, the SOF search
    finds it. (Judged by matching alone, the pilots, constant blocks, looked present and a
    garbage frame was cut out where the flywheel said, hiding the real one.)"""
    def drop_last_symbol_of_frame_2(syms: list) -> None:
        syms[2] = syms[2][:-1]

    bits, iq, _ = _normal_qpsk_frames(5, seed=22, edit_symbols=drop_last_symbol_of_frame_2)
    frames, dem = _demod(iq, 2.4e6)
    assert len(frames) == 5 and dem.stats.headerless_frames == 0
    assert np.mean(qpsk_hard(frames[3].payload) != bits[3]) < 2e-3
