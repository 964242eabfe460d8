"""One link frame's coding chain for a MODCOD: data field <-> coded bits of one PL frame payload.

LDPC MODCODs (``inner_code == "ldpc"``)::

    data field (data_bytes) -> interleaved RS outer code (outer_bytes) -> bits, MSB first
      -> zero bits up to the LDPC code's k -> systematic LDPC codeword (n = coded_bits)
      -> 8PSK: bit interleaver (``Modcod.bit_levels``: codeword segments -> bits of the symbols)

The zero bits are known to the decoder, which gives them a certain LLR (code shortening).
The convolutional MODCOD (``"cc-k7-r1/2"``, ``qpsk-cc1/2``) runs the RS code into a terminated
convolutional code padded with zeros to ``coded_bits``.

Scrambling and mapping to symbols belong to the modem (chaincast.sdr); the decoder takes LLRs
(``float32``, log P0/P1) in channel order, already descrambled. ``decode_batch`` decodes many
frames of one MODCOD in one LDPC call, which is how the receiver uses it: the LDPC kernel
processes 32 frames side by side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from chaincast.fec import convolutional
from chaincast.fec.ldpc import decode as ldpc_decode
from chaincast.fec.ldpc import encode as ldpc_encode
from chaincast.fec.ldpc.codes import get_code
from chaincast.fec.outer import InterleavedReedSolomon
from chaincast.fec.wire.profile import Modcod

_KNOWN_BIT_LLR = np.float32(64.0)  # at the LDPC decoder's channel bound (62.5): as sure as an input can be


@dataclass(frozen=True)
class FrameDecodeResult:
    data: bytes
    ok: bool  # every RS codeword decoded (the link frame's CRC still has the last word)
    corrected_bytes: int  # by the RS outer code
    failed_codewords: int
    inner_ok: bool = True  # LDPC: zero syndrome (the convolutional code has no such check)
    iterations: int = 0  # LDPC iterations run
    tentative_bits: np.ndarray | None = None
    """When the LDPC decoder failed: its hard decisions re-encoded in channel order
    (uint8[coded_bits], as ``encode`` would give them), for decision-aided resynchronisation."""
    abandoned: bool = False  # LDPC gave the frame up as hopeless (noise), see ldpc.decode.ABANDON_AFTER


@functools.cache
def _level_permutation(n: int, bit_levels: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(perm, inverse)``, int64[n]: channel position ``p`` carries codeword bit ``perm[p]``."""
    levels = np.asarray(bit_levels)
    c = int(levels.max()) + 1
    if n % levels.size or np.any(np.bincount(levels, minlength=c) != levels.size // c):
        raise ValueError(f"bit levels {bit_levels} do not split {n} bits evenly over {c} levels")
    segments = np.arange(n).reshape(levels.size, -1)
    columns = [segments[levels == level].reshape(-1) for level in range(c)]  # codeword order within
    perm = np.stack(columns, axis=1).reshape(-1)  # row i = symbol i: bit i of each column
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(n)
    perm.setflags(write=False)  # cached: shared by every call
    inverse.setflags(write=False)
    return perm, inverse


def interleave_bits(bits: np.ndarray, bit_levels: tuple[int, ...]) -> np.ndarray:
    """8PSK bit interleaver: codeword ``bits[..., n]`` -> channel order ``[..., n]``.

    The codeword is cut into ``len(bit_levels)`` equal segments; segment ``j`` goes to bit
    ``bit_levels[j]`` of the symbols, each bit level taking its segments in codeword order, and
    symbol ``i`` carries the ``i``-th bit of every level. Three segments make the plain column
    interleaver (``chaincast.fec.wire.profile.column_levels``); empty ``bit_levels``: no interleaver.
    """
    if not bit_levels:
        return bits
    perm, _ = _level_permutation(bits.shape[-1], tuple(bit_levels))
    return bits[..., perm]


def deinterleave_bits(values: np.ndarray, bit_levels: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`interleave_bits` (for bits or LLRs): channel order -> codeword order."""
    if not bit_levels:
        return values
    _, inverse = _level_permutation(values.shape[-1], tuple(bit_levels))
    return values[..., inverse]


class FrameCodec:
    def __init__(self, modcod: Modcod, max_iterations: int = ldpc_decode.DEFAULT_MAX_ITERATIONS):
        self.modcod = modcod
        self.outer = InterleavedReedSolomon(modcod.rs_n, modcod.rs_nsym, modcod.rs_codewords)
        self.outer_bits = 8 * self.outer.coded_bytes
        self.max_iterations = max_iterations
        if modcod.inner_code == "ldpc":
            self.ldpc = get_code(modcod.code_rate, modcod.coded_bits)
            if self.outer_bits > self.ldpc.k:
                raise ValueError(f"{modcod.name}: {self.outer_bits} outer bits exceed k={self.ldpc.k}")
            self.inner_bits = self.ldpc.n
        elif modcod.inner_code == "cc-k7-r1/2":
            self.ldpc = None
            self.inner_bits = convolutional.coded_length(self.outer_bits)
        else:
            raise ValueError(f"inner code {modcod.inner_code!r} is not implemented")
        if self.inner_bits > modcod.coded_bits:
            raise ValueError(f"{modcod.name}: {self.inner_bits} coded bits do not fit {modcod.coded_bits}")

    @property
    def data_bytes(self) -> int:
        return self.outer.data_bytes

    def encode(self, data: bytes) -> np.ndarray:
        """``data: bytes[data_bytes]`` -> ``uint8[coded_bits]`` in channel order."""
        outer = np.unpackbits(np.frombuffer(self.outer.encode(data), dtype=np.uint8))
        if self.ldpc is None:
            coded = convolutional.encode(outer)
            return np.concatenate([coded, np.zeros(self.modcod.coded_bits - coded.size, np.uint8)])
        info = np.zeros(self.ldpc.k, np.uint8)
        info[: outer.size] = outer
        return interleave_bits(ldpc_encode.encode(self.ldpc, info), self.modcod.bit_levels)

    def decode(self, llr: np.ndarray) -> FrameDecodeResult:
        """``llr: float32[coded_bits]`` (descrambled, channel order; padding LLRs are ignored)."""
        if llr.shape != (self.modcod.coded_bits,):
            raise ValueError(f"need {self.modcod.coded_bits} LLRs, got shape {llr.shape}")
        return self.decode_batch(llr[None, :])[0]

    def decode_batch(self, llr: np.ndarray) -> list[FrameDecodeResult]:
        """``llr: float32[batch, coded_bits]`` -> one result per frame."""
        llr = np.asarray(llr, dtype=np.float32)
        if llr.ndim != 2 or llr.shape[1] != self.modcod.coded_bits:
            raise ValueError(f"need LLRs of shape [batch, {self.modcod.coded_bits}], got {llr.shape}")
        if self.ldpc is None:
            return [self._outer(convolutional.viterbi_decode(row[: self.inner_bits], self.outer_bits))
                    for row in llr]
        llr = deinterleave_bits(llr, self.modcod.bit_levels)
        llr = np.ascontiguousarray(llr)
        llr[:, self.outer_bits : self.ldpc.k] = _KNOWN_BIT_LLR
        result = ldpc_decode.decode(self.ldpc, llr, max_iterations=self.max_iterations)
        info = result.info_bits
        out = []
        for i in range(llr.shape[0]):
            ok = bool(result.ok[i])
            tentative = None if ok else interleave_bits(result.codeword[i], self.modcod.bit_levels)
            out.append(self._outer(info[i, : self.outer_bits], ok, int(result.iterations[i]), tentative,
                                   bool(result.abandoned[i])))
        return out

    def _outer(self, bits: np.ndarray, inner_ok: bool = True, iterations: int = 0,
               tentative: np.ndarray | None = None, abandoned: bool = False) -> FrameDecodeResult:
        result = self.outer.decode(np.packbits(bits).tobytes())
        return FrameDecodeResult(result.data, result.ok, result.corrected_bytes, result.failed_codewords,
                                 inner_ok, iterations, tentative, abandoned)
