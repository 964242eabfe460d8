"""Streaming pulse-shaping modulator: symbols at the symbol rate -> samples at any sample rate."""

from __future__ import annotations

import numpy as np

from chaincast.sdr.interp import fir_interp, kernel_table, last_computable
from chaincast.sdr.rrc import rrc_pulse

_OVERSAMPLE = 1024


class Modulator:
    """RRC pulse shaping straight to the output rate, for any ratio sample_rate_hz / symbol_rate_hz.

    Output sample m is s(m / sps - span/2) with s(t) = sum_k a_k p(t - k), p the unit-energy RRC
    (t in symbols), evaluated at the exact fractional delay of each output sample from a
    1024-phase table (polyphase filter bank with linear interpolation between phases), so
    non-integer ratios such as 2.4 or 2.31 need no rational approximation. The first symbol's
    pulse peaks at output sample ``delay_samples`` = span/2 * sps. Output mean power is 1.0
    while unit-energy symbols are sent.

    ``process(symbols)`` keeps the last ``span_symbols`` symbols between calls, so any chunking
    gives the same samples as one call; ``flush()`` emits the tail (as if ``span_symbols`` zero
    symbols followed).
    """

    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, span_symbols: int = 16):
        self.sample_rate_hz = float(sample_rate_hz)
        self.symbol_rate_hz = float(symbol_rate_hz)
        self.rolloff = float(rolloff)
        self.span_symbols = int(span_symbols)
        self.samples_per_symbol = self.sample_rate_hz / self.symbol_rate_hz
        self._step = 1.0 / self.samples_per_symbol
        half = self.span_symbols / 2.0
        tab = kernel_table(lambda tau: rrc_pulse(tau - half, self.rolloff), self.span_symbols, _OVERSAMPLE)
        tab *= np.sqrt(_OVERSAMPLE / np.sum(tab[:-2] ** 2))  # integral of p^2 over the truncated span = 1
        self._table = tab
        self._hist = np.zeros(0, dtype=np.complex64)
        self._n_symbols = 0  # symbols received so far
        self._n_out = 0  # next output sample index

    @property
    def delay_samples(self) -> float:
        """Output sample index (fractional) at which symbol 0's pulse peaks."""
        return self.span_symbols / 2.0 * self.samples_per_symbol

    def process(self, symbols: np.ndarray) -> np.ndarray:
        """symbols complex64[n] -> samples complex64[m] (m ~ n * sps, depending on state)."""
        symbols = np.asarray(symbols, dtype=np.complex64).reshape(-1)
        buf = np.concatenate([self._hist, symbols])
        buf_start = self._n_symbols - self._hist.size
        self._n_symbols += symbols.size
        m1 = last_computable(self._n_symbols, self._step, 0.0)
        out = fir_interp(buf, buf_start, self._n_out, m1, self._step, 0.0, self._table, _OVERSAMPLE, self.span_symbols)
        self._n_out = max(self._n_out, m1)
        keep = min(buf.size, self.span_symbols)
        self._hist = buf[buf.size - keep:].copy()
        return out

    def flush(self) -> np.ndarray:
        """Emit the pulse tails of the last symbols: complex64[~span*sps]."""
        return self.process(np.zeros(self.span_symbols, dtype=np.complex64))
