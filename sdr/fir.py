"""FIR filtering of complex samples with real taps (the matched filter's inner loop).

``fir_real_taps(x, taps)`` is 'valid' convolution: ``x: complex64[n + L - 1]``, ``taps:
float32[L]`` -> ``complex64[n]`` with ``y[i] = sum_k taps[k] * x[i + L - 1 - k]``, i.e. what
``scipy.signal.lfilter(taps, 1, x)`` gives once its state is primed with the first L - 1 samples
(``fir_reference``, the readable version the tests compare with). The numba kernel views the
complex samples as interleaved float32 pairs, so one real multiply-add per tap serves I and Q and
the inner loop runs over contiguous memory (it vectorises; about 10x scipy's lfilter here).
"""

from __future__ import annotations

import numpy as np
from chaincast.fec.kernels import kernel


def fir_reference(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    return np.convolve(np.asarray(x, np.complex128), np.asarray(taps, np.float64), mode="valid").astype(np.complex64)


def fir_real_taps(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.complex64)
    taps = np.ascontiguousarray(taps[::-1], dtype=np.float32)  # convolution = correlation with reversed taps
    n = x.size - taps.size + 1
    if n <= 0:
        return np.zeros(0, np.complex64)
    out = np.zeros(n, np.complex64)
    _correlate_pairs(x.view(np.float32), taps, out.view(np.float32))
    return out


@kernel(cache=True, boundscheck=False, nogil=True)
def _correlate_pairs(x2, taps, out2):  # pragma: no cover - compiled
    m = out2.size
    for k in range(taps.size):
        h = taps[k]
        base = 2 * k
        for i in range(m):
            out2[i] += h * x2[base + i]
