"""Streaming burst demodulator: complex baseband samples -> PL frames.

Processing runs on fixed blocks of ``block_samples`` input samples, so results do not depend on
how the caller chunks the stream (``process`` only buffers up to one block). ``Demodulator``
composes the stages, each a module with its own state:

1. ``acquisition``: coarse carrier offset from the 4th-power line, and the scan (``search_hz``).
2. ``frontend``: DC removal, NCO mixer, RRC matched filter, Gardner timing recovery.
3. ``framesync``: SOF search, the flywheel (frames are back to back), header-less frames.
4. ``header``: the SOF's coherent check and the PLS decode (``header_failures``).
5. ``tracking``: per-frame phase, frequency, amplitude, N0, fades and erasures.

Between frames and the mixer runs the AFC: a frame with pilots steers the NCO to its own
frequency estimate for the next ``_AFC_HOLD_BLOCKS`` blocks. A large jump of the NCO frequency
(the line appearing, or the first frame's estimate taking over) replays the last blocks through
a fresh front end at the new frequency, so that a burst's first frame is not lost.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from chaincast.fec.wire.plheader import Pls

from chaincast.sdr import plframe as pf
from chaincast.sdr.acquisition import CarrierAcquisition
from chaincast.sdr.framesync import (KEEP_SYMBOLS as _KEEP_SYMBOLS, MAX_FRAME_SYMBOLS as _MAX_FRAME_SYMBOLS,
                                     PEAK_HALF_WINDOW as _PEAK_HALF_WINDOW, FrameSync, Headerless, SymbolBuffer)
from chaincast.sdr.frontend import FrontEnd
from chaincast.sdr.header import HeaderDecoder, HeaderStatus
from chaincast.sdr.tracking import track_frame

_AFC_HOLD_BLOCKS = 12  # blocks (82 ms at 2.4 Msps) a frame's frequency steers the NCO
_REPLAY_BLOCKS = 8  # input blocks kept for an acquisition replay (55 ms at 2.4 Msps: > 1 normal frame)
_TRACKING_BLOCKS = 3  # a frame within this many blocks: the timing loop tracks, the scan stays


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
        increment variance per symbol, rad^2), for ``tracking.refine_phase_with_reference``.
    locked: the frame arrived while the AFC was locked (tracking the frames before it); False
        for a frame found in acquisition (the first, or the first after a loss of lock).
    erased_fraction: share of the payload symbols set to 0 (LLR 0: erasures) because the signal
        was absent there (a blockage: its pilots faded, see ``tracking.faded_symbols``).
    headerless: its header was blocked; cut out where the frame before it ended, with that
        frame's PLS (``FrameSync.locate_headerless``), and tracked on its pilots alone.
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




@dataclass
class _Counters:
    """What ``stats`` reports; kept across ``restart``."""

    samples: int = 0
    symbols: int = 0
    candidates: int = 0
    frames: int = 0
    header_failures: int = 0
    acquisitions: int = 0
    headerless: int = 0


@dataclass
class _StreamState:
    """The composition's own state between blocks.

    pending_input: input not yet a whole block, complex64[< block_samples]; blocks: input blocks
    taken so far; cfo_hz: the NCO's frequency (the line's estimate, or the AFC's); afc_block: the
    block in which a frame last set it; last_frame_block: the block in which a frame was last
    found; last_frame_start: input sample of the last frame emitted (a replay re-finds frames);
    ring: the last ``_REPLAY_BLOCKS`` DC-free input blocks with their indices, for the line
    and for a replay; phase_walk_var: the oscillator's phase wander learnt from the pilots
    (rad^2 per symbol)."""

    phase_walk_var: float
    pending_input: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.complex64))
    blocks: int = 0
    cfo_hz: float = 0.0
    afc_block: int = -10**9
    last_frame_block: int = -10**9
    last_frame_start: int = -10**18
    ring: deque = field(default_factory=lambda: deque(maxlen=_REPLAY_BLOCKS))
    replays: int = 0
    replaying: bool = False


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
        self.search_hz = float(search_hz)
        self.acquisition = CarrierAcquisition(
            self.sample_rate_hz, self.symbol_rate_hz, rolloff, block_samples=self.block_samples,
            max_cfo_hz=self.max_cfo_hz, cfo_forget=self.cfo_forget, search_hz=self.search_hz,
            search_dwell_s=search_dwell_s, max_blocks=_REPLAY_BLOCKS)
        self.front_end = FrontEnd(self.sample_rate_hz, self.symbol_rate_hz, rolloff, block_samples=self.block_samples,
                                  mf_span_symbols=mf_span_symbols, timing_bandwidth=timing_bandwidth,
                                  acquire_timing_bandwidth=acquire_timing_bandwidth)
        self.frame_sync = FrameSync(self.sps, sof_threshold=self.sof_threshold)
        self.header = HeaderDecoder(sof_coherent_threshold=self.sof_coherent_threshold,
                                    pls_threshold=self.pls_threshold, modcod_ids=self.modcod_ids)
        self._counts = _Counters()
        self.reset()

    def reset(self) -> None:
        """Forget all stream state (stats too)."""
        self._restart_stream()
        self._counts = _Counters()

    def restart(self) -> None:
        """Forget the stream but keep the counters: for a gap in the input (samples dropped, a
        radio reopened), after which the next samples are not continuous with the last ones and
        the carrier, timing and frame positions must be acquired again. ``PLFrame.start_sample``
        counts from the restart. Call ``flush`` first to have the frames already held."""
        self._restart_stream()

    def _restart_stream(self) -> None:
        self.acquisition.reset()
        self.front_end.reset()
        self.frame_sync.reset()
        self.symbols = SymbolBuffer()
        self._stream = _StreamState(phase_walk_var=2 * np.pi * self.phase_noise_hz / self.symbol_rate_hz)

    @property
    def stats(self) -> DemodStats:
        c = self._counts
        return DemodStats(samples_in=c.samples, symbols_out=c.symbols, sof_candidates=c.candidates,
                          frames_found=c.frames, header_failures=c.header_failures, cfo_hz=self._stream.cfo_hz,
                          timing_rate_ppm=self.front_end.timing_rate_ppm, locked=self._afc_locked(),
                          acquisitions=c.acquisitions, headerless_frames=c.headerless)

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
        self._counts.samples += iq.size
        held = self._stream.pending_input
        buf = np.concatenate([held, iq]) if held.size else iq
        frames: list[PLFrame] = []
        b = self.block_samples
        nblk = buf.size // b
        for i in range(nblk):
            frames += self._block(buf[i * b:(i + 1) * b])
        self._stream.pending_input = buf[nblk * b:].copy()
        return frames

    def flush(self) -> list[PLFrame]:
        """End of stream: pad with zeros to push the last frames out; returns them."""
        pad = (-self._stream.pending_input.size) % self.block_samples
        tail = max(2 * self.block_samples, int(2 * (_PEAK_HALF_WINDOW + 80) * self.sps))
        n_samples = self._counts.samples
        frames = self.process(np.zeros(pad + tail - tail % self.block_samples + self.block_samples, dtype=np.complex64))
        self._counts.samples = n_samples
        return frames

    # ------------------------------------------------------------------ per block
    def _afc_locked(self) -> bool:
        """Frames steer the NCO (the AFC holds a frame's frequency for a few blocks)."""
        return self._stream.blocks - self._stream.afc_block <= _AFC_HOLD_BLOCKS

    def _receiving_frames(self) -> bool:
        """A frame was found in the last few blocks (the timing loop tracks, the scan stays)."""
        return self._stream.blocks - self._stream.last_frame_block <= _TRACKING_BLOCKS

    def _block(self, x: np.ndarray) -> list[PLFrame]:
        s = self._stream
        x = self.front_end.remove_dc(x)
        s.blocks += 1
        previous_cfo = s.cfo_hz
        block = s.blocks - 1
        s.ring.append((block, x))
        self._update_cfo()
        if abs(s.cfo_hz - previous_cfo) > self.replay_jump_hz:
            return self._replay()
        return self._back_end(block, x)

    def _update_cfo(self) -> None:
        """Coarse carrier offset from the 4th-power line of the last blocks (the ring's end)."""
        s = self._stream
        if self._afc_locked():  # frames steer the NCO (data-aided, far more accurate than the line)
            self.acquisition.follow(s.cfo_hz)
            return
        n = self.acquisition.line_blocks
        if len(s.ring) < n:
            return
        estimate = self.acquisition.update([blk for _, blk in list(s.ring)[-n:]], self._receiving_frames())
        if estimate is not None:
            s.cfo_hz = estimate

    def _replay(self) -> list[PLFrame]:
        """Acquisition: the NCO frequency has just jumped (the 4th-power line appeared, or the first
        frame's own estimate took over), so the last blocks (the ring, including the current one),
        which hold the start of the signal, were mixed with a wrong frequency and mangled by the
        matched filter. Run them again from a fresh back end at the new frequency, so that the
        first frame of a burst is not lost. Frames already emitted are not repeated."""
        s = self._stream
        self.front_end.restart_timing(s.ring[0][0], [x for _, x in s.ring], s.cfo_hz)
        self.symbols = SymbolBuffer(start=self._counts.symbols)
        self.frame_sync.restart_at(self._counts.symbols)
        s.replays += 1
        s.replaying = True
        frames = []
        try:
            for block, x in list(s.ring):
                frames += self._back_end(block, x)
        finally:
            s.replaying = False
        return frames

    def _back_end(self, block: int, x: np.ndarray) -> list[PLFrame]:
        """Mixer, matched filter, timing, frame sync and per-frame tracking for one DC-free block."""
        s = self._stream
        chunk = self.front_end.symbols(block, x, s.cfo_hz, tracking=self._receiving_frames())
        w = self.front_end.state.mixer[block].rad_per_sample
        self._counts.symbols += chunk.symbols.size
        self.symbols.append(chunk)
        self._counts.candidates += self.frame_sync.search(self.symbols)
        frames = self._frames_from_candidates()
        self.frame_sync.trim(self.symbols)
        if not s.replaying and abs(s.cfo_hz - w * self.sample_rate_hz / (2 * np.pi)) > self.replay_jump_hz:
            # a frame has just steered the NCO far (AFC acquisition): that frame and the blocks
            # before it went through the matched filter far off frequency; do them again
            self._counts.frames -= len(frames)
            return self._replay()
        fresh = [f for f in frames if f.start_sample > s.last_frame_start + self.sps * pf.HEADER_SYMBOLS]
        self._counts.frames -= len(frames) - len(fresh)  # a replay found a frame again
        # locked: the frame follows the last one within the AFC's hold (a replay re-finds the
        # acquisition frame with the AFC already set, so the NCO state cannot tell)
        gap_limit = _MAX_FRAME_SYMBOLS * self.sps + _AFC_HOLD_BLOCKS * self.block_samples
        out = []
        for f in fresh:
            locked = f.start_sample - s.last_frame_start <= gap_limit
            self._counts.acquisitions += not locked
            out.append(replace(f, locked=locked))
            s.last_frame_start = f.start_sample
        return out

    # ------------------------------------------------------------------ frames
    def _frames_from_candidates(self) -> list[PLFrame]:
        """Decide on the pending candidates whose symbols are in: decode their headers, cut out
        and track the frames; the others stay pending."""
        sync = self.frame_sync.state
        end = self.symbols.end
        frames = []
        candidates, sync.pending = sync.pending, []  # those still waiting go back, in order
        for cand in candidates:
            n = cand.start
            if n < sync.next_allowed:
                continue
            if n + pf.HEADER_SYMBOLS > end:
                sync.pending.append(cand)
                continue
            header = sync.headers.get(n)
            if header is None:
                header = self.header.decode(self.symbols.frame(n, pf.HEADER_SYMBOLS)[0], predicted=cand.predicted)
                sync.headers[n] = header
            if not header.decoded and cand.predicted:  # the flywheel's guess: was the header blocked?
                placement = self.frame_sync.locate_headerless(self.symbols, self.header, self._afc_locked())
                if placement.status is Headerless.WAIT:
                    sync.pending.append(cand)
                    continue
                if placement.status is Headerless.FOUND:
                    sync.headers.pop(n, None)
                    pls_value = sync.last_frame.pls_value
                    pls = Pls.unpack(pls_value)
                    frames.append(self._finish_frame(placement.start, pls, pls_value, 0.0, headerless=True))
                    self._counts.frames += 1
                    self._counts.headerless += 1
                    self._stream.last_frame_block = self._stream.blocks
                    self.frame_sync.headerless_frame_found(placement.start, pf.frame_symbols(pls.slots, True))
                    continue
            if header.status is HeaderStatus.NO_SOF:
                sync.headers.pop(n, None)
                continue
            if header.status is HeaderStatus.UNUSABLE:
                self._counts.header_failures += 1
                sync.headers.pop(n, None)
                continue
            pls = Pls.unpack(header.pls_value)
            nsym = pf.frame_symbols(pls.slots, pls.pilots)
            if n + nsym > end:
                sync.pending.append(cand)
                continue
            sync.headers.pop(n, None)
            frames.append(self._finish_frame(n, pls, header.pls_value, header.metric))
            self._counts.frames += 1
            self._stream.last_frame_block = self._stream.blocks
            self.frame_sync.frame_found(n, nsym)
        sync.pending = [p for p in sync.pending if p.start >= sync.next_allowed]
        return frames

    def _finish_frame(self, n: int, pls: Pls, pls_value: int, metric: float, headerless: bool = False) -> PLFrame:
        """Cut out the frame at absolute symbol ``n``, track it, steer the AFC with it."""
        s = self._stream
        nsym = pf.frame_symbols(pls.slots, pls.pilots)
        y, positions, nco_phase = self.symbols.frame(n, nsym)
        last = self.frame_sync.state.last_frame
        last.position, last.symbols = float(positions[0]), nsym
        if not headerless:
            last.period = float(positions[nsym - 1] - positions[0]) / (nsym - 1)
        y, f_ref = self.front_end.as_mixed_at_one_frequency(y, nco_phase, positions)
        track = track_frame(y, self.header.known_symbols(pls_value), pls, headerless=headerless,
                            afc_locked=self._afc_locked(), afc_sigma_cycles=self.afc_sigma_hz / self.symbol_rate_hz,
                            phase_walk_var=s.phase_walk_var)
        if track.header_amplitude is not None:
            last.pls_value, last.header_amplitude = pls_value, track.header_amplitude
        s.phase_walk_var = track.phase_walk_var
        cfo_hz = float(f_ref + track.f_fine * self.symbol_rate_hz)
        if pls.pilots and not headerless and abs(cfo_hz) <= self.max_cfo_hz + self.search_hz:
            s.cfo_hz = cfo_hz  # AFC: the NCO follows the frames from the next block on
            s.afc_block = s.blocks
        return PLFrame(pls_value=int(pls_value), payload=track.payload, noise_var=track.noise_var,
                       esn0_db=float(10 * np.log10(1.0 / track.noise_var)), cfo_hz=cfo_hz,
                       start_sample=int(round(positions[0])), symbol_index=int(n), pls_metric=float(metric),
                       phase_walk_var=float(s.phase_walk_var), erased_fraction=track.erased_fraction,
                       headerless=headerless)
