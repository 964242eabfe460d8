"""Packet: one RaptorQ encoding symbol of one object.

Header (big-endian), 48 bytes, followed by ``symbol_size`` bytes of symbol data::

    offset size field
    0      1    version            (PACKET_VERSION)
    1      1    object type        (chaincast.fec.wire.objects.ObjectType)
    2      32   object id          (for a block: its hash, in Bitcoin's internal byte order)
    34     4    transfer length    (bytes RaptorQ encodes: payload + 32-byte SHA-256 trailer)
    38     2    symbol size        (bytes per symbol, RaptorQ's T; a multiple of SYMBOL_ALIGN)
    40     4    symbol id          (RaptorQ FEC payload ID, RFC 6330 section 3.2: SBN u8 + ESI u24)
    44     4    CRC-32C            over header bytes 0..43 and the symbol data
    48     T    symbol data

Transfer length and symbol size are RaptorQ's "object transmission information" (RFC 6330 3.3.2):
every packet carries them, so a receiver can start decoding from any packet it hears.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from chaincast.fec.crc import crc32c
from chaincast.fec.wire.errors import WireError

PACKET_VERSION = 1
_HEADER = struct.Struct(">BB32sIHI")  # everything before the CRC
_CRC = struct.Struct(">I")
HEADER_BYTES = _HEADER.size + _CRC.size
assert HEADER_BYTES == 48  # import-time check of the layout above, not of input
SYMBOL_ALIGN = 8  # raptorq keeps a symbol size unchanged only when it is a multiple of 8
MAX_TRANSFER_LENGTH = 1 << 30  # far above any block; bounds what a forged header can ask for


@dataclass(frozen=True)
class Packet:
    object_type: int
    object_id: bytes
    transfer_length: int
    symbol_size: int
    symbol_id: int
    symbol: bytes

    def __post_init__(self) -> None:
        if len(self.object_id) != 32:
            raise WireError(f"object id must be 32 bytes, got {len(self.object_id)}")
        if not 0 < self.symbol_size <= 0xFFFF or self.symbol_size % SYMBOL_ALIGN:
            raise WireError(f"symbol size {self.symbol_size} is not a positive multiple of {SYMBOL_ALIGN}")
        if len(self.symbol) != self.symbol_size:
            raise WireError(f"symbol of {len(self.symbol)} bytes does not match symbol size {self.symbol_size}")
        if not 0 < self.transfer_length <= MAX_TRANSFER_LENGTH:
            raise WireError(f"transfer length {self.transfer_length} out of range")
        if not 0 <= self.object_type <= 0xFF or not 0 <= self.symbol_id <= 0xFFFFFFFF:
            raise WireError("object type or symbol id out of range")

    @property
    def size(self) -> int:
        return HEADER_BYTES + self.symbol_size

    def pack(self) -> bytes:
        head = _HEADER.pack(
            PACKET_VERSION, self.object_type, self.object_id, self.transfer_length, self.symbol_size, self.symbol_id
        )
        return head + _CRC.pack(crc32c(head + self.symbol)) + self.symbol

    @staticmethod
    def size_at(data: bytes | memoryview, offset: int = 0) -> int:
        """Total size of the packet that starts at ``offset`` (from its header), for framing."""
        if offset < 0:
            raise WireError(f"packet offset {offset} is negative")
        if len(data) - offset < HEADER_BYTES:
            raise WireError("truncated packet header")
        (symbol_size,) = struct.unpack_from(">H", data, offset + 38)
        return HEADER_BYTES + symbol_size

    @classmethod
    def unpack(cls, data: bytes) -> "Packet":
        if len(data) < HEADER_BYTES:
            raise WireError(f"packet of {len(data)} bytes is shorter than its {HEADER_BYTES}-byte header")
        version, otype, oid, tlen, ssize, sid = _HEADER.unpack_from(data)
        if version != PACKET_VERSION:
            raise WireError(f"unknown packet version {version}")
        if len(data) != HEADER_BYTES + ssize:
            raise WireError(f"packet is {len(data)} bytes, header says {HEADER_BYTES + ssize}")
        (crc,) = _CRC.unpack_from(data, _HEADER.size)
        symbol = bytes(data[HEADER_BYTES:])
        if crc32c(bytes(data[: _HEADER.size]) + symbol) != crc:
            raise WireError("packet CRC mismatch")
        return cls(otype, oid, tlen, ssize, sid, symbol)
