"""Symbol mapping: QPSK (Gray), 8PSK (``psk8``) and DVB-S2-style pi/2-BPSK. Conventions in ``chaincast.sdr``."""

from __future__ import annotations

import numpy as np

from chaincast.sdr import psk8

_INV_SQRT2 = np.float32(1.0 / np.sqrt(2.0))


def qpsk_map(bits: np.ndarray) -> np.ndarray:
    """Gray QPSK: bits uint8[2n] (pairs b0, b1) -> complex64[n], ((1-2b0) + j(1-2b1))/sqrt(2)."""
    b = np.asarray(bits, dtype=np.uint8).reshape(-1, 2)
    re = (1 - 2 * b[:, 0].astype(np.float32)) * _INV_SQRT2
    im = (1 - 2 * b[:, 1].astype(np.float32)) * _INV_SQRT2
    return (re + 1j * im).astype(np.complex64)


def qpsk_llr(y: np.ndarray, noise_var: float) -> np.ndarray:
    """Exact QPSK LLRs (= max-log for Gray QPSK): y complex64[n] -> float32[2n].

    LLR(b0) = 2*sqrt(2)*Re(y)/N0, LLR(b1) = 2*sqrt(2)*Im(y)/N0 with N0 = ``noise_var`` per
    complex symbol (each real dimension has variance N0/2, amplitude 1/sqrt(2)).
    """
    y = np.asarray(y, dtype=np.complex64)
    scale = np.float32(2.0 * np.sqrt(2.0) / max(float(noise_var), 1e-12))
    out = np.empty(2 * y.size, dtype=np.float32)
    out[0::2] = y.real * scale
    out[1::2] = y.imag * scale
    return out


def qpsk_hard(y: np.ndarray) -> np.ndarray:
    """Hard QPSK decisions: complex[n] -> bits uint8[2n] (sign of I, sign of Q)."""
    y = np.asarray(y)
    out = np.empty(2 * y.size, dtype=np.uint8)
    out[0::2] = y.real < 0
    out[1::2] = y.imag < 0
    return out


def pi2_bpsk_carrier(n: int, start: int = 0) -> np.ndarray:
    """The bit-0 symbol of pi/2-BPSK at positions start..start+n-1: e^{j pi/4} e^{j pi/2 (k mod 2)}.

    complex64[n]. (EN 302 307-1 sec. 5.4.1 uses the same rotation for the PL header.)
    """
    k = np.arange(start, start + n)
    rot = np.where(k % 2 == 0, 1.0 + 0j, 1j)
    return (rot * np.exp(1j * np.pi / 4)).astype(np.complex64)


def pi2_bpsk(bits: np.ndarray) -> np.ndarray:
    """pi/2-BPSK: bits uint8[n] -> complex64[n], symbol k = (1-2b_k) e^{j pi/4} e^{j pi/2 (k mod 2)}."""
    b = np.asarray(bits, dtype=np.uint8)
    return ((1 - 2 * b.astype(np.float32)) * pi2_bpsk_carrier(b.size)).astype(np.complex64)


def psk_map(bits: np.ndarray, bits_per_symbol: int) -> np.ndarray:
    """Gray QPSK (2) or 8PSK (3): bits uint8[bits_per_symbol * n] -> complex64[n]."""
    if bits_per_symbol == 2:
        return qpsk_map(bits)
    if bits_per_symbol == 3:
        return psk8.psk8_map(bits)
    raise ValueError(f"no PSK mapping for {bits_per_symbol} bits per symbol")


def psk_llr(y: np.ndarray, noise_var: float, bits_per_symbol: int) -> np.ndarray:
    """Exact LLRs of Gray QPSK (2) or 8PSK (3): y complex64[n] -> float32[bits_per_symbol * n]."""
    if bits_per_symbol == 2:
        return qpsk_llr(y, noise_var)
    if bits_per_symbol == 3:
        return psk8.psk8_llr_fast(y, noise_var)
    raise ValueError(f"no PSK demapper for {bits_per_symbol} bits per symbol")
