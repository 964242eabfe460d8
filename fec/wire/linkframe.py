"""Link frame data field: whole packets plus a CRC-32C, sized to one PL frame's MODCOD.

Layout (big-endian), ``data_bytes`` long (``Modcod.data_bytes``)::

    offset   size  field
    0        1     version (LINK_FRAME_VERSION)
    1        1     flags (reserved, must be 0)
    2        2     L: bytes of packets that follow
    4        L     packets, back to back (each self-delimiting through its header)
    4+L      ...   zero padding
    end-4    4     CRC-32C over every byte before it

A frame with L = 0 is a filler frame. The outer (Reed-Solomon) and inner codes protect this field;
the CRC catches what they miss.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from chaincast.fec.crc import crc32c
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.packet import Packet

LINK_FRAME_VERSION = 1
_HEAD = struct.Struct(">BBH")
_CRC = struct.Struct(">I")
OVERHEAD_BYTES = _HEAD.size + _CRC.size


def capacity(data_bytes: int) -> int:
    """Packet bytes one link frame of ``data_bytes`` can carry."""
    return data_bytes - OVERHEAD_BYTES


@dataclass(frozen=True)
class LinkFrame:
    packets: tuple[bytes, ...]  # packed packets

    def pack(self, data_bytes: int) -> bytes:
        body = b"".join(self.packets)
        if len(body) > capacity(data_bytes):
            raise WireError(f"{len(body)} bytes of packets exceed the frame capacity {capacity(data_bytes)}")
        field = _HEAD.pack(LINK_FRAME_VERSION, 0, len(body)) + body
        field += bytes(data_bytes - _CRC.size - len(field))
        return field + _CRC.pack(crc32c(field))

    @classmethod
    def unpack(cls, data: bytes) -> "LinkFrame":
        """Split a data field into its packets (each still to be checked by ``Packet.unpack``)."""
        if len(data) < OVERHEAD_BYTES:
            raise WireError("link frame shorter than its header and CRC")
        (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
        if crc32c(data[: -_CRC.size]) != crc:
            raise WireError("link frame CRC mismatch")
        version, flags, length = _HEAD.unpack_from(data)
        if version != LINK_FRAME_VERSION:
            raise WireError(f"unknown link frame version {version}")
        if flags != 0:
            raise WireError(f"unknown link frame flags {flags:#x}")
        end = _HEAD.size + length
        if end > len(data) - _CRC.size:
            raise WireError(f"link frame says {length} bytes of packets, which do not fit")
        if any(data[end : -_CRC.size]):
            raise WireError("link frame padding is not zero")
        packets = []
        offset = _HEAD.size
        while offset < end:
            size = Packet.size_at(data, offset)
            if offset + size > end:
                raise WireError("packet runs past the end of the link frame")
            packets.append(bytes(data[offset : offset + size]))
            offset += size
        return cls(tuple(packets))
