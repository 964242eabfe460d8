"""Blocks: the 80-byte header, full-block parsing, merkle roots and the BIP 141 witness commitment.

Header wire format (little-endian): version i32 | prev_hash 32 | merkle_root 32 | time u32 |
bits u32 | nonce u32. A block is header | CompactSize tx count | transactions.
The block hash is SHA256d(header), stored in internal order; `hash_hex` is the usual display
(byte-reversed) form. Proof of work: `chaincast.fec.wire.bitcoin.check_proof_of_work`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from chaincast.fec.wire.bitcoin import HEADER_BYTES, MAX_BLOCK_SERIALIZED_SIZE, display_hex, sha256d
from chaincast.txside.chain.encoding import ByteReader, ser_compact_size
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.tx import Tx

HEADER_SIZE = HEADER_BYTES
# BIP 141 commitment output: OP_RETURN, push 36, then this 4-byte header and the 32-byte commitment.
WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")

_HEADER = struct.Struct("<i32s32sIII")


@dataclass(frozen=True)
class BlockHeader:
    version: int
    prev_hash: bytes  # internal byte order
    merkle_root: bytes  # internal byte order
    time: int
    bits: int
    nonce: int

    def __post_init__(self) -> None:
        if len(self.prev_hash) != 32 or len(self.merkle_root) != 32:
            raise ChainDataError("header hashes must be 32 bytes")

    def serialize(self) -> bytes:
        return _HEADER.pack(self.version, self.prev_hash, self.merkle_root, self.time, self.bits, self.nonce)

    @classmethod
    def read(cls, r: ByteReader) -> BlockHeader:
        start = r.pos
        r.skip(HEADER_SIZE, "block header")
        return cls(*_HEADER.unpack_from(r.buf, start))

    @classmethod
    def deserialize(cls, data: bytes) -> BlockHeader:
        r = ByteReader(data)
        header = cls.read(r)
        r.expect_end("block header")
        return header

    @property
    def hash(self) -> bytes:
        return sha256d(self.serialize())

    @property
    def hash_hex(self) -> str:
        return display_hex(self.hash)

    @property
    def prev_hash_hex(self) -> str:
        return display_hex(self.prev_hash)


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    txs: tuple[Tx, ...]

    def serialize(self) -> bytes:
        return (
            self.header.serialize()
            + ser_compact_size(len(self.txs))
            + b"".join(tx.serialize(with_witness=True) for tx in self.txs)
        )

    @classmethod
    def read(cls, r: ByteReader) -> Block:
        header = BlockHeader.read(r)
        n_tx = r.count("tx count")
        if n_tx == 0:
            raise ChainDataError(f"block has no transactions (offset {r.pos})")
        return cls(header, tuple(Tx.read(r) for _ in range(n_tx)))

    @classmethod
    def deserialize(cls, data: bytes) -> Block:
        if len(data) > MAX_BLOCK_SERIALIZED_SIZE:
            raise ChainDataError(f"block of {len(data)} bytes exceeds {MAX_BLOCK_SERIALIZED_SIZE}")
        r = ByteReader(data)
        block = cls.read(r)
        r.expect_end("block")
        return block

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def hash_hex(self) -> str:
        return self.header.hash_hex


def parse_block(raw: bytes) -> tuple[BlockHeader, tuple[Tx, ...]]:
    """Parse a serialized block that must be consumed exactly; raises ChainDataError otherwise."""
    block = Block.deserialize(raw)
    return block.header, block.txs


def merkle_root(leaves: list[bytes]) -> bytes:
    """Bitcoin merkle root over 32-byte leaves (internal order); odd levels duplicate the last node."""
    if not leaves:
        raise ChainDataError("merkle root of an empty list")
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def block_merkle_root(txs: tuple[Tx, ...] | list[Tx]) -> bytes:
    return merkle_root([tx.txid for tx in txs])


def witness_merkle_root(txs: tuple[Tx, ...] | list[Tx]) -> bytes:
    """BIP 141: merkle root of wtxids, with the coinbase's wtxid taken as 32 zero bytes."""
    return merkle_root([bytes(32)] + [tx.wtxid for tx in txs[1:]])


def witness_commitment(txs: tuple[Tx, ...] | list[Tx], reserved_value: bytes = bytes(32)) -> bytes:
    """BIP 141 commitment: SHA256d(witness merkle root || witness reserved value)."""
    return sha256d(witness_merkle_root(txs) + reserved_value)


def witness_commitment_script(commitment: bytes) -> bytes:
    return WITNESS_COMMITMENT_HEADER + commitment


def find_witness_commitment(coinbase: Tx) -> bytes | None:
    """The committed hash from the coinbase, or None.

    BIP 141: the commitment is in the output with the highest index whose scriptPubKey is
    at least 38 bytes and starts with 0x6a24aa21a9ed.
    """
    for txout in reversed(coinbase.outputs):
        spk = txout.script_pubkey
        if len(spk) >= 38 and spk.startswith(WITNESS_COMMITMENT_HEADER):
            return spk[6:38]
    return None
