"""Objects: what the broadcast carries (a block, a bundle of blocks, headers, chain index, files).

An object is ``(type, id, payload)``. What RaptorQ encodes is ``payload || SHA-256(payload)``, so a
receiver can tell a rebuilt object from a corrupted one without trusting any single packet. The
id follows from the payload: for a block it is the block hash (double SHA-256 of the 80-byte
header, internal byte order), for every other type the SHA-256 of the payload. ``decode`` checks
both, so bytes that match their digest but not their id (a forger's self-consistent object sent
under a genuine id) are refused like corrupted ones.

Each type has a largest payload (``MAX_PAYLOAD_BYTES``): a receiver refuses a packet that declares
a larger object before it spends memory on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from chaincast.fec.wire.bitcoin import HEADER_BYTES as BLOCK_HEADER_BYTES
from chaincast.fec.wire.bitcoin import MAX_BLOCK_SERIALIZED_SIZE as MAX_BLOCK_BYTES
from chaincast.fec.wire.bitcoin import block_hash
from chaincast.fec.wire.bundle import MAX_BUNDLE_BYTES
from chaincast.fec.wire.chainindex import MAX_INDEX_BYTES
from chaincast.fec.wire.envelope import MAX_ENVELOPE_BYTES
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.headers import MAX_RUN_BYTES

DIGEST_BYTES = 32


class ObjectType(IntEnum):
    BLOCK = 1
    FILE = 2  # a file or message signed by the broadcaster (fec.wire.envelope); id = SHA-256 of the envelope
    BLOCK_BUNDLE = 3  # consecutive small blocks (fec.wire.bundle); id = SHA-256 of the bundle
    # 16..31: the uplink service's chain objects; each payload has its own wire module.
    CHAIN_INDEX = 16  # chaincast.fec.wire.chainindex: recent blocks and what is on the air
    HEADERS = 17  # chaincast.fec.wire.headers: a run of consecutive 80-byte block headers


MAX_PAYLOAD_BYTES: dict[int, int] = {
    ObjectType.BLOCK: MAX_BLOCK_BYTES,
    ObjectType.FILE: MAX_ENVELOPE_BYTES,
    ObjectType.BLOCK_BUNDLE: MAX_BUNDLE_BYTES,
    ObjectType.CHAIN_INDEX: MAX_INDEX_BYTES,
    ObjectType.HEADERS: MAX_RUN_BYTES,
}


def max_transfer_length(object_type: int) -> int:
    """Largest transfer (payload and digest) an object of this type can have; 0 for an unknown type."""
    limit = MAX_PAYLOAD_BYTES.get(object_type)
    return 0 if limit is None else limit + DIGEST_BYTES


def object_id_of(object_type: int, payload: bytes) -> bytes:
    """The id an object of this type and payload must carry."""
    if object_type == ObjectType.BLOCK:
        return block_hash(payload)
    return hashlib.sha256(payload).digest()


@dataclass(frozen=True)
class BroadcastObject:
    object_type: int
    object_id: bytes
    payload: bytes

    def encode(self) -> bytes:
        """The transfer data handed to the fountain encoder."""
        return self.payload + hashlib.sha256(self.payload).digest()

    @classmethod
    def decode(cls, object_type: int, object_id: bytes, transfer: bytes) -> "BroadcastObject":
        if len(transfer) < DIGEST_BYTES:
            raise WireError("object shorter than its digest")
        payload, digest = transfer[:-DIGEST_BYTES], transfer[-DIGEST_BYTES:]
        if hashlib.sha256(payload).digest() != digest:
            raise WireError("object digest mismatch")
        if object_type == ObjectType.BLOCK and len(payload) < BLOCK_HEADER_BYTES:
            raise WireError("block object shorter than a block header")
        if object_id_of(object_type, payload) != object_id:
            raise WireError("object id does not match its payload")
        return cls(object_type, object_id, payload)
