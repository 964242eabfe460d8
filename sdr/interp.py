"""Fractional-delay FIR evaluation shared by the modulator (RRC shaping) and the channel
(sample-clock resampling).

Both compute, for output samples m0 <= m < m1,

    y[m] = sum_{j=0}^{L-1} x[k - j] * g(frac + j),   u = m * step + offset, k = floor(u), frac = u - k

where x is the input stream (absolute index), and g(tau), 0 <= tau < L, is a filter kernel given
as a table ``table[i] = g(i / oversample)`` (length L*oversample + 2) and linearly interpolated
between table points (the polyphase filter bank of Rice sec. 8.4.4 with linear interpolation
between branches). Because every output sample is a function of its absolute index only, the
result does not depend on how the input stream was chunked.
"""

from __future__ import annotations

import numpy as np
from chaincast.fec.kernels import kernel


def kernel_table(g, ntaps: int, oversample: int) -> np.ndarray:
    """Tabulate a vectorised function ``g(tau)`` on tau = i/oversample, i = 0 .. ntaps*oversample+1.

    float64[ntaps*oversample + 2]; the last two entries pad for the linear interpolation.
    """
    tau = np.arange(ntaps * oversample + 2, dtype=np.float64) / oversample
    tab = np.asarray(g(tau), dtype=np.float64)
    tab[tau >= ntaps] = 0.0
    return tab


def windowed_sinc_table(ntaps: int, oversample: int, kaiser_beta: float = 7.0) -> np.ndarray:
    """Kaiser-windowed sinc interpolator (band edge 0.5 cycles/sample), centred at tau = ntaps/2.

    With ``offset = ntaps/2`` in ``fir_interp`` this reproduces x(u) at fractional positions u.
    """
    def g(tau):
        t = tau - ntaps / 2.0
        x = np.clip(1.0 - (t / (ntaps / 2.0)) ** 2, 0.0, None)
        w = np.i0(kaiser_beta * np.sqrt(x)) / np.i0(kaiser_beta)
        return np.sinc(t) * w
    return kernel_table(g, ntaps, oversample)


@kernel(cache=True)
def _fir_interp_kernel(x, x_start, m0, m1, step, offset, table, oversample, ntaps):
    out = np.empty(m1 - m0, dtype=np.complex64)
    nx = x.size
    for m in range(m0, m1):
        u = m * step + offset
        k = np.floor(u)
        frac = u - k
        kk = np.int64(k) - x_start
        acc_re = 0.0
        acc_im = 0.0
        for j in range(ntaps):
            idx = kk - j
            if idx < 0 or idx >= nx:
                continue
            t = (frac + j) * oversample
            i = np.int64(t)
            w = t - i
            gv = table[i] * (1.0 - w) + table[i + 1] * w
            acc_re += x[idx].real * gv
            acc_im += x[idx].imag * gv
        out[m - m0] = complex(acc_re, acc_im)
    return out


def fir_interp_reference(x, x_start, m0, m1, step, offset, table, oversample, ntaps):
    """Vectorised NumPy reference of the numba kernel (same arithmetic, float64)."""
    m = np.arange(m0, m1, dtype=np.int64)
    u = m * step + offset
    k = np.floor(u)
    frac = u - k
    j = np.arange(ntaps)
    idx = k.astype(np.int64)[:, None] - x_start - j[None, :]
    t = (frac[:, None] + j[None, :]) * oversample
    i = t.astype(np.int64)
    w = t - i
    gv = table[i] * (1.0 - w) + table[i + 1] * w
    ok = (idx >= 0) & (idx < len(x))
    xv = np.where(ok, np.asarray(x, dtype=np.complex128)[np.clip(idx, 0, max(len(x) - 1, 0))], 0)
    return (xv * gv).sum(axis=1).astype(np.complex64)


def fir_interp(x: np.ndarray, x_start: int, m0: int, m1: int, step: float, offset: float,
               table: np.ndarray, oversample: int, ntaps: int) -> np.ndarray:
    """Evaluate y[m0:m1] (complex64[m1-m0]) from x (complex64[n], x[0] has absolute index x_start).

    Input samples outside x count as zero.
    """
    if m1 <= m0:
        return np.zeros(0, dtype=np.complex64)
    return _fir_interp_kernel(np.ascontiguousarray(x, dtype=np.complex64), np.int64(x_start), np.int64(m0),
                              np.int64(m1), float(step), float(offset), table, np.int64(oversample), np.int64(ntaps))


def last_computable(n_total: int, step: float, offset: float) -> int:
    """Smallest m such that floor(m*step + offset) >= n_total, i.e. the first output sample
    that would need an input sample not yet received (absolute indices)."""
    m = max(int(np.ceil((n_total - offset) / step)) - 2, 0)
    while np.floor(m * step + offset) < n_total:
        m += 1
    while m > 0 and np.floor((m - 1) * step + offset) >= n_total:
        m -= 1
    return m
