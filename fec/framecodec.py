"""One link frame's coding chain for a MODCOD: data field <-> coded bits of one PL frame payload.

    data field (Modcod.data_bytes) -> interleaved RS outer code -> bits (MSB first)
      -> inner code -> zero padding up to Modcod.coded_bits

Scrambling and mapping to symbols belong to the modem (chaincast.sdr); the decoder takes LLRs that
are already descrambled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chaincast.fec import convolutional
from chaincast.fec.outer import InterleavedReedSolomon
from chaincast.fec.wire.profile import Modcod


@dataclass(frozen=True)
class FrameDecodeResult:
    data: bytes
    ok: bool  # every RS codeword decoded (the link frame's CRC still has the last word)
    corrected_bytes: int
    failed_codewords: int


class FrameCodec:
    def __init__(self, modcod: Modcod):
        if modcod.inner_code != "cc-k7-r1/2":
            raise ValueError(f"inner code {modcod.inner_code!r} is not implemented")
        self.modcod = modcod
        self.outer = InterleavedReedSolomon(modcod.rs_n, modcod.rs_nsym, modcod.rs_codewords)
        self.info_bits = 8 * self.outer.coded_bytes
        self.inner_bits = convolutional.coded_length(self.info_bits)
        if self.inner_bits > modcod.coded_bits:
            raise ValueError(f"{modcod.name}: {self.inner_bits} coded bits do not fit {modcod.coded_bits}")

    @property
    def data_bytes(self) -> int:
        return self.outer.data_bytes

    def encode(self, data: bytes) -> np.ndarray:
        """``data: bytes[data_bytes]`` -> ``uint8[coded_bits]``."""
        outer = np.frombuffer(self.outer.encode(data), dtype=np.uint8)
        coded = convolutional.encode(np.unpackbits(outer))
        return np.concatenate([coded, np.zeros(self.modcod.coded_bits - coded.size, np.uint8)])

    def decode(self, llr: np.ndarray) -> FrameDecodeResult:
        """``llr: float32[coded_bits]`` (descrambled; padding LLRs are ignored)."""
        if llr.shape != (self.modcod.coded_bits,):
            raise ValueError(f"need {self.modcod.coded_bits} LLRs, got shape {llr.shape}")
        bits = convolutional.viterbi_decode(llr[: self.inner_bits], self.info_bits)
        result = self.outer.decode(np.packbits(bits).tobytes())
        return FrameDecodeResult(result.data, result.ok, result.corrected_bytes, result.failed_codewords)
