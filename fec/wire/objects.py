"""Objects: what the broadcast carries (a block, later headers, chain index, files).

An object is ``(type, id, payload)``. What RaptorQ encodes is ``payload || SHA-256(payload)``, so a
receiver can tell a rebuilt object from a corrupted one without trusting any single packet. The
object id is chosen by the sender: for a block it is the block hash (internal byte order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from chaincast.fec.wire.errors import WireError

DIGEST_BYTES = 32


class ObjectType(IntEnum):
    BLOCK = 1
    FILE = 2  # a file or message signed by the broadcaster (fec.wire.envelope); id = SHA-256 of the envelope
    BLOCK_BUNDLE = 3  # consecutive small blocks (fec.wire.bundle); id = SHA-256 of the bundle
    # 16..31: the uplink service's chain objects (issue 5); each payload has its own wire module.
    CHAIN_INDEX = 16  # chaincast.fec.wire.chainindex: recent blocks and what is on the air
    HEADERS = 17  # chaincast.fec.wire.headers: a run of consecutive 80-byte block headers


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
        return cls(object_type, object_id, payload)
