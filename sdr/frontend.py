"""Front end: complex baseband samples -> symbols, one block of input samples at a time.

1. DC removal: subtract an exponentially smoothed per-block mean (the signal's own mean over a
   block is ~0).
2. Mixer: an NCO at the coarse carrier offset, with continuous phase across blocks; its phase
   and frequency per block are kept so that a frame can later be re-rotated as if it had been
   mixed at one frequency throughout (the frequency changes at block boundaries).
3. RRC matched filter at the input rate (``chaincast.sdr.fir``; the last L-1 inputs carried over).
4. Symbol timing: Gardner TED + interpolator + PI loop (``chaincast.sdr.timing``). Gear shifting
   (Rice 8.4.6): a wide loop acquires fast while no frames are being received, the narrow loop
   keeps jitter low once frames arrive.

Positions are in input samples counted from the start of the stream (float64; a symbol's
position is where its matched-filter output peaks); NCO phases are unwrapped, in radians;
NCO frequencies in radians per input sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from chaincast.fec.kernels import kernel

from chaincast.sdr import timing
from chaincast.sdr.fir import fir_real_taps
from chaincast.sdr.rrc import matched_filter_taps
from chaincast.sdr.trackkernels import rotate
from chaincast.sdr.timing import TimingState

NCO_HISTORY_BLOCKS = 64  # blocks whose NCO phase is kept (symbols lag their samples by < 1 block)


class MixerBlock(NamedTuple):
    """The mixer's setting over one input block: phase at its first sample (rad, unwrapped) and
    frequency (rad per input sample)."""

    start_phase: float
    rad_per_sample: float


class SymbolChunk(NamedTuple):
    """Symbols the front end produced from one block (k of them).

    symbols: complex64[k] matched-filter output at the strobes.
    positions: float64[k] absolute input-sample position of each symbol.
    nco_phase: float64[k] unwrapped NCO phase (rad) the mixer applied at each position."""

    symbols: np.ndarray
    positions: np.ndarray
    nco_phase: np.ndarray


@dataclass
class FrontEndState:
    """dc: the smoothed DC estimate (None before the first block); nco_phase: unwrapped NCO
    phase (rad) at the start of the next block; mixer: block index -> ``MixerBlock`` for the last
    ``NCO_HISTORY_BLOCKS`` blocks; mf_history: the matched filter's last L-1 inputs,
    complex64[L-1]; mf_out: matched-filter output the timing loop still needs, complex64[m],
    whose first sample is absolute MF-output index ``mf_out_start``; timing: the loop's state
    (its strobe in ``mf_out``'s coordinates)."""

    mf_history: np.ndarray
    timing: TimingState
    dc: complex | None = None
    nco_phase: float = 0.0
    mixer: dict[int, MixerBlock] = field(default_factory=dict)
    mf_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.complex64))
    mf_out_start: int = 0


class FrontEnd:
    """DC removal, mixer, matched filter and timing recovery; see the module docstring."""

    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, *, block_samples: int,
                 mf_span_symbols: int, timing_bandwidth: float, acquire_timing_bandwidth: float):
        self.sample_rate_hz = float(sample_rate_hz)
        self.sps = self.sample_rate_hz / float(symbol_rate_hz)
        self.block_samples = int(block_samples)
        self.mf_taps = matched_filter_taps(self.sps, rolloff, mf_span_symbols).astype(np.float64)
        self.mf_delay = (self.mf_taps.size - 1) // 2  # samples
        self.gains_track = timing.loop_gains(timing_bandwidth)
        self.gains_acquire = timing.loop_gains(acquire_timing_bandwidth)
        self._ramp_key: tuple[float, int] | None = None  # (rad/sample, samples) of _ramp
        self._ramp = np.zeros(0, np.complex64)
        self.state = self._fresh_state()

    def _fresh_state(self) -> FrontEndState:
        return FrontEndState(mf_history=np.zeros(self.mf_taps.size - 1, dtype=np.complex64),
                             timing=TimingState.initial(self.sps))

    def reset(self) -> None:
        self.state = self._fresh_state()

    def remove_dc(self, x: np.ndarray) -> np.ndarray:
        """complex64[b] -> complex64[b] with the smoothed block mean removed."""
        m = complex(np.mean(x, dtype=np.complex128))
        st = self.state
        st.dc = m if st.dc is None else 0.8 * st.dc + 0.2 * m
        return x - np.complex64(st.dc)

    def symbols(self, block: int, x: np.ndarray, cfo_hz: float, tracking: bool) -> SymbolChunk:
        """Mix, filter and strobe the DC-free input block number ``block`` (complex64[b]) with
        the NCO at ``cfo_hz``. ``tracking``: frames are arriving (the narrow timing loop with its
        symbol of delay; else the wide acquisition loop)."""
        st = self.state
        b = x.size
        w = 2 * np.pi * cfo_hz / self.sample_rate_hz
        st.mixer[block] = MixerBlock(st.nco_phase, w)
        st.mixer.pop(block - NCO_HISTORY_BLOCKS, None)
        x = x * (self._nco_ramp(w, b) * np.complex64(np.exp(-1j * (st.nco_phase % (2 * np.pi)))))
        st.nco_phase += w * b
        xx = np.concatenate([st.mf_history, x])
        y = fir_real_taps(xx, self.mf_taps)
        st.mf_history = xx[xx.size - st.mf_history.size:]
        tb = np.concatenate([st.mf_out, y])
        k1, k2 = self.gains_track if tracking else self.gains_acquire
        sym, pos = timing.gardner(tb, st.timing, self.sps, k1, k2, delayed=tracking)
        abs_pos = st.mf_out_start + pos - self.mf_delay
        keep_from = max(int(np.floor(st.timing.strobe - self.sps - timing.INTERP_TAPS)) - 2, 0)
        st.mf_out = tb[keep_from:].copy()
        st.mf_out_start += keep_from
        st.timing.strobe -= keep_from
        return SymbolChunk(sym, abs_pos, self.nco_phase_at(abs_pos))

    def restart_timing(self, first_block: int, blocks: list[np.ndarray], cfo_hz: float) -> None:
        """Start the matched filter and the timing loop afresh at input block ``first_block``,
        about to be fed ``blocks`` (DC-free, complex64[b] each) again with the NCO at ``cfo_hz``.

        The loop starts on the right phase: feed-forward square-law estimate over the blocks
        (Oerder & Meyr 1988: the symbol-rate line of |MF output|^2), so the first frame's header
        is not strobed while the loop is still pulling in."""
        st = self.state
        st.mf_out = np.zeros(0, dtype=np.complex64)
        st.mf_out_start = first_block * self.block_samples
        st.timing = TimingState.initial(self.sps)
        samples = np.concatenate(blocks)
        w = 2 * np.pi * cfo_hz / self.sample_rate_hz
        mixed = samples * np.exp(-1j * w * np.arange(samples.size)).astype(np.complex64)
        y = fir_real_taps(np.concatenate([np.zeros(self.mf_taps.size - 1, np.complex64), mixed]), self.mf_taps)
        line = np.sum(np.abs(y) ** 2 * np.exp(-2j * np.pi * np.arange(y.size) / self.sps))
        phase = (-np.angle(line) / (2 * np.pi) * self.sps) % self.sps
        st.timing.strobe += (phase - st.timing.strobe) % self.sps
        st.mf_history = np.zeros(self.mf_taps.size - 1, dtype=np.complex64)

    @property
    def timing_rate_ppm(self) -> float:
        return self.state.timing.rate_ppm

    def _nco_ramp(self, w: float, n: int) -> np.ndarray:
        """exp(-j w k), k = 0..n-1, complex64[n]: the mixer's rotation over a block from phase 0.
        The frequency changes at most once a frame, so the ramp is made once per frequency and
        each block only scales it by its start phase."""
        if self._ramp_key != (w, n):
            self._ramp, self._ramp_key = nco_ramp(w, n), (w, n)
        return self._ramp

    def nco_phase_at(self, pos: np.ndarray) -> np.ndarray:
        """Unwrapped NCO phase (rad, float64[k]) at ascending input-sample positions ``pos``
        (float64[k], a chunk's strobes): the phase the mixer applied there, from the block each
        position falls in (symbols leave the matched filter and the interpolator after their
        samples' block, so not always the current one; a position outside the blocks on record
        takes the nearest one's setting)."""
        out = np.empty(pos.size, np.float64)
        if pos.size == 0:
            return out
        b = self.block_samples
        first, last = self.mixer_block(float(pos[0])), self.mixer_block(float(pos[-1]))
        ends = np.searchsorted(pos, np.arange(first + 1, last + 1) * float(b)).tolist() + [pos.size]
        start = 0
        for k, end in zip(range(first, last + 1), ends):  # a few blocks: symbols lag their samples by < 1 block
            phase0, w = self.state.mixer.get(k, (np.nan, np.nan))
            out[start:end] = phase0 + w * (pos[start:end] - k * b)
            start = end
        return out

    def mixer_block(self, pos: float) -> int:
        """The mixer block (the nearest still on record) that input-sample position ``pos`` falls in."""
        mixer = self.state.mixer
        return min(max(int(pos // self.block_samples), min(mixer)), max(mixer))

    def as_mixed_at_one_frequency(self, y: np.ndarray, nco_phase: np.ndarray,
                                  positions: np.ndarray) -> tuple[np.ndarray, float]:
        """A frame's symbols ``y: complex128[n]`` (NCO phases ``nco_phase``, positions
        ``positions``, float64[n] each) re-rotated as if the whole frame had been mixed with the
        frequency in effect at its last symbol; returns them and that frequency in Hz.

        The NCO frequency may have changed at block boundaries inside the frame (AFC, coarse
        estimate), which the frame's own phase tracking would otherwise see as phase jumps."""
        w_ref = self.state.mixer[self.mixer_block(float(positions[-1]))][1]
        f_ref = w_ref * self.sample_rate_hz / (2 * np.pi)
        correction = nco_phase - (nco_phase[-1] + w_ref * (positions - positions[-1]))
        return rotate(np.ascontiguousarray(y, np.complex128), correction), f_ref


RAMP_STRETCH = 1024
"""Samples of the NCO ramp made by a rotator; the rest of the ramp is those times each stretch's
exact start phase (float64 rounding leaves the rotator ~1e-13 off after 1024 steps)."""


def nco_ramp_reference(w: float, n: int) -> np.ndarray:
    """Readable version of ``nco_ramp``."""
    return np.exp(-1j * w * np.arange(n)).astype(np.complex64)


@kernel(cache=True, nogil=True, fastmath=True)
def nco_ramp(w, n):  # pragma: no cover - compiled
    """complex64[n]: exp(-j w k), k = 0..n-1 (w in rad per sample): the mixer's rotation over a
    block from phase 0. The first ``RAMP_STRETCH`` samples by a rotator, each later stretch as
    those times its exact start phase: a cos and a sin per stretch instead of per sample, and
    the multiplications vectorise (about 15x numpy's float32 cos and sin here)."""
    out = np.empty(n, np.complex64)
    width = min(RAMP_STRETCH, n)
    first = np.empty(width, np.complex128)
    step = complex(np.cos(w), -np.sin(w))
    rot = 1.0 + 0j
    for k in range(width):
        first[k] = rot
        rot *= step
    for start in range(0, n, RAMP_STRETCH):
        c = complex(np.cos(w * start), -np.sin(w * start))
        for k in range(min(width, n - start)):
            out[start + k] = first[k] * c
    return out
