"""Chain index object payload (``ObjectType.CHAIN_INDEX``): what the uplink knows and sends.

Repeated every few seconds, so a receiver learns the broadcaster's tip, the recent block hashes
and heights, and which objects are on the air (and in which share), hence what it is missing.
Layout (big-endian; hashes in Bitcoin's internal byte order)::

    offset  size     field
    0       1        version              (INDEX_VERSION)
    1       1        flags                (reserved, must be 0)
    2       4        sequence             (counts the indexes this uplink issued)
    6       8        time                 (uplink clock, milliseconds since the Unix epoch)
    14      32       genesis hash         (names the chain)
    46      4        tip height
    50      32       tip hash
    82      4        headers first height (the headers objects on the air cover first .. last)
    86      4        headers last height  (first = last = 0xFFFFFFFF: none)
    90      4        backfill first height (the older blocks being backfilled now: first .. last)
    94      4        backfill last height (first = last = 0xFFFFFFFF: none)
    98      2        B: block entries
    100     2        O: other object entries
    102     37 x B   block entry:  height u32 | hash 32 | status u8 (OnAir)
    ...     38 x O   object entry: type u8 | id 32 | transfer length u32 | status u8 (OnAir)

Block entries are the recent blocks (newest first: the carousel, new ones marked NEW); object
entries are the other objects whose symbols are on the air now (headers runs, ...). ``unpack``
rejects short input, trailing bytes, unknown versions, flags and statuses. The object id is
SHA-256 of the payload (``object_id``).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

from chaincast.fec.wire.errors import WireError

INDEX_VERSION = 1
NO_HEIGHT = 0xFFFFFFFF
_HEAD = struct.Struct(">BBIQ32sI32sIIIIHH")
_BLOCK = struct.Struct(">I32sB")
_OBJECT = struct.Struct(">B32sIB")
FIXED_BYTES = _HEAD.size
if (FIXED_BYTES, _BLOCK.size, _OBJECT.size) != (102, 37, 38):  # import-time check of the layout above
    raise ImportError("chain index layout does not match its documentation")
MAX_INDEX_BYTES = FIXED_BYTES + 0xFFFF * (_BLOCK.size + _OBJECT.size)  # both counts are u16


class OnAir(IntEnum):
    """Why an object is on the air (the scheduler's class for it)."""

    KNOWN = 0  # listed, not being sent now
    NEW = 1  # a new block, first in line
    CAROUSEL = 2  # one of the recent blocks, repeated with fresh repair symbols
    BACKFILL = 3  # an older block, from the full-history backfill (reserved: listed as a range)
    HEADERS = 4  # a headers run


@dataclass(frozen=True)
class BlockEntry:
    height: int
    block_hash: bytes
    status: OnAir


@dataclass(frozen=True)
class ObjectEntry:
    object_type: int
    object_id: bytes
    transfer_length: int
    status: OnAir


@dataclass(frozen=True)
class ChainIndex:
    sequence: int
    time_ms: int
    genesis_hash: bytes
    tip_height: int
    tip_hash: bytes
    headers_first: int = NO_HEIGHT
    headers_last: int = NO_HEIGHT
    backfill_first: int = NO_HEIGHT
    backfill_last: int = NO_HEIGHT
    blocks: tuple[BlockEntry, ...] = ()
    objects: tuple[ObjectEntry, ...] = ()

    def __post_init__(self) -> None:
        if len(self.blocks) > 0xFFFF or len(self.objects) > 0xFFFF:
            raise WireError("too many chain index entries")
        if len(self.genesis_hash) != 32 or len(self.tip_hash) != 32:
            raise WireError("chain index hashes must be 32 bytes")
        if any(len(b.block_hash) != 32 for b in self.blocks) or any(len(o.object_id) != 32 for o in self.objects):
            raise WireError("chain index entry hashes must be 32 bytes")

    def pack(self) -> bytes:
        try:
            out = [_HEAD.pack(INDEX_VERSION, 0, self.sequence, self.time_ms, self.genesis_hash, self.tip_height,
                              self.tip_hash, self.headers_first, self.headers_last, self.backfill_first,
                              self.backfill_last, len(self.blocks), len(self.objects))]
            out += [_BLOCK.pack(b.height, b.block_hash, b.status) for b in self.blocks]
            out += [_OBJECT.pack(o.object_type, o.object_id, o.transfer_length, o.status) for o in self.objects]
        except struct.error as bad:
            raise WireError(f"chain index field out of range: {bad}") from None
        return b"".join(out)

    @classmethod
    def unpack(cls, data: bytes) -> "ChainIndex":
        if len(data) < FIXED_BYTES:
            raise WireError(f"chain index of {len(data)} bytes is shorter than its {FIXED_BYTES}-byte head")
        (version, flags, seq, time_ms, genesis, tip_height, tip_hash, h_first, h_last, b_first, b_last,
         n_blocks, n_objects) = _HEAD.unpack_from(data)
        if version != INDEX_VERSION:
            raise WireError(f"unknown chain index version {version}")
        if flags != 0:
            raise WireError(f"unknown chain index flags {flags:#x}")
        expected = FIXED_BYTES + n_blocks * _BLOCK.size + n_objects * _OBJECT.size
        if len(data) != expected:
            raise WireError(f"chain index is {len(data)} bytes, its counts say {expected}")
        offset = FIXED_BYTES
        blocks = []
        for _ in range(n_blocks):
            height, block_hash, status = _BLOCK.unpack_from(data, offset)
            blocks.append(BlockEntry(height, block_hash, _status(status)))
            offset += _BLOCK.size
        objects = []
        for _ in range(n_objects):
            otype, oid, tlen, status = _OBJECT.unpack_from(data, offset)
            objects.append(ObjectEntry(otype, oid, tlen, _status(status)))
            offset += _OBJECT.size
        return cls(seq, time_ms, genesis, tip_height, tip_hash, h_first, h_last, b_first, b_last, tuple(blocks),
                   tuple(objects))

    def object_id(self) -> bytes:
        return hashlib.sha256(self.pack()).digest()


def _status(value: int) -> OnAir:
    try:
        return OnAir(value)
    except ValueError:
        raise WireError(f"unknown on-air status {value}") from None
