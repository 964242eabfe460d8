"""Reed-Solomon outer code over GF(2^8) (reedsolo's compiled ``creedsolo``), byte-interleaved.

A link frame's data field is split into ``codewords`` messages of ``k = n - nsym`` bytes; each is
encoded to a (possibly shortened) RS(n, k) codeword, and the codewords are interleaved byte by
byte so that a burst of errors left by the inner decoder is spread over all of them: coded byte
``j * codewords + i`` is byte ``j`` of codeword ``i``. Up to ``nsym // 2`` byte errors per codeword
are corrected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # the compiled codec ships in reedsolo 2.1.1b1 wheels; the pure one is 10-50x slower
    from creedsolo import ReedSolomonError, RSCodec
except ImportError:  # pragma: no cover - exercised only where the wheel has no extension
    from reedsolo import ReedSolomonError, RSCodec


@dataclass(frozen=True)
class OuterResult:
    """``data`` is the decoded field (uncorrectable codewords are passed through uncorrected)."""

    data: bytes
    ok: bool
    corrected_bytes: int
    failed_codewords: int


class InterleavedReedSolomon:
    def __init__(self, n: int, nsym: int, codewords: int):
        if not (0 < nsym < n <= 255) or codewords < 1:
            raise ValueError(f"bad RS parameters n={n} nsym={nsym} codewords={codewords}")
        self.n, self.nsym, self.codewords = n, nsym, codewords
        self.k = n - nsym
        # nsize=255 with shorter messages gives shortened codewords, as the standard codes do.
        self._codec = RSCodec(nsym, nsize=255)

    @property
    def data_bytes(self) -> int:
        return self.k * self.codewords

    @property
    def coded_bytes(self) -> int:
        return self.n * self.codewords

    def encode(self, data: bytes) -> bytes:
        if len(data) != self.data_bytes:
            raise ValueError(f"RS encode needs {self.data_bytes} bytes, got {len(data)}")
        words = np.empty((self.codewords, self.n), dtype=np.uint8)
        for i in range(self.codewords):
            msg = data[i * self.k : (i + 1) * self.k]
            words[i] = np.frombuffer(bytes(self._codec.encode(bytearray(msg))), dtype=np.uint8)
        return words.T.tobytes()  # interleave: column-major over codewords

    def decode(self, coded: bytes) -> OuterResult:
        if len(coded) != self.coded_bytes:
            raise ValueError(f"RS decode needs {self.coded_bytes} bytes, got {len(coded)}")
        words = np.frombuffer(coded, dtype=np.uint8).reshape(self.n, self.codewords).T
        out = bytearray()
        corrected = failed = 0
        for word in words:
            word_bytes = word.tobytes()
            try:
                msg, _, errata = self._codec.decode(bytearray(word_bytes))
                out += msg
                corrected += len(errata)
            except ReedSolomonError:
                out += word_bytes[: self.k]
                failed += 1
        return OuterResult(bytes(out), failed == 0, corrected, failed)
