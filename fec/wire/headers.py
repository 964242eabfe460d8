"""Headers object payload (``ObjectType.HEADERS``): a run of consecutive 80-byte block headers.

Receivers use it to check proof of work and chain linkage before block bodies arrive. Layout
(our integers big-endian; the headers keep Bitcoin's serialisation)::

    offset  size      field
    0       1         version          (HEADERS_VERSION)
    1       1         flags            (reserved, must be 0)
    2       4         first height     (height of the first header)
    6       4         count            (N >= 1)
    10      80 x N    headers          (header i is the block at height first + i)

``unpack`` also checks that each header's previous-block hash (bytes 4..35) is the double SHA-256
of the header before it, so a run that does not link up is rejected like a bad checksum. The
object id is SHA-256 of the payload (``object_id``): a run is named by its content.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from chaincast.fec.wire.bitcoin import HEADER_BYTES, sha256d
from chaincast.fec.wire.errors import WireError

HEADERS_VERSION = 1
_HEAD = struct.Struct(">BBII")
FIXED_BYTES = _HEAD.size
MAX_COUNT = 50_000  # 4 MB of headers; the uplink sends runs of 2016 by default
MAX_RUN_BYTES = FIXED_BYTES + MAX_COUNT * HEADER_BYTES


@dataclass(frozen=True)
class HeadersRun:
    first_height: int
    headers: bytes  # N x 80 bytes, back to back

    def __post_init__(self) -> None:
        count, rest = divmod(len(self.headers), HEADER_BYTES)
        if rest or not 1 <= count <= MAX_COUNT:
            raise WireError(f"headers must be 1..{MAX_COUNT} whole 80-byte headers, got {len(self.headers)} bytes")
        if not 0 <= self.first_height <= 0xFFFFFFFF or self.first_height + count - 1 > 0xFFFFFFFF:
            raise WireError(f"height {self.first_height} out of range")

    @property
    def count(self) -> int:
        return len(self.headers) // HEADER_BYTES

    @property
    def last_height(self) -> int:
        return self.first_height + self.count - 1

    def header(self, height: int) -> bytes:
        if not self.first_height <= height <= self.last_height:
            raise IndexError(height)
        start = (height - self.first_height) * HEADER_BYTES
        return self.headers[start : start + HEADER_BYTES]

    def pack(self) -> bytes:
        return _HEAD.pack(HEADERS_VERSION, 0, self.first_height, self.count) + self.headers

    @classmethod
    def unpack(cls, data: bytes) -> "HeadersRun":
        if len(data) < FIXED_BYTES:
            raise WireError(f"headers object of {len(data)} bytes is shorter than its {FIXED_BYTES}-byte head")
        version, flags, first, count = _HEAD.unpack_from(data)
        if version != HEADERS_VERSION:
            raise WireError(f"unknown headers object version {version}")
        if flags != 0:
            raise WireError(f"unknown headers object flags {flags:#x}")
        if len(data) != FIXED_BYTES + count * HEADER_BYTES:
            raise WireError(f"headers object is {len(data)} bytes, its count {count} says {FIXED_BYTES + count * HEADER_BYTES}")
        run = cls(first, bytes(data[FIXED_BYTES:]))
        headers = run.headers
        for i in range(1, count):
            prev = headers[(i - 1) * HEADER_BYTES : i * HEADER_BYTES]
            if headers[i * HEADER_BYTES + 4 : i * HEADER_BYTES + 36] != sha256d(prev):
                raise WireError(f"header at height {first + i} does not follow the one before it")
        return run

    def object_id(self) -> bytes:
        return hashlib.sha256(self.pack()).digest()
