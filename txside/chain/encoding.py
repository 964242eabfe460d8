"""Consensus encoding primitives: CompactSize varints and a bounds-checked reader.

All integers are little-endian. Short reads raise ChainDataError (never IndexError/assert),
so callers can report where malformed input broke.
"""

import struct

from chaincast.txside.chain.errors import ChainDataError

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")

# Largest CompactSize Core accepts when reading a length (MAX_SIZE in serialize.h).
MAX_SIZE = 0x02000000


def ser_compact_size(n: int) -> bytes:
    if n < 0:
        raise ChainDataError(f"negative CompactSize {n}")
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + _U16.pack(n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + _U32.pack(n)
    return b"\xff" + _U64.pack(n)


def ser_bytes(data: bytes) -> bytes:
    """Length-prefixed byte string (CompactSize length + data)."""
    return ser_compact_size(len(data)) + data


class ByteReader:
    """Sequential reader over a bytes-like buffer that raises ChainDataError when it runs out."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes | memoryview, pos: int = 0, end: int | None = None):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> int:
        start = self.pos
        if n > self.end - start:
            raise ChainDataError(
                f"short input reading {what}: need {n} bytes at offset {start}, have {self.end - start}"
            )
        self.pos = start + n
        return start

    def read(self, n: int, what: str = "bytes") -> bytes:
        start = self._need(n, what)
        return bytes(self.buf[start : start + n])

    def skip(self, n: int, what: str = "bytes") -> None:
        self._need(n, what)

    def u8(self, what: str = "u8") -> int:
        return self.buf[self._need(1, what)]

    def u32(self, what: str = "u32") -> int:
        return _U32.unpack_from(self.buf, self._need(4, what))[0]

    def i32(self, what: str = "i32") -> int:
        return _I32.unpack_from(self.buf, self._need(4, what))[0]

    def i64(self, what: str = "i64") -> int:
        return _I64.unpack_from(self.buf, self._need(8, what))[0]

    def compact_size(self, what: str = "CompactSize") -> int:
        first = self.u8(what)
        if first < 0xFD:
            return first
        if first == 0xFD:
            n, minimum = _U16.unpack_from(self.buf, self._need(2, what))[0], 0xFD
        elif first == 0xFE:
            n, minimum = _U32.unpack_from(self.buf, self._need(4, what))[0], 0x10000
        else:
            n, minimum = _U64.unpack_from(self.buf, self._need(8, what))[0], 0x100000000
        # Core rejects non-canonical encodings ("non-canonical ReadCompactSize()").
        if n < minimum:
            raise ChainDataError(f"non-canonical CompactSize {n} for {what} before offset {self.pos}")
        return n

    def count(self, what: str) -> int:
        """A CompactSize used as an element count or length (bounded like Core's MAX_SIZE)."""
        n = self.compact_size(what)
        if n > MAX_SIZE:
            raise ChainDataError(f"{what} {n} exceeds MAX_SIZE before offset {self.pos}")
        return n

    def var_bytes(self, what: str = "var bytes") -> bytes:
        return self.read(self.count(what + " length"), what)

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise ChainDataError(f"{self.end - self.pos} trailing bytes after {what} at offset {self.pos}")
