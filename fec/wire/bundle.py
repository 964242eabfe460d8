"""Block bundle: a run of consecutive small blocks carried as one object (``ObjectType.BLOCK_BUNDLE``).

Early-chain blocks are about 215 bytes: one object each, every packet would spend 48 header bytes
on one short symbol (plus the object's 32-byte digest), and link frames would end in padding the
next packet does not fit. Bundled, the blocks ride in symbols that fill whole link frames.

Payload (big-endian)::

    offset   size   field
    0        1      version (BUNDLE_VERSION)
    1        2      B: number of blocks (1..MAX_BLOCKS)
    3        4 * B  length of each block (>= 80, the block header)
    3 + 4B   ...    the raw blocks, back to back, in chain order

The object id is SHA-256 of the payload. Each block is checked on its own by the receiver (its hash
is what its header hashes to; libbitcoinkernel validates it), so the bundle adds no trust.
"""

from __future__ import annotations

import hashlib
import struct

from chaincast.fec.wire.bitcoin import HEADER_BYTES as BLOCK_HEADER_BYTES
from chaincast.fec.wire.errors import WireError

BUNDLE_VERSION = 1
MAX_BLOCKS = 0xFFFF
MAX_BUNDLE_BYTES = 4_000_000  # a bundle carries small blocks: never more than one largest block
_HEAD = struct.Struct(">BH")


def bundle_id(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


def pack_bundle(blocks: list[bytes]) -> bytes:
    if not 1 <= len(blocks) <= MAX_BLOCKS:
        raise WireError(f"a bundle holds 1..{MAX_BLOCKS} blocks, got {len(blocks)}")
    if any(len(raw) < BLOCK_HEADER_BYTES for raw in blocks):
        raise WireError("a bundled block is shorter than a block header")
    size = _HEAD.size + 4 * len(blocks) + sum(map(len, blocks))
    if size > MAX_BUNDLE_BYTES:
        raise WireError(f"a bundle of {size} bytes exceeds {MAX_BUNDLE_BYTES}")
    lengths = struct.pack(f">{len(blocks)}I", *(len(raw) for raw in blocks))
    return _HEAD.pack(BUNDLE_VERSION, len(blocks)) + lengths + b"".join(blocks)


def unpack_bundle(payload: bytes) -> list[bytes]:
    """The raw blocks of a bundle; ``WireError`` for anything but an exact, well-formed bundle."""
    if len(payload) < _HEAD.size:
        raise WireError("bundle shorter than its header")
    if len(payload) > MAX_BUNDLE_BYTES:
        raise WireError(f"a bundle of {len(payload)} bytes exceeds {MAX_BUNDLE_BYTES}")
    version, count = _HEAD.unpack_from(payload)
    if version != BUNDLE_VERSION:
        raise WireError(f"unknown bundle version {version}")
    if count < 1:
        raise WireError("empty bundle")
    table_end = _HEAD.size + 4 * count
    if len(payload) < table_end:
        raise WireError("bundle length table truncated")
    lengths = struct.unpack_from(f">{count}I", payload, _HEAD.size)
    if any(n < BLOCK_HEADER_BYTES for n in lengths):
        raise WireError("a bundled block is shorter than a block header")
    if table_end + sum(lengths) != len(payload):
        raise WireError(f"bundle is {len(payload)} bytes, its table says {table_end + sum(lengths)}")
    blocks, at = [], table_end
    for n in lengths:
        blocks.append(bytes(payload[at:at + n]))
        at += n
    return blocks
