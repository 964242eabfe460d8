"""Streaming burst demodulator: complex baseband samples -> PL frames.

Processing runs on fixed blocks of ``block_samples`` input samples, so results do not depend on
how the caller chunks the stream (``process`` only buffers up to one block):

1. DC removal: subtract an exponentially smoothed per-block mean.
2. Coarse carrier offset, feed-forward: periodogram of x^4 (QPSK, pi/2-BPSK and the pilots all
   map to -1 under the 4th power, so the whole frame gives a line at 4*cfo; Mengali & D'Andrea
   ch. 3.5) of the search window's band over the last >= 6827 symbols, Hann window, averaged across blocks with forgetting factor, quadratic peak
   interpolation on the log spectrum. The estimate is adopted only when the line stands out
   (noise-only stretches keep the last frequency). NCO with continuous phase across blocks.
   Optional scan (``search_hz``) for offsets beyond the line's range: the search window steps
   through centres until a line or a frame appears.
3. RRC matched filter at the input rate (``chaincast.sdr.fir``; the last L-1 inputs carried over).
4. Symbol timing: Gardner TED + interpolator + PI loop (``chaincast.sdr.timing``).
5. Frame sync on the symbol stream: differential correlation with the SOF (insensitive to the
   residual carrier offset), normalised by sum |d| so the threshold does not depend on level;
   local maximum over +-32 symbols; then a coherent SOF check. After a frame, its end is also a
   candidate (flywheel: frames are sent back to back) with a relaxed SOF check.
6. PLS: soft ML RM(1,7) decode (``plframe.decode_pls``); rejected if the metric is low or the
   modcod is not wanted (``header_failures``).
7. Fine phase / frequency per frame: header (SOF+PLS, known after decoding) and each pilot block
   give a phase estimate at their centre (ML: arg sum y conj(known), Mengali & D'Andrea 5.7),
   unwrapped against the running frequency estimate and interpolated linearly over the payload;
   amplitude likewise; N0 from the residual on the known symbols.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import scipy.fft
from numba import njit

from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import MODCODS, SLOT_SYMBOLS

from chaincast.sdr import plframe as pf
from chaincast.sdr import timing
from chaincast.sdr.fir import fir_real_taps
from chaincast.sdr.modem import pi2_bpsk_carrier
from chaincast.sdr.rrc import matched_filter_taps

_MAX_FRAME_SYMBOLS = max(pf.frame_symbols(m.slots, True) for m in MODCODS.values())
_PEAK_HALF_WINDOW = 32
_KEEP_SYMBOLS = _MAX_FRAME_SYMBOLS + 4 * _PEAK_HALF_WINDOW + 256  # symbols a pending frame or search may still need
_SOF_FFT = 512
_HDR_FFT = 2048
_PLS_FREQ_OFFSETS = np.arange(-6, 7) / 2048.0
_SAME_FREQUENCY = 2e-5  # cycles/symbol: two frequency hypotheses closer than this are one
_GATE = 9.0  # a slot estimate further than 3 sigma from the prediction is an outlier
_NCO_HISTORY_BLOCKS = 64  # blocks whose NCO phase is kept (symbols lag their samples by < 1 block)
_AFC_HOLD_BLOCKS = 12  # blocks (82 ms at 2.4 Msps) a frame's frequency steers the NCO
_MIN_NOISE_SYMBOLS = 256  # pilot symbols enough for the N0 estimate (+-0.3 dB at 1 sigma)
_WALK_FORGET = 0.2  # weight of each frame in the running phase-wander estimate
_PREDICTED_SOF_COHERENCE = 0.2  # where the last frame says the next one starts, the PLS decides
_LINE_SYMBOLS = 6827  # symbols in the 4th-power periodogram (one 16384-sample block at 2.4 Msps, 1 Mbaud)
_AFC_JUMP_SIGMAS = 4.0  # a header this far from the AFC's frequency also gets tracked on its own
_REPLAY_BLOCKS = 8  # input blocks kept for an acquisition replay (55 ms at 2.4 Msps: > 1 normal frame)


@dataclass(frozen=True)
class PLFrame:
    """One demodulated PL frame.

    payload: complex64[slots*90], pilots removed, derotated, unit average energy.
    noise_var: estimated N0 per symbol (Es = 1), for the LLR demappers.
    esn0_db: 10*log10(1/noise_var).
    cfo_hz: total estimated carrier offset (coarse NCO + fine per-frame estimate).
    start_sample: absolute input sample index (rounded) at which the first SOF symbol's
        matched-filter output peaks, i.e. the SOF symbol centre in input samples.
    symbol_index: index of the first SOF symbol in the recovered symbol stream.
    pls_metric: PLS decoding confidence (see ``plframe.decode_pls``).
    phase_walk_var: the oscillator's phase-noise level the demodulator has learnt (Wiener
        increment variance per symbol, rad^2), for ``refine_phase_with_reference``.
    locked: the frame arrived while the AFC was locked (tracking the frames before it); False
        for a frame found in acquisition (the first, or the first after a loss of lock).
    erased_fraction: share of the payload symbols set to 0 (LLR 0: erasures) because the signal
        was absent there (a blockage: its pilots faded, see ``faded_symbols``).
    headerless: its header was blocked; cut out where the frame before it ended, with that
        frame's PLS (``_headerless_frame``), and tracked on its pilots alone.
    """

    pls_value: int
    payload: np.ndarray = field(repr=False)
    noise_var: float
    esn0_db: float
    cfo_hz: float
    start_sample: int
    symbol_index: int
    pls_metric: float = 0.0
    phase_walk_var: float = 0.0
    locked: bool = False
    erased_fraction: float = 0.0
    headerless: bool = False

    @property
    def pls(self) -> Pls:
        return Pls.unpack(self.pls_value)


@dataclass(frozen=True)
class DemodStats:
    samples_in: int
    symbols_out: int
    sof_candidates: int
    frames_found: int
    header_failures: int
    cfo_hz: float
    timing_rate_ppm: float
    locked: bool  # the AFC is following frames now
    acquisitions: int  # frames found while not locked: each is a (re)acquisition
    headerless_frames: int = 0  # frames whose header was blocked, cut out after the frame before them


class Demodulator:
    """Streaming receiver; see the module docstring.

    ``process(iq complex64[n]) -> list[PLFrame]``, ``flush() -> list[PLFrame]``. Memory is bounded
    by one block of samples plus one maximum-length frame of symbols.
    """

    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, *,
                 modcod_ids: set[int] | None = None, block_samples: int = 16384, mf_span_symbols: int = 16,
                 sof_threshold: float = 0.45, sof_coherent_threshold: float = 0.5, pls_threshold: float = 0.5,
                 timing_bandwidth: float = 0.002, acquire_timing_bandwidth: float = 0.005, max_cfo_hz: float | None = None, cfo_forget: float = 0.7,
                 afc_sigma_hz: float = 50.0, phase_noise_hz: float = 20.0, replay_jump_hz: float = 5000.0,
                 search_hz: float = 0.0, search_dwell_s: float = 0.02):
        self.sample_rate_hz = float(sample_rate_hz)
        self.symbol_rate_hz = float(symbol_rate_hz)
        self.sps = self.sample_rate_hz / self.symbol_rate_hz
        self.modcod_ids = None if modcod_ids is None else set(modcod_ids)
        self.block_samples = int(block_samples)
        self.sof_threshold = float(sof_threshold)
        self.sof_coherent_threshold = float(sof_coherent_threshold)
        self.pls_threshold = float(pls_threshold)
        # the 4th-power line's range: +-30% of the symbol rate, less where 4 f would wrap; wider
        # would only let more noise into the 4th power (the scan covers more)
        self.max_cfo_hz = (min(0.45 * self.sample_rate_hz / 4, 0.3 * self.symbol_rate_hz) if max_cfo_hz is None
                           else float(max_cfo_hz))
        self.cfo_forget = float(cfo_forget)
        self.afc_sigma_hz = float(afc_sigma_hz)
        self.phase_noise_hz = float(phase_noise_hz)  # Wiener linewidth assumed until the pilots tell
        self.replay_jump_hz = float(replay_jump_hz)  # a coarse-frequency jump this large replays the last blocks
        # Scan (--search-hz): while no line and no frames are seen, the 4th-power search window
        # (+-max_cfo_hz) steps through centres 0, +-step, +-2 step... covering +-search_hz, dwelling
        # search_dwell_s on each; a line re-centres the window on the signal, so drift is followed.
        self.search_hz = float(search_hz)
        step = 1.8 * self.max_cfo_hz
        n_side = int(np.ceil(max(self.search_hz - self.max_cfo_hz, 0.0) / step))
        self._search_grid = [0.0] + [sign * k * step for k in range(1, n_side + 1) for sign in (1, -1)]
        self._scanning = len(self._search_grid) > 1
        self._search_dwell_blocks = max(1, int(np.ceil(search_dwell_s * self.sample_rate_hz / block_samples)))
        self._mf = matched_filter_taps(self.sps, rolloff, mf_span_symbols).astype(np.float64)
        self._mf_delay = (self._mf.size - 1) // 2
        # Gear shifting (Rice 8.4.6): a wide loop acquires fast while no frames are being received,
        # the narrow loop keeps jitter low once frames arrive.
        self._gains_track = timing.loop_gains(timing_bandwidth)
        self._gains_acquire = timing.loop_gains(acquire_timing_bandwidth)
        sof = pf.sof_symbols()
        self._sof = sof
        self._sof_diff_ref = (sof[1:] * np.conj(sof[:-1])).astype(np.complex64)
        # pi/2-BPSK: each differential reference symbol is +-j, so correlating with it is a real
        # +-1 filter (``fir_real_taps``) and a factor -j: c = sum d[n+k] conj(r[k]) = -j sum d[n+k] s[k]
        signs = np.round(self._sof_diff_ref.imag)
        assert np.allclose(self._sof_diff_ref, 1j * signs, atol=1e-6)
        self._sof_diff_taps = signs[::-1].astype(np.float32)  # reversed: fir_real_taps convolves
        self._pls_carrier = pi2_bpsk_carrier(pf.PLS_SYMBOLS, start=pf.SOF_SYMBOLS)
        self._hdr_cache: dict[int, np.ndarray] = {}
        # spectral search bins for the 4th-power line, over the last _line_blocks blocks (a tone's
        # peak stands out of the noise floor in proportion to the span's duration, not its samples)
        self._line_blocks = min(_REPLAY_BLOCKS, int(np.ceil(_LINE_SYMBOLS * self.sps / self.block_samples)))
        f = np.fft.fftfreq(self._line_blocks * self.block_samples, d=1.0 / self.sample_rate_hz)
        self._search_mask = np.abs(f) <= 4 * self.max_cfo_hz
        # the floor the line must stand out of: the median of every 8th searched bin (as good an
        # estimate of a noise floor as all of them, at an eighth of the partitioning every block)
        self._floor_bins = np.flatnonzero(self._search_mask)[::8]
        # only the window's band goes into the 4th power: less noise at high sample rates, and
        # while scanning a carrier further out would alias its line into the window (4 f wraps)
        self._search_band = np.abs(f) <= self.max_cfo_hz + (1 + rolloff) * self.symbol_rate_hz / 2
        # (two FFTs per block while unlocked: skipped where the band is most of the recording anyway,
        # e.g. 1.74 of 2.4 MHz, unless scanning)
        self._band_limit = self._scanning or self._search_band.mean() < 0.7
        self._hann = np.hanning(f.size).astype(np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget all stream state (stats too)."""
        self._inbuf = np.zeros(0, dtype=np.complex64)
        self._n_blocks = 0
        self._dc = 0j
        self._spec = None
        self._cfo_hz = 0.0
        self._search_centre = 0.0  # Hz: centre of the 4th-power search window
        self._search_step = 0  # index into _search_grid of the last centre visited
        self._search_blocks = 0  # blocks at this centre without a line
        self._nco_phase = 0.0  # unwrapped NCO phase (rad) at the start of the next block
        self._ramp_key: tuple[float, int] | None = None  # (rad/sample, samples) of _ramp (see _nco_ramp)
        self._ramp = np.zeros(0, np.complex64)
        self._block_nco: dict[int, tuple[float, float]] = {}  # block -> (phase at its start, rad/sample)
        self._mf_hist = np.zeros(self._mf.size - 1, dtype=np.complex64)  # last L-1 inputs of the MF
        self._tbuf = np.zeros(0, dtype=np.complex64)
        self._tbuf_start = 0  # absolute MF-output index of _tbuf[0]
        self._tstate = timing.initial_state(self.sps)
        self._sym = np.zeros(0, dtype=np.complex64)
        self._sym_pos = np.zeros(0, dtype=np.float64)  # absolute input-sample position of each symbol
        self._sym_nco = np.zeros(0, dtype=np.float64)  # unwrapped NCO phase at each symbol's position
        self._sym_start = 0  # absolute symbol index of _sym[0]
        self._search_next = 0  # next absolute candidate SOF start to decide on
        self._pending: list[tuple[int, complex, float]] = []  # (start, diff corr, rho)
        self._hdr_done: dict[int, tuple] = {}
        self._next_allowed = 0
        self._last_frame_block = -10**9
        self._afc_block = -10**9  # block in which a frame last set the NCO frequency
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=_REPLAY_BLOCKS)  # DC-free input blocks
        self._last_frame_start = -10**18
        self._n_replays = 0
        self._walk_var = 2 * np.pi * self.phase_noise_hz / self.symbol_rate_hz  # learnt from the pilots
        self._replaying = False
        self._n_samples = 0
        self._n_symbols = 0
        self._n_candidates = 0
        self._n_frames = 0
        self._n_header_fail = 0
        self._n_acquisitions = 0
        self._n_headerless = 0
        self._last_pls_value: int | None = None  # the last frame with a decoded header: its PLS
        self._last_header_amp = 0.0  # and its header's amplitude (for _headerless_frame)
        self._last_frame_pos = 0.0  # input sample of the last frame's first symbol
        self._last_frame_symbols = 0
        self._last_frame_period = self.sps  # input samples per symbol over the last frame with a header

    _COUNTERS = ("_n_samples", "_n_symbols", "_n_candidates", "_n_frames", "_n_header_fail", "_n_acquisitions",
                 "_n_headerless")

    def restart(self) -> None:
        """Forget the stream but keep the counters: for a gap in the input (samples dropped, a
        radio reopened), after which the next samples are not continuous with the last ones and
        the carrier, timing and frame positions must be acquired again. ``PLFrame.start_sample``
        counts from the restart. Call ``flush`` first to have the frames already held."""
        counters = {name: getattr(self, name) for name in self._COUNTERS}
        self.reset()
        for name, value in counters.items():
            setattr(self, name, value)

    @property
    def stats(self) -> DemodStats:
        return DemodStats(samples_in=self._n_samples, symbols_out=self._n_symbols, sof_candidates=self._n_candidates,
                          frames_found=self._n_frames, header_failures=self._n_header_fail, cfo_hz=self._cfo_hz,
                          timing_rate_ppm=float(-self._tstate[timing.S_INTEG] * 1e6), locked=self._afc_locked(),
                          acquisitions=self._n_acquisitions, headerless_frames=self._n_headerless)

    @property
    def latency_samples(self) -> int:
        """A frame not yet returned started at most this many input samples before the end of the
        input fed so far (one longest frame, the sync search's look-ahead, and the blocks that
        the filters, the timing loop and the buffering hold back)."""
        return int(_KEEP_SYMBOLS * self.sps) + 4 * self.block_samples

    # ------------------------------------------------------------------ streaming API
    def process(self, iq: np.ndarray) -> list[PLFrame]:
        """Feed samples complex64[n]; returns frames completed so far (possibly one block late)."""
        iq = np.asarray(iq, dtype=np.complex64).reshape(-1)
        self._n_samples += iq.size
        buf = np.concatenate([self._inbuf, iq]) if self._inbuf.size else iq
        frames: list[PLFrame] = []
        b = self.block_samples
        nblk = buf.size // b
        for i in range(nblk):
            frames += self._block(buf[i * b:(i + 1) * b])
        self._inbuf = buf[nblk * b:].copy()
        return frames

    def flush(self) -> list[PLFrame]:
        """End of stream: pad with zeros to push the last frames out; returns them."""
        pad = (-self._inbuf.size) % self.block_samples
        tail = max(2 * self.block_samples, int(2 * (_PEAK_HALF_WINDOW + 80) * self.sps))
        n_samples = self._n_samples
        frames = self.process(np.zeros(pad + tail - tail % self.block_samples + self.block_samples, dtype=np.complex64))
        self._n_samples = n_samples
        return frames

    # ------------------------------------------------------------------ per block
    def _block(self, x: np.ndarray) -> list[PLFrame]:
        # 1. DC: smoothed block mean (the signal's own mean over a block is ~0)
        m = complex(np.mean(x, dtype=np.complex128))
        self._dc = m if self._n_blocks == 0 else 0.8 * self._dc + 0.2 * m
        self._n_blocks += 1
        x = x - np.complex64(self._dc)
        # 2. coarse CFO from the 4th-power line
        previous_cfo = self._cfo_hz
        block = self._n_blocks - 1
        self._ring.append((block, x))
        self._update_cfo()
        if abs(self._cfo_hz - previous_cfo) > self.replay_jump_hz:
            return self._replay()
        return self._back_end(block, x)

    def _replay(self) -> list[PLFrame]:
        """Acquisition: the NCO frequency has just jumped (the 4th-power line appeared, or the first
        frame's own estimate took over), so the last blocks (the ring, including the current one),
        which hold the start of the signal, were mixed with a wrong frequency and mangled by the
        matched filter. Run them again from a fresh back end at the new frequency, so that the
        first frame of a burst is not lost. Frames already emitted are not repeated."""
        first_block = self._ring[0][0]
        self._tbuf = np.zeros(0, dtype=np.complex64)
        self._tbuf_start = first_block * self.block_samples
        self._tstate = timing.initial_state(self.sps)
        # start the timing loop on the right phase: feed-forward square-law estimate over the
        # ring (Oerder & Meyr 1988: the symbol-rate line of |MF output|^2), so the first frame's
        # header is not strobed while the loop is still pulling in
        ring = np.concatenate([x for _, x in self._ring])
        w = 2 * np.pi * self._cfo_hz / self.sample_rate_hz
        mixed = ring * np.exp(-1j * w * np.arange(ring.size)).astype(np.complex64)
        y = fir_real_taps(np.concatenate([np.zeros(self._mf.size - 1, np.complex64), mixed]), self._mf)
        line = np.sum(np.abs(y) ** 2 * np.exp(-2j * np.pi * np.arange(y.size) / self.sps))
        phase = (-np.angle(line) / (2 * np.pi) * self.sps) % self.sps
        self._tstate[timing.S_P] += (phase - self._tstate[timing.S_P]) % self.sps
        self._mf_hist = np.zeros(self._mf.size - 1, dtype=np.complex64)
        self._sym = np.zeros(0, dtype=np.complex64)
        self._sym_pos = np.zeros(0, dtype=np.float64)
        self._sym_nco = np.zeros(0, dtype=np.float64)
        self._sym_start = self._search_next = self._next_allowed = self._n_symbols
        self._pending = []
        self._hdr_done = {}
        self._n_replays += 1
        self._replaying = True
        frames = []
        try:
            for block, x in list(self._ring):
                frames += self._back_end(block, x)
        finally:
            self._replaying = False
        return frames

    def _back_end(self, block: int, x: np.ndarray) -> list[PLFrame]:
        """Mixer, matched filter, timing, frame sync and per-frame tracking for one DC-free block."""
        b = x.size
        w = 2 * np.pi * self._cfo_hz / self.sample_rate_hz
        self._block_nco[block] = (self._nco_phase, w)
        self._block_nco.pop(block - _NCO_HISTORY_BLOCKS, None)
        x = x * (self._nco_ramp(w, b) * np.complex64(np.exp(-1j * (self._nco_phase % (2 * np.pi)))))
        self._nco_phase += w * b
        # 3. matched filter
        xx = np.concatenate([self._mf_hist, x])
        y = fir_real_taps(xx, self._mf)
        self._mf_hist = xx[xx.size - self._mf_hist.size:]
        # 4. timing recovery
        tb = np.concatenate([self._tbuf, y])
        locked = self._n_blocks - self._last_frame_block <= 3
        k1, k2 = self._gains_track if locked else self._gains_acquire
        sym, pos = timing.gardner(tb, self._tstate, self.sps, k1, k2)
        abs_pos = self._tbuf_start + pos - self._mf_delay
        keep_from = max(int(np.floor(self._tstate[timing.S_P] - self.sps - timing.INTERP_TAPS)) - 2, 0)
        self._tbuf = tb[keep_from:].copy()
        self._tbuf_start += keep_from
        self._tstate[timing.S_P] -= keep_from
        self._n_symbols += sym.size
        self._sym = np.concatenate([self._sym, sym])
        self._sym_pos = np.concatenate([self._sym_pos, abs_pos])
        self._sym_nco = np.concatenate([self._sym_nco, self._nco_phase_at(abs_pos)])
        # 5.-7.
        self._search()
        frames = self._run_pending()
        self._trim()
        if not self._replaying and abs(self._cfo_hz - w * self.sample_rate_hz / (2 * np.pi)) > self.replay_jump_hz:
            # a frame has just steered the NCO far (AFC acquisition): that frame and the blocks
            # before it went through the matched filter far off frequency; do them again
            self._n_frames -= len(frames)
            return self._replay()
        fresh = [f for f in frames if f.start_sample > self._last_frame_start + self.sps * pf.HEADER_SYMBOLS]
        self._n_frames -= len(frames) - len(fresh)  # a replay found a frame again
        # locked: the frame follows the last one within the AFC's hold (a replay re-finds the
        # acquisition frame with the AFC already set, so the NCO state cannot tell)
        gap_limit = _MAX_FRAME_SYMBOLS * self.sps + _AFC_HOLD_BLOCKS * self.block_samples
        out = []
        for f in fresh:
            locked = f.start_sample - self._last_frame_start <= gap_limit
            self._n_acquisitions += not locked
            out.append(replace(f, locked=locked))
            self._last_frame_start = f.start_sample
        return out

    def _nco_ramp(self, w: float, n: int) -> np.ndarray:
        """exp(-j w k), k = 0..n-1, complex64[n]: the mixer's rotation over a block from phase 0.
        The frequency changes at most once a frame, so the ramp is computed once per frequency
        and each block only scales it by its start phase."""
        if self._ramp_key != (w, n):
            angle = ((w * np.arange(n, dtype=np.float64)) % (2 * np.pi)).astype(np.float32)
            ramp = np.empty(n, np.complex64)  # cos and sin in float32: numpy's complex exp is several times slower
            ramp.real = np.cos(angle)
            ramp.imag = -np.sin(angle)
            self._ramp, self._ramp_key = ramp, (w, n)
        return self._ramp

    def _nco_phase_at(self, pos: np.ndarray) -> np.ndarray:
        """Unwrapped NCO phase (rad) at input-sample positions ``pos`` (float64): the phase the
        mixer applied there, from the block the position falls in (symbols leave the matched
        filter and the interpolator after their samples' block, so not always the current one)."""
        b = self.block_samples
        blocks = self._nco_block(pos)
        if blocks.size == 0:
            return np.zeros(0, np.float64)
        first = int(blocks[0]) if blocks.size == 1 else int(blocks.min())
        span = range(first, int(blocks.max()) + 1)  # a few blocks: symbols lag their samples by < 1 block
        phase0 = np.array([self._block_nco[k][0] if k in self._block_nco else np.nan for k in span])
        w = np.array([self._block_nco[k][1] if k in self._block_nco else np.nan for k in span])
        i = blocks - first
        return phase0[i] + w[i] * (pos - blocks * b)

    def _nco_block(self, pos):
        """The mixer block (still on record) that input-sample position(s) ``pos`` fall in."""
        return np.clip(np.floor(np.asarray(pos) / self.block_samples).astype(np.int64),
                       min(self._block_nco), max(self._block_nco))

    def _update_cfo(self) -> None:
        """Coarse carrier offset from the 4th-power line of the last blocks (the ring's end)."""
        if self._afc_locked():  # frames steer the NCO (data-aided, far more accurate than the line)
            self._spec = None  # and the average starts afresh if they stop
            self._search_blocks = 0
            if self._scanning:
                self._search_centre = self._cfo_hz
            return
        if len(self._ring) < self._line_blocks:
            return
        x = np.concatenate([blk for _, blk in list(self._ring)[-self._line_blocks:]])
        # normalise first: the 4th power of a loud block would overflow float32 (and the
        # estimate must not depend on the input level anyway)
        power = float(np.mean(np.abs(x) ** 2, dtype=np.float64))
        if not np.isfinite(power) or power <= 0.0:
            return
        x = x * np.float32(1.0 / np.sqrt(power))
        if self._search_centre:  # the window's centre to 0 Hz (the magnitude spectrum needs no phase continuity)
            x = x * np.exp(-2j * np.pi * self._search_centre / self.sample_rate_hz
                           * np.arange(x.size)).astype(np.complex64)
        if self._band_limit:
            # scipy's FFT: complex64 in place, about 4x numpy's at 32768 points (this runs every block while unlocked)
            spectrum = scipy.fft.fft(x)
            spectrum[~self._search_band] = 0
            x = scipy.fft.ifft(spectrum, overwrite_x=True)
        x2 = x * x
        line = scipy.fft.fft(x2 * x2 * self._hann, overwrite_x=True)
        spec = line.real ** 2 + line.imag ** 2
        self._spec = spec if self._spec is None else self.cfo_forget * self._spec + spec
        s = np.where(self._search_mask, self._spec, 0.0)
        k = int(np.argmax(s))
        med = float(np.median(self._spec[self._floor_bins]))
        if med <= 0 or s[k] < 30.0 * med:
            self._next_search_centre()
            return  # no clear line: keep the last estimate
        n = self._spec.size
        lm, l0, lp = (np.log(self._spec[(k + d) % n] + 1e-30) for d in (-1, 0, 1))
        den = lm - 2 * l0 + lp
        delta = 0.5 * (lm - lp) / den if den < 0 else 0.0
        kk = k if k < n // 2 else k - n
        self._cfo_hz = self._search_centre + float((kk + np.clip(delta, -0.5, 0.5)) * self.sample_rate_hz / n / 4.0)
        self._search_blocks = 0
        if self._scanning:
            self._search_centre = self._cfo_hz

    def _next_search_centre(self) -> None:
        """Scan: after a dwell without a line (and no frames), move the search window on."""
        if not self._scanning:
            return
        self._search_blocks += 1
        if self._search_blocks < self._search_dwell_blocks or self._n_blocks - self._last_frame_block <= 3:
            return
        self._search_step = (self._search_step + 1) % len(self._search_grid)
        self._search_centre = self._search_grid[self._search_step]
        self._search_blocks = 0
        self._spec = None

    def _update_phase_walk(self, pilot_phases: np.ndarray, pilot_var: float) -> None:
        """Learn how fast the oscillator's phase wanders (Wiener increment variance per symbol)
        from the pilots: their second differences D have var = 2 q T + 6 var_pilot (T the pilot
        distance; a constant frequency cancels). Averaged over frames; the smoother then trusts the
        payload's slot estimates only as far as the phase can really move."""
        if pilot_phases.size < 4:
            return
        d = pilot_phases[2:] - 2 * pilot_phases[1:-1] + pilot_phases[:-2]
        period = pf.PILOT_PERIOD_SLOTS * SLOT_SYMBOLS + pf.PILOT_BLOCK_SYMBOLS
        q = max(float(np.mean(d * d)) - 6 * pilot_var, 0.0) / (2 * period)
        self._walk_var = (1 - _WALK_FORGET) * self._walk_var + _WALK_FORGET * q

    def _afc_locked(self) -> bool:
        return self._n_blocks - self._afc_block <= _AFC_HOLD_BLOCKS

    # ------------------------------------------------------------------ frame sync
    def _search(self) -> None:
        s0 = self._sym_start
        end = s0 + self._sym.size  # absolute index one past the last symbol
        w = _PEAK_HALF_WINDOW
        lo = max(self._search_next - w, s0)
        # rho(n) needs symbols n .. n+63; decisions need rho up to n + w
        hi_rho = end - pf.SOF_SYMBOLS  # last n with rho computable (inclusive)
        if hi_rho - lo < 2 * w + 1:
            return
        seg = self._sym[lo - s0:end - s0]
        d = seg[1:] * np.conj(seg[:-1])
        c = np.complex64(-1j) * fir_real_taps(d, self._sof_diff_taps)  # c[i] = sum_k d[i+k] conj(r[k])
        a = np.concatenate([[0.0], np.cumsum(np.abs(d).astype(np.float64))])
        L = self._sof_diff_ref.size
        norm = a[L:] - a[:-L]
        rho = np.where(norm > 0, np.abs(c) / np.where(norm > 0, norm, 1.0), 0.0)
        # decide for n in [search_next, hi_rho - w]
        first = max(self._search_next, lo)
        last = hi_rho - w
        if last < first:
            return
        idx = np.arange(first - lo, last - lo + 1)
        above = idx[rho[idx] >= self.sof_threshold]
        for i in above:
            win = rho[max(i - w, 0):i + w + 1]
            if rho[i] >= win.max() and (i == 0 or rho[i] > rho[max(i - w, 0):i].max(initial=0.0)):
                n_abs = lo + int(i)
                if n_abs >= self._next_allowed:
                    self._pending.append((n_abs, complex(c[i]), float(rho[i])))
                    self._n_candidates += 1
        self._search_next = last + 1

    def _header_symbols(self, pls_value: int) -> np.ndarray:
        h = self._hdr_cache.get(pls_value)
        if h is None:
            h = pf.header_symbols(pls_value)
            self._hdr_cache[pls_value] = h
        return h

    def _run_pending(self) -> list[PLFrame]:
        frames = []
        s0 = self._sym_start
        end = s0 + self._sym.size
        keep = []
        for n, c, rho in self._pending:
            if n < self._next_allowed:
                continue
            if n + pf.HEADER_SYMBOLS > end:
                keep.append((n, c, rho))
                continue
            hdr = self._hdr_done.get(n)
            if hdr is None:
                hdr = self._decode_header(n, c, predicted=rho < 0)
                self._hdr_done[n] = hdr
            if hdr[0] in ("reject", "fail") and rho < 0:  # the flywheel's guess: was the header blocked?
                frame = self._headerless_frame(n, end)
                if frame == "wait":
                    keep.append((n, c, rho))
                    continue
                if frame is not None:
                    self._hdr_done.pop(n, None)
                    frames.append(frame)
                    self._n_frames += 1
                    self._n_headerless += 1
                    self._last_frame_block = self._n_blocks
                    start = frame.symbol_index  # (the symbol nearest to where it was due)
                    nsym = pf.frame_symbols(frame.pls.slots, True)
                    # its length is a guess (a stream may change MODCOD): the search stays open
                    # inside it, so a shorter frame's successors are still found by their SOF
                    self._next_allowed = start + 1
                    keep.append((start + nsym, 0j, -1.0))
                    continue
            if hdr[0] == "reject":
                self._hdr_done.pop(n, None)
                continue
            if hdr[0] == "fail":
                self._n_header_fail += 1
                self._hdr_done.pop(n, None)
                continue
            _, pls_value, metric, f_sym = hdr
            pls = Pls.unpack(pls_value)
            nsym = pf.frame_symbols(pls.slots, pls.pilots)
            if n + nsym > end:
                keep.append((n, c, rho))
                continue
            self._hdr_done.pop(n, None)
            frames.append(self._finish_frame(n, pls, pls_value, metric, f_sym))
            self._n_frames += 1
            self._last_frame_block = self._n_blocks
            self._next_allowed = n + nsym - 8
            # flywheel: frames are sent back to back, so the next one most likely starts right here;
            # try its header even if the SOF correlation stays under the search threshold
            keep.append((n + nsym, 0j, -1.0))
        self._pending = [p for p in keep if p[0] >= self._next_allowed]
        return frames

    def _decode_header(self, n: int, c: complex, predicted: bool = False):
        y = self._sym[n - self._sym_start:n - self._sym_start + pf.HEADER_SYMBOLS].astype(np.complex128)
        # Residual frequency and phase from the SOF: peak of the zero-padded DFT of y conj(sof)
        # (ML frequency estimate on a grid, Rife & Boorstyn 1974). The differential correlation
        # angle is too noisy for this (its 63 products have half the SNR).
        zs = y[:pf.SOF_SYMBOLS] * np.conj(self._sof)
        spec = np.fft.fft(zs, _SOF_FFT)
        k = int(np.argmax(np.abs(spec)))
        coh = abs(spec[k]) / np.sqrt(pf.SOF_SYMBOLS * max(float(np.sum(np.abs(zs) ** 2)), 1e-30))
        if coh < (_PREDICTED_SOF_COHERENCE if predicted else self.sof_coherent_threshold):
            return ("reject",)
        f0 = (k if k < _SOF_FFT // 2 else k - _SOF_FFT) / _SOF_FFT  # cycles per symbol
        # 64 symbols pin the frequency only to ~1/(2*64) cycle/symbol when timing is still settling,
        # which can rotate the far end of the PLS by 90 degrees and flip a RM(1,7) bit; so decode
        # the PLS under several frequency hypotheses around the SOF peak and keep the most likely
        # (joint ML over frequency and codeword on a grid).
        f_hyp = f0 + _PLS_FREQ_OFFSETS
        ks = np.arange(pf.SOF_SYMBOLS)
        kk = np.arange(pf.SOF_SYMBOLS, pf.HEADER_SYMBOLS)
        a = (zs[None, :] * np.exp(-2j * np.pi * f_hyp[:, None] * ks[None, :])).sum(axis=1)
        rot = np.exp(-1j * (np.angle(a)[:, None] + 2 * np.pi * f_hyp[:, None] * kk[None, :]))
        soft = np.real(y[None, pf.SOF_SYMBOLS:] * rot * np.conj(self._pls_carrier)[None, :])
        values, metrics = pf.decode_pls_batch(soft)
        best = int(np.argmax(metrics))
        value, metric, f_sym = int(values[best]), float(metrics[best]), float(f_hyp[best])
        if metric < self.pls_threshold:
            return ("fail",)
        if self.modcod_ids is not None and (value >> 2) not in self.modcod_ids:
            return ("fail",)
        if not Pls.unpack(value).known:  # its length is unknown: cannot cut the frame out
            return ("fail",)
        return ("ok", value, metric, f_sym)

    def _headerless_frame(self, n: int, end: int):
        """The frame at ``n`` (where the last one ended) whose header did not decode: a PLFrame
        if the header is absent (faded) while at least ``_HEADERLESS_MIN_PILOTS`` of its pilots are
        present, with the last frame's PLS (a stream keeps its MODCOD; the link decoder's checks
        catch a wrong guess); "wait" until its symbols are in; None otherwise (a header that is
        there but does not decode is not ours to guess, and the end of a transmission has no pilots)."""
        if self._last_pls_value is None or not self._afc_locked():
            return None
        pls = Pls.unpack(self._last_pls_value)
        if not pls.pilots:
            return None
        # The timing loop may have slipped a symbol while it pulled in after the blockage, and
        # a header-less frame has no SOF to find its start: take the symbol nearest to where the
        # last frame's own symbol period puts it (its pilots, constant blocks, cannot tell).
        expected = self._last_frame_pos + self._last_frame_symbols * self._last_frame_period
        if self._sym_pos.size < 2:
            return "wait"
        i = int(np.searchsorted(self._sym_pos, expected))
        i = min(max(i, 1), self._sym_pos.size - 1)
        i -= int(expected - self._sym_pos[i - 1] < self._sym_pos[i] - expected)
        if abs(self._sym_pos[i] - expected) > 0.5 * self._last_frame_period:
            return None if i + 1 < self._sym_pos.size else "wait"
        n = self._sym_start + i
        nsym = pf.frame_symbols(pls.slots, True)
        if n + nsym > end:
            return "wait"
        i0 = n - self._sym_start
        y = self._sym[i0:i0 + nsym].astype(np.complex128)
        segs = [(0, self._header_symbols(self._last_pls_value))] + self._pilot_segments(pls)
        _, amps = _faded_segments(y, segs, 0.0, header_decoded=False)
        present = amps >= _FADED_AMPLITUDE * self._last_header_amp
        if present[0] or np.mean(present[1:]) < _HEADERLESS_MIN_PILOTS:
            return None
        # Blocked means no power, not merely no match: a header one symbol off (the timing loop
        # jittering at low Es/N0) also fails to match, but it is there, and the SOF search finds
        # it (at 1.2 dB QPSK 1/2 this guess otherwise took 4 frames in 4000 off their real start).
        power = np.abs(y) ** 2
        pilot_power = np.mean([power[st:st + known.size].mean() for (st, known), there in zip(segs[1:], present[1:]) if there])
        if power[:pf.HEADER_SYMBOLS].mean() > _BLOCKED_POWER * pilot_power:
            return None
        return self._finish_frame(n, pls, self._last_pls_value, 0.0, 0.0, headerless=True)

    def _pilot_segments(self, pls: Pls) -> list:
        pilot = np.full(pf.PILOT_BLOCK_SYMBOLS, pf.PILOT_SYMBOL, dtype=np.complex128)
        return [(int(st), pilot) for st in pf.pilot_block_starts(pls.slots, pls.pilots)]

    def _finish_frame(self, n: int, pls: Pls, pls_value: int, metric: float, f_sym: float,
                      headerless: bool = False) -> PLFrame:
        i0 = n - self._sym_start
        nsym = pf.frame_symbols(pls.slots, pls.pilots)
        y = self._sym[i0:i0 + nsym].astype(np.complex128)
        hdr = self._header_symbols(pls_value)
        self._last_frame_pos, self._last_frame_symbols = float(self._sym_pos[i0]), nsym
        if not headerless:
            self._last_frame_period = float(self._sym_pos[i0 + nsym - 1] - self._sym_pos[i0]) / (nsym - 1)
        # known-symbol segments: (start, known symbols)
        segs = [(0, hdr)] + self._pilot_segments(pls)
        # The NCO frequency may have changed at block boundaries inside the frame (AFC, coarse
        # estimate): re-rotate every symbol as if the whole frame had been mixed with the
        # frequency f_ref in effect at its last symbol, from the NCO phase at each symbol.
        phi = self._sym_nco[i0:i0 + nsym]
        pos = self._sym_pos[i0:i0 + nsym]
        w_ref = self._block_nco[int(self._nco_block(pos[-1]))][1]
        f_ref = w_ref * self.sample_rate_hz / (2 * np.pi)
        correction = phi - (phi[-1] + w_ref * (pos - pos[-1]))
        if np.any(np.abs(correction) > 1e-9):
            y = y * np.exp(1j * correction)
        # frequency on the 192 known header symbols: zero-padded DFT peak (grid 1/2048 cycle per
        # symbol), then the phase difference of the two halves (no wrap: error < 1/4096)
        z = y[:pf.HEADER_SYMBOLS] * np.conj(hdr)
        spec = np.abs(np.fft.fft(z, _HDR_FFT))
        k = int(np.argmax(spec))
        f_sym = (k if k < _HDR_FFT // 2 else k - _HDR_FFT) / _HDR_FFT
        z = z * np.exp(-2j * np.pi * f_sym * np.arange(pf.HEADER_SYMBOLS))
        h = pf.HEADER_SYMBOLS // 2
        f_sym += float(np.angle(np.sum(z[h:]) * np.conj(np.sum(z[:h]))) / (2 * np.pi * h))
        if headerless:  # the header is noise: the AFC's frequency (residual 0) it is
            f_sym = 0.0
        # A blockage (a truck, a tree) removes the signal for milliseconds: its pilots carry no
        # phase or amplitude, and its symbols are noise. Track on the other known segments only
        # and erase the blocked symbols, instead of letting the faded pilots' tiny amplitudes blow
        # the noise up by 20 dB and drag the whole frame's N0 estimate with it.
        erased = None
        if pls.pilots:
            faded, amps = _faded_segments(y, segs, f_sym, header_decoded=not headerless)
            if not headerless:
                self._last_pls_value, self._last_header_amp = pls_value, float(amps[0])
            if faded.any():
                erased = faded_symbols(y, segs, faded)
                segs = [seg for seg, gone in zip(segs, faded) if not gone]
        # Frequency prior for the phase tracker. While frames keep arriving, the NCO runs at the
        # last frame's own estimate (AFC), so the residual is ~0 within afc_sigma_hz; combine it
        # with the header's estimate by inverse variances (the header's from the Cramer-Rao bound
        # for 192 symbols, x1.5 for the DFT-grid estimator). Before lock, track with the header's
        # frequency and, as a second hypothesis, with the coarse NCO's (residual 0): a header hit
        # by timing acquisition can mis-estimate the frequency, and the wrong one shows as a large
        # residual on the known symbols.
        # N0 from the known symbols' residual: the pilots' alone when they are enough, because a
        # burst's first header is still hit by the timing loop's pull-in
        noise_segs = segs[1:] if sum(kn.size for _, kn in segs[1:]) >= _MIN_NOISE_SYMBOLS else segs
        noise_idx = np.concatenate([np.arange(st, st + kn.size) for st, kn in noise_segs])
        noise_sym = np.concatenate([kn for _, kn in noise_segs])
        pay_idx = pf.payload_indices(pls.slots, pls.pilots)
        power = 2 ** pls.bits_per_symbol
        nh = pf.HEADER_SYMBOLS
        a2 = abs(np.mean(z)) ** 2
        n0_hdr = max(float(np.mean(np.abs(z) ** 2)) / max(a2, 1e-30) - 1.0, 1e-3)
        var_hdr = 1.5 * 6.0 * n0_hdr / ((2 * np.pi) ** 2 * nh * (nh * nh - 1))
        # The pilots fix the frequency only modulo one cycle per pilot period, so the cycle of the
        # first pilot is chosen with the header's and the payload's own estimates (not the AFC's):
        # a frame that slipped would otherwise hand its wrong frequency on to the next ones.
        if self._afc_locked():
            var_afc = (self.afc_sigma_hz / self.symbol_rate_hz) ** 2
            f_hyps = [f_sym * var_afc / (var_afc + var_hdr)]
            if f_sym * f_sym > _AFC_JUMP_SIGMAS ** 2 * (var_afc + var_hdr):
                # the carrier jumped (an LNB mode hop, a spliced stream): the prior would hold the
                # tracker on the old frequency, and each failed frame would steer the NCO back there
                f_hyps.append(f_sym)
        else:
            f_hyps = [f_sym]
            if len(segs) > 1 and abs(f_sym) > _SAME_FREQUENCY:
                f_hyps.append(0.0)
        best = None
        for f_init in f_hyps:
            priors = [(f_sym, np.sqrt(var_hdr))]
            if power == 4:  # the 8th power of 8PSK is too noisy at its working Es/N0 to help
                f_pay, var_pay = _payload_frequency(y, pay_idx, f_init, power)
                priors += [(f_pay, np.sqrt(var_pay))] if np.isfinite(var_pay) else []
            track = _track_phase(y, segs, f_init, priors)
            nv = float(np.mean(np.abs(track.g[noise_idx] - noise_sym) ** 2))
            if best is None or nv < best[0]:
                best = (nv, track)
        noise_var, track = best
        g, f_fine = track.g, track.f_fine
        noise_var = max(noise_var, 1e-6)
        payload = g[pay_idx]
        if pls.pilots:
            known_vars = np.array([0.5 * noise_var / kn.size for _, kn in segs])
            self._update_phase_walk(track.seg_phases[1:], 0.5 * noise_var / pf.PILOT_BLOCK_SYMBOLS)
            payload = _smooth_phase(payload, pay_idx, power, track, known_vars, self._walk_var)
        else:
            payload = _viterbi_viterbi(payload, power=power)
        erased_fraction = 0.0
        if erased is not None:
            gone = erased[pay_idx]
            payload[gone] = 0  # LLR 0
            erased_fraction = float(np.mean(gone))
        payload = payload.astype(np.complex64)
        cfo_hz = float(f_ref + f_fine * self.symbol_rate_hz)
        if pls.pilots and not headerless and abs(cfo_hz) <= self.max_cfo_hz + self.search_hz:
            self._cfo_hz = cfo_hz  # AFC: the NCO follows the frames from the next block on
            self._afc_block = self._n_blocks
        return PLFrame(pls_value=int(pls_value), payload=payload, noise_var=noise_var,
                       esn0_db=float(10 * np.log10(1.0 / noise_var)), cfo_hz=cfo_hz,
                       start_sample=int(round(self._sym_pos[i0])), symbol_index=int(n), pls_metric=float(metric),
                       phase_walk_var=float(self._walk_var), erased_fraction=erased_fraction, headerless=headerless)

    def _trim(self) -> None:
        """Drop symbols no pending frame or future search can need (bounded memory)."""
        end = self._sym_start + self._sym.size
        keep_from = self._search_next - _PEAK_HALF_WINDOW - 2
        if self._pending:
            keep_from = min(keep_from, min(p[0] for p in self._pending))
        keep_from = max(keep_from, end - _KEEP_SYMBOLS, self._sym_start)
        cut = keep_from - self._sym_start
        if cut > 0:
            self._sym = self._sym[cut:].copy()
            self._sym_pos = self._sym_pos[cut:].copy()
            self._sym_nco = self._sym_nco[cut:].copy()
            self._sym_start = keep_from
            self._pending = [p for p in self._pending if p[0] >= keep_from]


_FADED_AMPLITUDE = 0.35  # a known segment under this share of the frame's strongest one is blocked
_HEADERLESS_MIN_PILOTS = 0.5  # share of present pilots a frame with a blocked header needs to be cut out
_BLOCKED_POWER = 0.5  # a blocked header's power against the present pilots' (10 dB: 0.09; present: ~1)


def _faded_segments(y: np.ndarray, segs: list, f_sym: float, header_decoded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(faded bool[len(segs)], amplitudes float[len(segs)])``: known segments whose coherent
    amplitude |sum y conj(known)| / n, with the header's frequency removed, is under
    ``_FADED_AMPLITUDE`` of the strongest segment's. A header that decoded (segment 0) is never
    counted as faded. Present segments measure
    1 +- sqrt(N0 / 2n) (0.14 for 36 pilot symbols at Es/N0 -1.3 dB, the lowest MODCOD's
    threshold: 4 sigma above the cut), absent ones sqrt(N0 / n) (Rayleigh)."""
    amps = np.empty(len(segs))
    for i, (st, known) in enumerate(segs):
        k = np.arange(known.size)
        amps[i] = abs(np.sum(y[st:st + known.size] * np.conj(known) * np.exp(-2j * np.pi * f_sym * k))) / known.size
    faded = amps < _FADED_AMPLITUDE * amps.max()
    faded[0] &= not header_decoded
    # A blockage lasts milliseconds, several pilot periods (1.5 ms at 1 Mbaud): a lone faded
    # segment between two present ones is noise (at Es/N0 -1.3 dB a present pilot falls under the
    # cut with probability ~3e-5, which would cost a frame in ~1e-3), so it stays. At the frame's
    # ends a run may be cut short by the frame itself.
    inner = np.flatnonzero(faded[1:-1]) + 1
    lone = inner[~faded[inner - 1] & ~faded[inner + 1]]
    faded[lone] = False
    return faded, amps


def faded_symbols(y: np.ndarray, segs: list, faded: np.ndarray) -> np.ndarray:
    """bool[y.size]: the symbols of a frame where the signal was absent.

    Between two faded known segments everything is absent; between a present and a faded one the
    edge is the change point of |y|^2 (the split into two constant-power stretches with the least
    squared error), and a faded last segment is absent to the end of the frame."""
    out = np.zeros(y.size, np.bool_)
    power = np.abs(y) ** 2
    bounds = [(st, st + known.size) for st, known in segs] + [(y.size, y.size)]
    for i, (start, end) in enumerate(bounds[:-1]):
        if not faded[i]:
            continue
        out[start:end] = True
        if i > 0:  # (a faded header, segment 0, starts the frame)
            prev_end = bounds[i - 1][1]
            out[prev_end if faded[i - 1] else _change_point(power, prev_end, start):start] = True
        next_start = bounds[i + 1][0]
        if i + 1 == len(segs) or faded[i + 1]:
            out[end:next_start] = True
        else:
            out[end:_change_point(power, end, next_start)] = True
    return out


def _change_point(power: np.ndarray, a: int, b: int) -> int:
    """The k in [a, b] splitting power[a:b] into two stretches of constant mean with the least
    squared error (max of k (n - k) (mean1 - mean2)^2 / n)."""
    x = power[a:b]
    n = x.size
    if n < 2:
        return a
    c = np.concatenate([[0.0], np.cumsum(x)])
    k = np.arange(1, n)
    m1 = c[k] / k
    m2 = (c[n] - c[k]) / (n - k)
    return a + 1 + int(np.argmax(k * (n - k) * (m1 - m2) ** 2))


def _payload_frequency(y: np.ndarray, pay_idx: np.ndarray, f0: float, power: int) -> tuple[float, float]:
    """Frequency of a frame from its payload alone, around ``f0`` (cycles/symbol), and its variance.

    Non-data-aided: after derotating by ``f0``, the M-th power (4 for QPSK, 8 for 8PSK) strips the
    modulation; slot sums z_k (90 symbols) rotate by M 2 pi df dt from one slot to the next, and the
    angle of sum z_{k+1} conj(z_k) gives df (Kay's estimator on slot sums; range
    +-1/(2 M 90) cycles/symbol: +-1.4 kHz for QPSK at 1 Mbaud). Slot-to-slot differences make it
    immune to phase noise that moves little within a slot. The variance comes from the spread of
    the individual products' angles. QPSK at Es/N0 1 dB: ~20 Hz rms over a normal frame. Not used
    for 8PSK: at 5.5 dB the 8th power gives ~300 Hz rms with outliers that wrap.
    """
    t = pay_idx.astype(np.float64)
    nslots = pay_idx.size // SLOT_SYMBOLS
    if nslots < 3:
        return f0, np.inf
    # (y e^{-j 2 pi f0 t})^M summed over a slot's 90 consecutive symbols starting at t_s is
    # e^{-j 2 pi M f0 t_s} sum_k y[t_s + k]^M e^{-j 2 pi M f0 k}: one 90-point ramp for all slots
    used = nslots * SLOT_SYMBOLS
    starts = t[:used:SLOT_SYMBOLS]
    ramp = np.exp(-2j * np.pi * power * f0 * np.arange(SLOT_SYMBOLS))
    z = (_power_of_two(y[pay_idx[:used]], power).reshape(nslots, SLOT_SYMBOLS) @ ramp) \
        * np.exp(-2j * np.pi * power * f0 * starts)
    centres = starts + (SLOT_SYMBOLS - 1) / 2.0
    dt = float(np.mean(np.diff(centres)))
    prods = z[1:] * np.conj(z[:-1])
    total = np.sum(prods)
    if total == 0:
        return f0, np.inf
    angle = float(np.angle(total))
    spread = np.angle(prods * np.exp(-1j * angle))
    var_angle = float(np.mean(spread ** 2)) / prods.size
    scale = 2 * np.pi * power * dt
    return f0 + angle / scale, var_angle / scale ** 2


def _power_of_two(p: np.ndarray, power: int) -> np.ndarray:
    """p ** power for power 2, 4, 8 (QPSK's and 8PSK's M-th powers) by squaring: numpy's complex
    ``**`` goes through the general complex pow, many times slower."""
    if power not in (2, 4, 8):
        return p ** power
    out = p * p
    while power > 2:
        out = out * out
        power //= 2
    return out


def _smooth_phase(p: np.ndarray, pay_idx: np.ndarray, power: int, track: "_Track", known_vars: np.ndarray,
                  walk_var_per_symbol: float) -> np.ndarray:
    """Re-estimate the carrier phase of every slot with a Kalman / Rauch-Tung-Striebel smoother.

    p: complex128[n] payload after pilot tracking (``track``: the phase it removed, linearly
    interpolated between the header's and pilots' estimates). The phase theta(t), less the frame's
    frequency ramp, is modelled as a random walk with ``walk_var_per_symbol`` (2 pi x Wiener
    linewidth / symbol rate: the oscillator's phase noise, learnt from the pilots). Observations:
    each known segment's phase (variance ``known_vars``: N0 / 2 per known symbol), and per slot the
    interpolated phase plus arg(sum p^M exp(-j M pi/4)) / M (points at pi/4 + k 2pi/M), taken in
    +-pi/M around the interpolation, with the variance of that estimator measured on the frame,
    var(q) / (2 |mean q|^2 90 M^2); a slot further than 3 sigma from the prediction is skipped as
    an outlier. The smoothed phase at each slot replaces the interpolated one.

    On a clean oscillator this is a fit through all pilots and all slots (the interpolation alone
    carries each pilot's own noise, ~4.4 degrees at Es/N0 1 dB); under 20 Hz of Wiener phase noise
    at 1 Mbaud (~25 degrees rms between pilots) it follows the wander between pilots.
    """
    nslots = p.size // SLOT_SYMBOLS
    if nslots < 2:
        return p
    q = _power_of_two(p[:nslots * SLOT_SYMBOLS], power) * np.exp(-1j * power * np.pi / 4)
    strength = abs(np.mean(q)) ** 2
    if strength <= 0:
        return p
    var_slot = float(np.var(q)) / (2 * strength * SLOT_SYMBOLS * power * power)
    zs = np.sum(q.reshape(nslots, SLOT_SYMBOLS), axis=1)
    slot_idx = pay_idx[:nslots * SLOT_SYMBOLS].reshape(nslots, SLOT_SYMBOLS)
    slot_times = slot_idx.mean(axis=1)
    ramp = 2 * np.pi * track.f_fine
    interpolated = track.phase[slot_idx].mean(axis=1) - ramp * slot_times
    times = np.concatenate([track.seg_times, slot_times])
    values = np.concatenate([track.seg_phases - ramp * track.seg_times, interpolated + np.angle(zs) / power])
    variances = np.concatenate([known_vars, np.full(nslots, var_slot)])
    is_slot = np.concatenate([np.zeros(track.seg_times.size, np.bool_), np.ones(nslots, np.bool_)])
    order = np.argsort(times, kind="stable")
    smoothed = np.empty(times.size)
    smoothed[order] = _kalman_rts(times[order], values[order], variances[order], is_slot[order],
                                  float(walk_var_per_symbol), _GATE)
    correction = smoothed[track.seg_times.size:] - interpolated
    out = p.copy()
    out[:nslots * SLOT_SYMBOLS] *= np.repeat(np.exp(-1j * correction), SLOT_SYMBOLS)
    return out


def refine_phase_with_reference(payload: np.ndarray, reference: np.ndarray, noise_var: float,
                                walk_var_per_symbol: float) -> np.ndarray:
    """Decision-aided phase re-estimation of a demodulated payload (complex[n], n a multiple of 90)
    against ``reference`` symbols (e.g. the decoder's tentative codeword, re-mapped).

    Per slot, arg sum y conj(ref) (data-aided: no M-th power noise, and most tentative decisions
    are right even when the decoder failed), then the same random-walk Kalman / RTS smoother as
    the demodulator's, with variance N0 / (2 * 90) per slot. Returns the re-rotated payload,
    complex64[n]. Used by the link decoder to retry frames that failed (a second pass of
    "turbo synchronisation"): at Es/N0 1.2 dB under 20 Hz of phase noise it recovers every
    failed QPSK 1/2 frame of a 200-frame run (14 of 14).
    """
    y = np.asarray(payload, np.complex128)
    nslots = y.size // SLOT_SYMBOLS
    if nslots < 1:
        return np.asarray(payload, np.complex64)
    used = nslots * SLOT_SYMBOLS
    z = np.sum((y[:used] * np.conj(reference[:used])).reshape(nslots, SLOT_SYMBOLS), axis=1)
    times = np.arange(nslots) * float(SLOT_SYMBOLS)
    variances = np.full(nslots, max(float(noise_var), 1e-6) / (2 * SLOT_SYMBOLS))
    phase = _kalman_rts(times, np.angle(z), variances, np.ones(nslots, np.bool_), float(walk_var_per_symbol), _GATE)
    out = y.copy()
    out[:nslots * SLOT_SYMBOLS] *= np.repeat(np.exp(-1j * phase), SLOT_SYMBOLS)
    return out.astype(np.complex64)


@njit(cache=True)
def _kalman_rts(t, z, r, gated, walk_var, gate):  # pragma: no cover - compiled
    """Random-walk Kalman filter + Rauch-Tung-Striebel smoother: observations z (variance r) at
    times t (sorted); an observation with ``gated`` set is skipped when its innovation exceeds
    ``gate`` times its variance. Returns the smoothed state at each observation time."""
    m = t.size
    if m == 0:
        return np.empty(0)
    x_f = np.empty(m)
    p_f = np.empty(m)
    p_pred = np.empty(m)
    x = z[0]
    var = 1.0
    t_prev = t[0]
    for i in range(m):
        var += walk_var * (t[i] - t_prev) + 1e-12
        t_prev = t[i]
        p_pred[i] = var
        innovation = z[i] - x
        if not (gated[i] and innovation * innovation > gate * (var + r[i])):
            gain = var / (var + r[i])
            x += gain * innovation
            var *= 1.0 - gain
        x_f[i] = x
        p_f[i] = var
    x_s = x_f.copy()
    for i in range(m - 2, -1, -1):
        x_s[i] = x_f[i] + p_f[i] / p_pred[i + 1] * (x_s[i + 1] - x_f[i])  # prediction of i+1 = x_f[i]
    return x_s


class _Track(NamedTuple):
    g: np.ndarray  # derotated, amplitude-normalised frame symbols, complex128[nsym]
    f_fine: float  # frequency over the frame, cycles/symbol (fit to the segment phases)
    seg_times: np.ndarray  # centre of each known segment, frame symbols, float64[len(segs)]
    seg_phases: np.ndarray  # their unwrapped phases, rad
    phase: np.ndarray  # the phase removed from each symbol (interpolated), rad, float64[nsym]


def _track_phase(y: np.ndarray, segs: list, f_init: float, priors: list[tuple[float, float]] = ()) -> _Track:
    """Phase/amplitude tracking over one frame from its known segments (header, pilot blocks).

    y: complex128[nsym] frame symbols; segs: [(start, known complex[n])]; f_init: cycles/symbol;
    priors: independent Gaussian estimates (centre, standard deviation) of the frame's frequency.
    Each segment gives the ML phase arg sum y conj(known) at its centre (Mengali & D'Andrea
    eq. 5.7.4) and an amplitude; phases are unwrapped against the running frequency, then
    linearly interpolated over the frame (extrapolated with the last segment's slope).

    The pilots fix the frequency only modulo one cycle per pilot distance: the first pilot is
    1554 symbols after the header's centre, so a frequency error beyond 1/(2 * 1554) cycle/symbol
    (322 Hz at 1 Mbaud; the header's own error is ~130 Hz rms at Es/N0 1.2 dB) would unwrap it a
    whole cycle off and ruin the frame. Its cycle is therefore chosen among the three nearest as
    the one whose implied frequency the ``priors`` make most likely (the header's estimate and the
    payload's, ``_payload_frequency``). After that the running frequency comes from
    pilot-to-pilot phase steps and no longer slips.
    Returns a ``_Track``.
    """
    t_c, ph_c, amp_c = [], [], []
    f_run = f_init
    for st, known in segs:
        kk = np.arange(st, st + known.size)
        tc = st + (known.size - 1) / 2.0
        s = np.sum(y[kk] * np.conj(known) * np.exp(-2j * np.pi * f_run * (kk - tc)))
        raw = float(np.angle(s))
        if ph_c:
            pred = ph_c[-1] + 2 * np.pi * f_run * (tc - t_c[-1])
            ph = pred + float(np.angle(np.exp(1j * (raw - pred))))
            if len(ph_c) == 1 and priors:
                span = tc - t_c[0]
                f_0 = (ph - ph_c[0]) / (2 * np.pi * span)
                costs = [sum((f_0 + m / span - c) ** 2 / (2 * sd * sd) for c, sd in priors) for m in (-1, 0, 1)]
                ph += 2 * np.pi * (int(np.argmin(costs)) - 1)
            seg_f = (ph - ph_c[-1]) / (2 * np.pi * (tc - t_c[-1]))
            f_run = seg_f if len(ph_c) == 1 else 0.5 * f_run + 0.5 * seg_f
        else:
            ph = raw
        t_c.append(tc)
        ph_c.append(ph)
        amp_c.append(abs(s) / known.size)
    t_c = np.array(t_c)
    ph_c = np.array(ph_c)
    amp_c = np.array(amp_c)
    if t_c.size >= 2:
        f_fine = float(np.polyfit(t_c, ph_c, 1)[0] / (2 * np.pi))
        f_end = (ph_c[-1] - ph_c[-2]) / (2 * np.pi * (t_c[-1] - t_c[-2]))
    else:
        f_fine = f_end = f_init
    g, phase = _derotate(np.ascontiguousarray(y, np.complex128), t_c, ph_c, amp_c, 2 * np.pi * f_init, 2 * np.pi * f_end)
    return _Track(g, f_fine, t_c, ph_c, phase)


def _derotate_reference(y, t_c, ph_c, amp_c, w_before, w_after):
    """Readable version of ``_derotate`` (the same result up to rounding)."""
    t = np.arange(y.size, dtype=np.float64)
    phase = np.interp(t, t_c, ph_c)
    after = t > t_c[-1]
    phase[after] = ph_c[-1] + w_after * (t[after] - t_c[-1])
    before = t < t_c[0]
    phase[before] = ph_c[0] + w_before * (t[before] - t_c[0])
    amp = np.maximum(np.interp(t, t_c, amp_c), 1e-12)
    return y * np.exp(-1j * phase) / amp, phase


@njit(cache=True)
def _derotate(y, t_c, ph_c, amp_c, w_before, w_after):  # pragma: no cover - compiled
    """(g complex128[n], phase float64[n]): y[t] exp(-j phase(t)) / amp(t), the phase and the
    amplitude linear between the known segments' centres ``t_c`` (values ``ph_c``, ``amp_c``),
    extended before the first with slope ``w_before`` and after the last with ``w_after`` (rad per
    symbol), the amplitude held there. exp is evaluated once per stretch between two centres and
    carried across it by a rotator (the phase is linear there), not once per symbol."""
    n = y.size
    g = np.empty(n, np.complex128)
    phase = np.empty(n, np.float64)
    m = t_c.size
    t = 0
    for stretch in range(m + 1):
        if stretch == 0:
            end = min(n, int(np.floor(t_c[0])) + 1)  # t <= t_c[0] (centres are >= 0)
            t0, p0, w = t_c[0], ph_c[0], w_before
            a0, da = amp_c[0], 0.0
        elif stretch < m:
            end = min(n, int(np.floor(t_c[stretch])) + 1)  # t <= t_c[stretch]
            span = t_c[stretch] - t_c[stretch - 1]
            t0, p0 = t_c[stretch - 1], ph_c[stretch - 1]
            w = (ph_c[stretch] - p0) / span
            a0, da = amp_c[stretch - 1], (amp_c[stretch] - amp_c[stretch - 1]) / span
        else:
            end = n
            t0, p0, w = t_c[m - 1], ph_c[m - 1], w_after
            a0, da = amp_c[m - 1], 0.0
        if t >= end:
            continue
        first = p0 + w * (t - t0)
        rot = complex(np.cos(first), -np.sin(first))
        step = complex(np.cos(w), -np.sin(w))
        for k in range(t, end):
            ph = p0 + w * (k - t0)
            phase[k] = ph
            amp = max(a0 + da * (k - t0), 1e-12)
            g[k] = y[k] * rot / amp
            rot *= step
            if (k - t) & 1023 == 1023:  # keep the rotator on the unit circle and on the line
                rot = complex(np.cos(ph + w), -np.sin(ph + w))
        t = end
    return g, phase


def _viterbi_viterbi(p: np.ndarray, block: int = SLOT_SYMBOLS, power: int = 4) -> np.ndarray:
    """Feed-forward M-th power phase tracking for frames without pilots (Viterbi & Viterbi 1983).

    p: complex128[n] payload already derotated by the header estimate (residual phase ~0 at its
    start); ``power``: 4 for QPSK, 8 for 8PSK (points at pi/4 + k 2pi/M, so p^M has the phase
    M pi/4 plus M times the carrier phase). Per block of ``block`` symbols,
    phi = arg(sum p^M exp(-j M pi/4))/M; the M*phi sequence is unwrapped starting from the
    header's 0, which resolves the 2pi/M ambiguity as long as the phase moves < pi/M per block.
    Phases are interpolated linearly between block centres.
    """
    nb = p.size // block
    if nb < 2:
        return p
    q = np.sum(_power_of_two(p[:nb * block], power).reshape(nb, block), axis=1) * np.exp(-1j * power * np.pi / 4)
    th = np.unwrap(np.concatenate([[0.0], np.angle(q)]))[1:]
    t_c = np.arange(nb) * block + (block - 1) / 2.0
    phase = np.interp(np.arange(p.size), t_c, th / power)
    return p * np.exp(-1j * phase)
