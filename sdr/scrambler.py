"""PRBS 1 + x^14 + x^15 for bit scrambling (energy dispersal), restarted every PL frame.

The generator is the one of EN 300 421 sec. 4.4.1 / EN 302 307-1 sec. 5.2.2 (BB scrambler):
a 15-stage Fibonacci shift register r1..r15, output r14 XOR r15, which is also shifted into r1.
The default seed loads r1..r15 = 1 0 0 1 0 1 0 1 0 0 0 0 0 0 0 (written MSB = r1, i.e. 0x4A80).
The period is 2^15 - 1 = 32767 bits. The FEC pipeline XORs coded bits with it (or flips LLR
signs where it is 1); this module only provides the sequence.
"""

from __future__ import annotations

import numpy as np
from chaincast.fec.kernels import kernel

DVB_SEED = 0b100101010000000
"""r1..r15 = 100101010000000, r1 as the most significant of 15 bits."""


@kernel(cache=True)
def _prbs_kernel(n: int, seed: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint8)
    s = seed & 0x7FFF
    for i in range(n):
        b = ((s >> 1) ^ s) & 1  # r14 xor r15 (bits 1 and 0 when r1 is bit 14)
        out[i] = b
        s = (s >> 1) | (b << 14)
    return out


def prbs_bits_reference(n: int, seed: int = DVB_SEED) -> np.ndarray:
    """Pure-Python reference of ``prbs_bits`` (same state convention)."""
    s = seed & 0x7FFF
    out = np.empty(n, dtype=np.uint8)
    for i in range(n):
        b = ((s >> 1) ^ s) & 1
        out[i] = b
        s = (s >> 1) | (b << 14)
    return out


def prbs_bits(n: int, seed: int = DVB_SEED) -> np.ndarray:
    """First ``n`` output bits (uint8[n], 0/1) of the 1 + x^14 + x^15 PRBS from ``seed``.

    ``seed`` is the 15-bit register content with r1 as the most significant bit; it must not be 0
    (an all-zero register gives all zeros).
    """
    return _prbs_kernel(int(n), int(seed))
