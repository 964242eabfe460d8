"""Root-raised-cosine (RRC) pulse, at any (non-integer) number of samples per symbol.

Normalisation (project-wide): the continuous pulse ``rrc_pulse`` has unit energy over one symbol
period, integral p(t)^2 dt = T, so a TX signal sum_k a_k p(t - kT) with E|a|^2 = 1 has mean
power 1. Sampled taps ``rrc_taps`` are scaled so that sum(h^2) == samples_per_symbol exactly:
TX shaping with ``h`` gives output power 1.0 per sample, and the RX matched filter
``h / samples_per_symbol`` (see ``matched_filter_taps``) gives back unit-energy symbols
(the cascade h * h peaks at sum(h^2) = samples_per_symbol).
"""

from __future__ import annotations

import numpy as np


def rrc_pulse(t_symbols: np.ndarray, rolloff: float) -> np.ndarray:
    """RRC impulse response at times ``t_symbols`` (float64[n], in symbol periods).

    Closed form from e.g. Rice, "Digital Communications: A Discrete-Time Approach", eq. (A.30),
    with T = 1, including the limits at t = 0 and t = +-1/(4*rolloff). Returns float64[n].
    """
    t = np.asarray(t_symbols, dtype=np.float64)
    b = float(rolloff)
    out = np.empty_like(t)
    at_zero = np.abs(t) < 1e-9
    at_sing = (b > 0) & (np.abs(np.abs(t) - 1.0 / (4.0 * b if b > 0 else 1.0)) < 1e-9)
    other = ~(at_zero | at_sing)
    tt = t[other]
    num = np.sin(np.pi * tt * (1 - b)) + 4 * b * tt * np.cos(np.pi * tt * (1 + b))
    den = np.pi * tt * (1 - (4 * b * tt) ** 2)
    out[other] = num / den
    out[at_zero] = 1 - b + 4 * b / np.pi
    if b > 0:
        x = np.pi / (4 * b)
        out[at_sing] = (b / np.sqrt(2)) * ((1 + 2 / np.pi) * np.sin(x) + (1 - 2 / np.pi) * np.cos(x))
    return out


def rrc_taps(samples_per_symbol: float, rolloff: float, span_symbols: int) -> np.ndarray:
    """Symmetric RRC FIR sampled every 1/samples_per_symbol symbols: float32[2M+1].

    ``M = floor(span_symbols * samples_per_symbol / 2)``; centre tap at index M (delay M samples).
    Scaled so that ``sum(h**2) == samples_per_symbol`` (see module docstring).
    """
    sps = float(samples_per_symbol)
    half = int(np.floor(span_symbols * sps / 2))
    t = np.arange(-half, half + 1, dtype=np.float64) / sps
    h = rrc_pulse(t, rolloff)
    h *= np.sqrt(sps / np.sum(h * h))
    return h.astype(np.float32)


def matched_filter_taps(samples_per_symbol: float, rolloff: float, span_symbols: int) -> np.ndarray:
    """RX matched filter: ``rrc_taps(...) / samples_per_symbol`` (float32[2M+1]).

    Applied to a unit-power TX signal it returns unit-energy symbols at the symbol instants.
    """
    return (rrc_taps(samples_per_symbol, rolloff, span_symbols) / np.float32(samples_per_symbol)).astype(np.float32)
