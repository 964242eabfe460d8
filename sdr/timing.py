"""Symbol timing recovery: Gardner TED + windowed-sinc interpolator + PI loop (Rice ch. 8).

One numba kernel runs the whole sequential loop over a block of matched-filter output samples;
``gardner_reference`` is the readable pure-Python version with identical arithmetic that the
tests compare it with.

Loop (per recovered symbol k, strobe position p_k in input samples, T = nominal samples/symbol):

    y_k     = x(p_k),  y_mid = x(p_k - T/2)                  interpolated (12-tap Kaiser sinc)
    e_k     = -Re{(y_{k-1} - y_k) conj(y_mid)} / P_k          Gardner 1986, normalised by the
                                                              running symbol power P_k (AGC)
    v_k     = K1 e_k + I_k,  I_{k+1} = clip(I_k + K2 e_k)     PI loop filter (Rice eq. C.56)
    p_{k+1} = p_k + T (1 - v_k)           acquiring (``delayed=False``)
    p_{k+1} = p_k + T (1 - v_{k-1})       tracking (``delayed=True``): one symbol of loop delay

The delay lets the next strobe's interpolations start before this symbol's error is known, so
the processor overlaps two symbols' work (about 1.5x faster), and while tracking it also lowered
the frame error rate of QPSK 1/2 at Es/N0 1.1 dB under 20 Hz of phase noise from 2.7e-2 to
2.2e-2 (tests/bench/impl_loss.py, 4000 frames; 1.1e-2 with the delay in both modes). While
acquiring (the wide loop, a burst's first frames) it cost frames: at 200 kHz and 100 ppm the
first four frames of a burst were lost instead of the first one, so the demodulator acquires
without it.

e_k ~ Kp * tau for a late strobe (tau > 0, in symbols); K1, K2 follow from the loop noise
bandwidth B_n T and damping 1/sqrt(2) (Rice eq. C.61). The integrator is clipped to
+-``max_rate`` so that noise-only stretches cannot walk the symbol rate away.

Blockage hold: while the running power (``TimingState.level``, the same average as P_k but started from 0
so that it approaches the signal's level from below) is under ``HOLD_POWER_RATIO`` of its slowly
decaying peak (``TimingState.peak``, forgetting 1/65536 per symbol: about 0.74 of it is left after a 20 ms
blockage at 1 Mbaud), the signal is gone and e_k is noise: the loop holds (its integrator
frozen) and strobes go on at the rate averaged over the last ~16000 symbols (``TimingState.held_rate``: the
integrator alone jitters by tens of ppm, enough to put the strobes most of a symbol off after
20 ms). Free-running, 20000 symbols of noise walked the integrator far
enough to slip symbols, and the first frame after a blockage was lost. The hold needs the
blockage to drop the power below the ratio: Es/N0 above about 4 dB (at 10 dB the power falls to 0.09).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from chaincast.fec.kernels import inline, kernel

from chaincast.sdr.interp import windowed_sinc_table

INTERP_TAPS = 12
INTERP_OVERSAMPLE = 256
_TABLE = windowed_sinc_table(INTERP_TAPS, INTERP_OVERSAMPLE, kaiser_beta=6.0)
GARDNER_KP = 0.6
"""Measured slope of the normalised Gardner S-curve for RRC roll-off 0.2 (per symbol of error)."""

# The kernels' state vector, float64[9] (``TimingState.to_array`` / ``from_array``)
S_P, S_INTEG, S_POWER, S_YPREV_RE, S_YPREV_IM, S_VLAST, S_LEVEL, S_PEAK, S_RATE = range(9)
HOLD_POWER_RATIO = 0.3
PEAK_FORGET = 1.0 / 65536
RATE_FORGET = 1.0 / 16384


def loop_gains(bn_t: float, zeta: float = 1 / np.sqrt(2), kp: float = GARDNER_KP) -> tuple[float, float]:
    """PI gains (K1, K2) for normalised noise bandwidth ``bn_t`` (Rice eq. C.61, K0 = 1)."""
    theta = bn_t / (zeta + 1 / (4 * zeta))
    d = 1 + 2 * zeta * theta + theta * theta
    return 4 * zeta * theta / d / kp, 4 * theta * theta / d / kp


@dataclass
class TimingState:
    """The loop's state between calls (the names of the kernels' float64[9] state vector).

    strobe: position of the next strobe, in samples of the buffer passed next (the caller shifts
        it when it drops consumed samples).
    integrator: the PI loop's integrator I_k (fractional rate offset, clipped to +-max_rate).
    power: running symbol power P_k, the error's normalisation (starts at 1).
    last_symbol: y_{k-1}, the previous strobe's interpolated sample.
    control: v of the last symbol (the delayed loop's next step uses it).
    level: running symbol power started from 0 (the blockage detector's).
    peak: its slowly decaying peak.
    held_rate: the control averaged over ~16000 symbols, the rate held through a blockage.
    """

    strobe: float
    integrator: float = 0.0
    power: float = 1.0
    last_symbol: complex = 0j
    control: float = 0.0
    level: float = 0.0
    peak: float = 0.0
    held_rate: float = 0.0

    @classmethod
    def initial(cls, samples_per_symbol: float) -> "TimingState":
        """Fresh loop state: first strobe far enough in for the interpolator's look-back."""
        return cls.from_array(initial_state(samples_per_symbol))

    def to_array(self) -> np.ndarray:
        """float64[9] in the kernels' layout (``S_P`` ... ``S_RATE``)."""
        return np.array([self.strobe, self.integrator, self.power, self.last_symbol.real, self.last_symbol.imag,
                         self.control, self.level, self.peak, self.held_rate], dtype=np.float64)

    @classmethod
    def from_array(cls, s: np.ndarray) -> "TimingState":
        return cls(strobe=float(s[S_P]), integrator=float(s[S_INTEG]), power=float(s[S_POWER]),
                   last_symbol=complex(s[S_YPREV_RE], s[S_YPREV_IM]), control=float(s[S_VLAST]),
                   level=float(s[S_LEVEL]), peak=float(s[S_PEAK]), held_rate=float(s[S_RATE]))

    def load(self, s: np.ndarray) -> None:
        """Take the values of the kernels' float64[9] vector ``s``."""
        loaded = TimingState.from_array(s)
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(loaded, name))

    @property
    def rate_ppm(self) -> float:
        """The symbol rate's offset the loop has learnt, ppm (positive: the far clock is fast)."""
        return float(-self.integrator * 1e6)


def initial_state(samples_per_symbol: float) -> np.ndarray:
    """Fresh loop state as the kernels' float64[9] vector (see ``TimingState``)."""
    s = np.zeros(9)
    s[S_P] = samples_per_symbol / 2 + INTERP_TAPS / 2 + 1
    s[S_POWER] = 1.0
    return s


def polyphase_bank(table: np.ndarray, oversample: int, ntaps: int) -> tuple[np.ndarray, np.ndarray]:
    """The interpolator's table as a polyphase bank: ``bank[i, j] = table[i + j * oversample]``
    and ``step[i, j] = table[i + 1 + j * oversample] - bank[i, j]``, float64[oversample, ntaps].
    At fractional position ``frac`` (0 <= frac < 1) with ``i = floor(frac * oversample)`` and
    ``w`` the rest, tap j weighs ``bank[i, j] + w * step[i, j]``: the table read once per
    interpolation, not once per tap."""
    index = np.arange(oversample)[:, None] + oversample * np.arange(ntaps)[None, :]
    return table[index].copy(), (table[index + 1] - table[index]).copy()


_BANK, _BANK_STEP = polyphase_bank(_TABLE, INTERP_OVERSAMPLE, INTERP_TAPS)


@inline(cache=True, inline="always", fastmath=True)
def _interp(x, u, bank, bank_step, oversample, ntaps):  # pragma: no cover - compiled
    uu = u + ntaps / 2.0
    k = np.int64(np.floor(uu))
    base = (uu - k) * oversample
    i = np.int64(base)
    w = base - i
    re = 0.0
    im = 0.0
    for j in range(ntaps):
        g = bank[i, j] + w * bank_step[i, j]
        v = x[k - j]
        re += v.real * g
        im += v.imag * g
    return re, im


# fastmath: the tap sums in any order (no NaN or inf reaches the loop). The loop is inlined into
# one kernel per mode so that ``delayed`` is a constant there: a run-time choice between the two
# next positions would keep the delayed loop waiting for this symbol's error all the same.
@inline(cache=True, fastmath=True, inline="always")
def _gardner_loop(x, state, sps, k1, k2, max_rate, power_alpha, delayed, bank, bank_step, oversample, ntaps):  # pragma: no cover - compiled
    n = x.size
    nmax = int(n / sps) + 2
    sym = np.empty(nmax, dtype=np.complex64)
    pos = np.empty(nmax, dtype=np.float64)
    p = state[0]
    integ = state[1]
    pw = state[2]
    yp_re = state[3]
    yp_im = state[4]
    v = state[5]
    level = state[6]
    peak = state[7]
    rate = state[8]
    count = 0
    half = ntaps // 2
    while p + half < n - 1 and count < nmax:
        y_re, y_im = _interp(x, p, bank, bank_step, oversample, ntaps)
        m_re, m_im = _interp(x, p - 0.5 * sps, bank, bank_step, oversample, ntaps)
        sym[count] = complex(y_re, y_im)
        pos[count] = p
        count += 1
        p_delayed = p + sps * (1.0 - v)  # with the last symbol's control (see the module docstring)
        pw = (1.0 - power_alpha) * pw + power_alpha * (y_re * y_re + y_im * y_im)
        level = (1.0 - power_alpha) * level + power_alpha * (y_re * y_re + y_im * y_im)
        peak = max(level, peak * (1.0 - PEAK_FORGET))
        if level < HOLD_POWER_RATIO * peak:
            v = rate  # blockage: hold
        else:
            e = -((yp_re - y_re) * m_re + (yp_im - y_im) * m_im) / max(pw, 1e-20)
            v = k1 * e + integ
            integ = integ + k2 * e
            if integ > max_rate:
                integ = max_rate
            elif integ < -max_rate:
                integ = -max_rate
            rate = (1.0 - RATE_FORGET) * rate + RATE_FORGET * v
        yp_re = y_re
        yp_im = y_im
        p = p_delayed if delayed else p + sps * (1.0 - v)
    state[0] = p
    state[1] = integ
    state[2] = pw
    state[3] = yp_re
    state[4] = yp_im
    state[5] = v
    state[6] = level
    state[7] = peak
    state[8] = rate
    return sym[:count], pos[:count]


@kernel(cache=True, fastmath=True, nogil=True)
def _gardner_kernel(x, state, sps, k1, k2, max_rate, power_alpha, bank, bank_step, oversample, ntaps):  # pragma: no cover - compiled
    return _gardner_loop(x, state, sps, k1, k2, max_rate, power_alpha, False, bank, bank_step, oversample, ntaps)


@kernel(cache=True, fastmath=True, nogil=True)
def _gardner_kernel_delayed(x, state, sps, k1, k2, max_rate, power_alpha, bank, bank_step, oversample, ntaps):  # pragma: no cover - compiled
    return _gardner_loop(x, state, sps, k1, k2, max_rate, power_alpha, True, bank, bank_step, oversample, ntaps)


def gardner(x: np.ndarray, state: TimingState | np.ndarray, samples_per_symbol: float, k1: float, k2: float,
            max_rate: float = 3e-4, power_alpha: float = 1.0 / 256, delayed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Run the loop over MF output x complex64[n] from ``state``, updated in place (a
    ``TimingState``, or the kernels' float64[9] vector).

    Returns (symbols complex64[k], strobe positions float64[k] in x's sample coordinates).
    ``delayed``: the tracking loop's one symbol of delay (see the module docstring).
    The state's strobe is left at the next strobe position in x's coordinates; the caller shifts
    it when it drops consumed samples (it needs x from p - sps/2 - 7 onwards).
    """
    kernel = _gardner_kernel_delayed if delayed else _gardner_kernel
    vector = state.to_array() if isinstance(state, TimingState) else state
    out = kernel(np.ascontiguousarray(x, dtype=np.complex64), vector, float(samples_per_symbol),
                 float(k1), float(k2), float(max_rate), float(power_alpha), _BANK, _BANK_STEP,
                 INTERP_OVERSAMPLE, INTERP_TAPS)
    if isinstance(state, TimingState):
        state.load(vector)
    return out


def gardner_reference(x, state, samples_per_symbol, k1, k2, max_rate=3e-4, power_alpha=1.0 / 256, delayed=False):
    """Readable pure-Python version of ``gardner`` (same arithmetic); for tests only."""
    sps = float(samples_per_symbol)
    x = np.asarray(x, dtype=np.complex64)
    half = INTERP_TAPS // 2

    def interp(u):  # x at fractional position u: the windowed sinc, linear between table points
        uu = u + INTERP_TAPS / 2.0
        k = int(np.floor(uu))
        base = (uu - k) * INTERP_OVERSAMPLE
        i = int(base)
        w = base - i
        acc = 0j
        for j in range(INTERP_TAPS):
            g = _TABLE[i + j * INTERP_OVERSAMPLE] + w * (_TABLE[i + 1 + j * INTERP_OVERSAMPLE] - _TABLE[i + j * INTERP_OVERSAMPLE])
            acc += complex(x[k - j]) * g
        return acc

    p, integ, pw, yp, v, level, peak, rate = state[0], state[1], state[2], complex(state[3], state[4]), *state[5:9]
    syms, poss = [], []
    while p + half < x.size - 1:
        y = interp(p)
        ym = interp(p - 0.5 * sps)
        syms.append(y)
        poss.append(p)
        p_next = p + sps * (1 - v)
        pw = (1 - power_alpha) * pw + power_alpha * abs(y) ** 2
        level = (1 - power_alpha) * level + power_alpha * abs(y) ** 2
        peak = max(level, peak * (1 - PEAK_FORGET))
        if level < HOLD_POWER_RATIO * peak:
            v = rate
        else:
            e = -((yp - y) * np.conj(ym)).real / max(pw, 1e-20)
            v = k1 * e + integ
            integ = min(max(integ + k2 * e, -max_rate), max_rate)
            rate = (1 - RATE_FORGET) * rate + RATE_FORGET * v
        yp = y
        p = p_next if delayed else p + sps * (1 - v)
    state[:] = [p, integ, pw, yp.real, yp.imag, v, level, peak, rate]
    return np.array(syms, dtype=np.complex64), np.array(poss, dtype=np.float64)
