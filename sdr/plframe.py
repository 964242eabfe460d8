"""Physical-layer (PL) frame at symbol level.

Layout (all symbols unit energy)::

    [SOF 64][PLS 128][slot 1 .. slot 16][pilots 36][slot 17 .. slot 32][pilots 36] ... [last slot]

* SOF: pi/2-BPSK of the 64-bit constant ``SOF_BITS`` (0xA464389D0CB82AD3, MSB first), found by a
  random-restart bit-flip search minimising the larger of the peak aperiodic autocorrelation
  sidelobe of the sequence (8/64 = -18 dB) and of its differential sequence b_k xor b_{k-1}
  (7/63), so both coherent and differential (CFO-tolerant) correlation give a sharp peak.
* PLS: the 8-bit ``Pls.pack()`` value encoded with first-order Reed-Muller RM(1,7)
  (n = 128, k = 8, d = 64): bit 7 of the PLS selects the all-ones word, bits 6..0 form L and
  code bit n = parity(L & n) (Lin & Costello ch. 4.3). XORed with ``PLS_SCRAMBLE`` (128 bits,
  chosen by search so that no shift of any header correlates differentially with the SOF
  above 23/63), then pi/2-BPSK with the symbol
  index continuing from the SOF (EN 302 307-1 sec. 5.5.2 does the same with RM(1,6)).
  Soft ML decoding of all 256 codewords is one 128-point fast Hadamard transform.
* Payload: ``slots`` x 90 symbols (``chaincast.fec.wire.profile.SLOT_SYMBOLS``); with pilots on,
  a block of 36 symbols (1+1j)/sqrt(2) follows every 16th slot except the last slot.
"""

from __future__ import annotations

import numpy as np

from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import SLOT_SYMBOLS

from chaincast.sdr.modem import pi2_bpsk, pi2_bpsk_carrier

SOF_SYMBOLS = 64
PLS_SYMBOLS = 128
HEADER_SYMBOLS = SOF_SYMBOLS + PLS_SYMBOLS
PILOT_BLOCK_SYMBOLS = 36
PILOT_PERIOD_SLOTS = 16
PILOT_SYMBOL = np.complex64((1 + 1j) / np.sqrt(2))

SOF_HEX = 0xA464389D0CB82AD3
PLS_SCRAMBLE_HEX = 0x5E5135630B9D525F2FA0A2887039FC2D


def _hex_bits(value: int, nbits: int) -> np.ndarray:
    return np.array([(value >> (nbits - 1 - i)) & 1 for i in range(nbits)], dtype=np.uint8)


SOF_BITS = _hex_bits(SOF_HEX, SOF_SYMBOLS)
"""uint8[64], transmitted first to last."""
PLS_SCRAMBLE = _hex_bits(PLS_SCRAMBLE_HEX, PLS_SYMBOLS)
"""uint8[128] XORed onto the RM(1,7) codeword."""

# RM(1,7) generator: row 0 = all ones (PLS bit 7), rows 1..7 = bits 6..0 of the code bit index.
_N = np.arange(PLS_SYMBOLS)
_RM_GEN = np.vstack([np.ones(PLS_SYMBOLS, dtype=np.uint8)] + [((_N >> j) & 1).astype(np.uint8) for j in range(6, -1, -1)])


def sof_symbols() -> np.ndarray:
    """complex64[64]: the SOF as transmitted (frame symbols 0..63)."""
    return pi2_bpsk(SOF_BITS)


def encode_pls_bits(pls_value: int) -> np.ndarray:
    """RM(1,7) codeword XOR PLS_SCRAMBLE for an 8-bit PLS value: uint8[128]."""
    msg = _hex_bits(int(pls_value) & 0xFF, 8)
    return ((msg.astype(np.int64) @ _RM_GEN) % 2).astype(np.uint8) ^ PLS_SCRAMBLE


def encode_pls(pls_value: int) -> np.ndarray:
    """complex64[128]: the PLS field symbols (frame symbols 64..191, pi/2 rotation continued)."""
    bits = encode_pls_bits(pls_value)
    return ((1 - 2 * bits.astype(np.float32)) * pi2_bpsk_carrier(PLS_SYMBOLS, start=SOF_SYMBOLS)).astype(np.complex64)


def header_symbols(pls_value: int) -> np.ndarray:
    """complex64[192]: SOF followed by the PLS field."""
    return np.concatenate([sof_symbols(), encode_pls(pls_value)])


def pls_soft_from_symbols(y: np.ndarray) -> np.ndarray:
    """Phase-corrected PLS symbols complex[128] -> soft bits float32[128] (positive = bit 0).

    Projection onto the pi/2-BPSK bit-0 point; scale is irrelevant for ``decode_pls``.
    """
    return np.real(np.asarray(y) * np.conj(pi2_bpsk_carrier(PLS_SYMBOLS, start=SOF_SYMBOLS))).astype(np.float32)


def _fht(x: np.ndarray) -> np.ndarray:
    """Unnormalised fast Walsh-Hadamard transform along the last axis (length 2^m), Hadamard order.

    out[..., L] = sum_n x[..., n] (-1)^{parity(L & n)}.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    n = x.shape[-1]
    lead = x.shape[:-1]
    h = 1
    while h < n:
        x = x.reshape(lead + (n // (2 * h), 2, h))
        a = x[..., 0, :].copy()
        b = x[..., 1, :]
        x[..., 0, :] = a + b
        x[..., 1, :] = a - b
        x = x.reshape(lead + (n,))
        h *= 2
    return x


def decode_pls_batch(soft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised ``decode_pls`` over soft float[m, 128] -> (int64[m] values, float64[m] metrics)."""
    s = np.asarray(soft, dtype=np.float64).reshape(-1, PLS_SYMBOLS)
    s = s * (1.0 - 2.0 * PLS_SCRAMBLE)  # descramble: flip the soft sign where the pattern is 1
    c = _fht(s)
    best = np.argmax(np.abs(c), axis=1)
    cbest = c[np.arange(c.shape[0]), best]
    value = (best & 0x7F) | np.where(cbest < 0, 0x80, 0)
    energy = np.sqrt(PLS_SYMBOLS * np.sum(s * s, axis=1))
    metric = np.where(energy > 0, np.abs(cbest) / np.where(energy > 0, energy, 1.0), 0.0)
    return value.astype(np.int64), metric


def decode_pls(soft: np.ndarray) -> tuple[int, float]:
    """Soft ML decode of the PLS field: soft float[128] (positive = bit 0, as sent) -> (value, metric).

    ML over the 256 RM(1,7) codewords = the largest |Walsh-Hadamard coefficient| of the
    descrambled soft vector; its sign gives PLS bit 7. ``metric`` = |C_best| / sqrt(128 * sum s^2)
    in [0, 1]: 1 for a noiseless codeword, about 0.7 at Es/N0 = -3 dB, about 0.25 on pure noise.
    """
    v, m = decode_pls_batch(soft)
    return int(v[0]), float(m[0])


def pilot_blocks(slots: int, pilots: bool) -> int:
    """Number of 36-symbol pilot blocks: one after every 16th slot except the last slot."""
    return (slots - 1) // PILOT_PERIOD_SLOTS if pilots else 0


def frame_symbols(slots: int, pilots: bool) -> int:
    """Total symbols of a PL frame (header + payload + pilot blocks)."""
    return HEADER_SYMBOLS + slots * SLOT_SYMBOLS + pilot_blocks(slots, pilots) * PILOT_BLOCK_SYMBOLS


def pilot_block_starts(slots: int, pilots: bool) -> np.ndarray:
    """int64[n_blocks]: frame-relative index of the first symbol of each pilot block."""
    i = np.arange(pilot_blocks(slots, pilots))
    seg = PILOT_PERIOD_SLOTS * SLOT_SYMBOLS
    return (HEADER_SYMBOLS + (i + 1) * seg + i * PILOT_BLOCK_SYMBOLS).astype(np.int64)


def pilot_indices(slots: int, pilots: bool) -> np.ndarray:
    """int64[n_blocks*36]: frame-relative indices of all pilot symbols."""
    starts = pilot_block_starts(slots, pilots)
    return (starts[:, None] + np.arange(PILOT_BLOCK_SYMBOLS)[None, :]).reshape(-1).astype(np.int64)


def payload_indices(slots: int, pilots: bool) -> np.ndarray:
    """int64[slots*90]: frame-relative indices of the payload symbols, in order."""
    mask = np.ones(frame_symbols(slots, pilots), dtype=bool)
    mask[:HEADER_SYMBOLS] = False
    mask[pilot_indices(slots, pilots)] = False
    return np.flatnonzero(mask).astype(np.int64)


def build_frame(payload: np.ndarray, pls_value: int) -> np.ndarray:
    """Assemble one PL frame: payload complex64[slots*90] + PLS value -> complex64[frame_symbols].

    ``slots`` and ``pilots`` come from ``Pls.unpack(pls_value)``. Raises ValueError if the
    payload length does not match (a caller bug, not signal data).
    """
    pls = Pls.unpack(int(pls_value))
    payload = np.asarray(payload, dtype=np.complex64)
    if payload.size != pls.slots * SLOT_SYMBOLS:
        raise ValueError(f"payload has {payload.size} symbols, PLS {pls_value:#04x} needs {pls.slots * SLOT_SYMBOLS}")
    out = np.empty(frame_symbols(pls.slots, pls.pilots), dtype=np.complex64)
    out[:HEADER_SYMBOLS] = header_symbols(pls_value)
    out[payload_indices(pls.slots, pls.pilots)] = payload
    out[pilot_indices(pls.slots, pls.pilots)] = PILOT_SYMBOL
    return out
