"""Gray-mapped 8PSK and its LLR demappers (exact log-MAP and max-log).

Constellation: point ``k`` (k = 0..7, counter-clockwise) sits at phase ``pi/4 + k*pi/4`` with unit
energy. The bit triplet (b0, b1, b2), b0 first, of point ``k`` is the Gray code of ``k``
(``k ^ (k >> 1)``), so neighbours on the circle differ in exactly one bit. The triplet index is
``4*b0 + 2*b1 + b2``.

LLR convention of chaincast: ``log P(b=0)/P(b=1)``, positive means 0; ``noise_var`` is N0 per
complex symbol (Es = 1). For bit i::

    exact:    L_i = log sum_{s: b_i(s)=0} exp(-|y-s|^2/N0) - log sum_{s: b_i(s)=1} exp(-|y-s|^2/N0)
    max-log:  L_i = (min_{s: b_i(s)=1} |y-s|^2 - min_{s: b_i(s)=0} |y-s|^2) / N0

``psk8_llr`` is the readable NumPy reference; ``psk8_llr_fast`` the numba kernel the receiver
runs (same formulas, one symbol at a time, no [n, 8] temporaries), tested against it.
"""

from __future__ import annotations

import numpy as np
from chaincast.fec.kernels import kernel

BITS_PER_SYMBOL = 3
_K = np.arange(8)
_GRAY = _K ^ (_K >> 1)
# POINTS[label] = constellation point carrying the triplet whose index is ``label``
POINTS = np.empty(8, dtype=np.complex64)
POINTS[_GRAY] = np.exp(1j * (np.pi / 4 + _K * np.pi / 4)).astype(np.complex64)
LABEL_BITS = ((np.arange(8)[:, None] >> np.array([2, 1, 0])) & 1).astype(np.uint8)  # [label, bit]


def psk8_map(bits: np.ndarray) -> np.ndarray:
    """bits uint8[3n] (triplets b0, b1, b2) -> complex64[n]."""
    b = np.asarray(bits, dtype=np.uint8).reshape(-1, 3)
    return POINTS[4 * b[:, 0] + 2 * b[:, 1] + b[:, 2]]


def psk8_llr(y: np.ndarray, noise_var: float, exact: bool = True) -> np.ndarray:
    """y complex64[n] -> float32[3n] LLRs (b0, b1, b2 per symbol)."""
    y = np.asarray(y, dtype=np.complex64).reshape(-1)
    n0 = max(float(noise_var), 1e-12)
    metric = -np.abs(y[:, None] - POINTS[None, :]) ** 2 / n0  # [n, 8] log-likelihood up to a constant
    out = np.empty((y.size, 3), dtype=np.float32)
    for i in range(3):
        zeros, ones = metric[:, LABEL_BITS[:, i] == 0], metric[:, LABEL_BITS[:, i] == 1]
        if exact:
            out[:, i] = np.logaddexp.reduce(zeros, axis=1) - np.logaddexp.reduce(ones, axis=1)
        else:
            out[:, i] = zeros.max(axis=1) - ones.max(axis=1)
    return out.reshape(-1)


def psk8_hard(y: np.ndarray) -> np.ndarray:
    """Nearest-point decisions: complex[n] -> bits uint8[3n]."""
    y = np.asarray(y, dtype=np.complex64).reshape(-1)
    label = np.argmin(np.abs(y[:, None] - POINTS[None, :]), axis=1)
    return LABEL_BITS[label].reshape(-1)


def psk8_llr_fast(y: np.ndarray, noise_var: float, exact: bool = True) -> np.ndarray:
    """Same as :func:`psk8_llr` (numba): y complex64[n] -> float32[3n]."""
    y = np.ascontiguousarray(np.asarray(y, dtype=np.complex64).reshape(-1))
    out = np.empty(3 * y.size, dtype=np.float32)
    _psk8_llr_kernel(y, np.float32(1.0 / max(float(noise_var), 1e-12)), exact, POINTS, LABEL_BITS, out)
    return out


# exp(x) of float32 stays a normal number for x > -87: a class whose best point is within this
# of the best point overall has a sum that log can take directly
_SHARED_EXP_RANGE = np.float32(-80.0)


@kernel(cache=True, boundscheck=False)
def _psk8_llr_kernel(y, inv_n0, exact, points, label_bits, out):  # pragma: no cover - compiled
    # exact: the eight exp(metric - max) are shared by the three bits (8 exps and 3 logs a symbol
    # instead of 24 and 6); a bit whose class lies further below the best point than float32's
    # exp reaches takes each class around its own maximum (high Es/N0, far from the decision)
    metric = np.empty(8, np.float32)
    e = np.empty(8, np.float32)
    for s in range(y.size):
        yr, yi = y[s].real, y[s].imag
        top = np.float32(-3e38)
        for p in range(8):
            dr = yr - points[p].real
            di = yi - points[p].imag
            metric[p] = -(dr * dr + di * di) * inv_n0
            top = max(top, metric[p])
        if exact:
            for p in range(8):
                e[p] = np.exp(metric[p] - top)
        for i in range(3):
            m0 = np.float32(-3e38)
            m1 = np.float32(-3e38)
            for p in range(8):
                if label_bits[p, i] == 0:
                    m0 = max(m0, metric[p])
                else:
                    m1 = max(m1, metric[p])
            if not exact:
                out[3 * s + i] = m0 - m1
            elif m0 - top > _SHARED_EXP_RANGE and m1 - top > _SHARED_EXP_RANGE:
                a0 = np.float32(0.0)
                a1 = np.float32(0.0)
                for p in range(8):
                    if label_bits[p, i] == 0:
                        a0 += e[p]
                    else:
                        a1 += e[p]
                out[3 * s + i] = np.log(a0 / a1)
            else:  # log-sum-exp around each class's maximum
                a0 = np.float32(0.0)
                a1 = np.float32(0.0)
                for p in range(8):
                    if label_bits[p, i] == 0:
                        a0 += np.exp(metric[p] - m0)
                    else:
                        a1 += np.exp(metric[p] - m1)
                out[3 * s + i] = m0 - m1 + np.log(a0) - np.log(a1)
