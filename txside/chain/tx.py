"""Transactions: frozen dataclasses with consensus (de)serialization, txid and wtxid.

Wire format (little-endian integers): version u32 | [marker 0x00, flag 0x01] (BIP 144) |
inputs | outputs | [one witness stack per input] | locktime u32.
txid hashes the serialization without witness, wtxid the one with it (BIP 141).
Hashes are kept in internal byte order; `*_hex` reverses them for display.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property

from chaincast.fec.wire.bitcoin import display_hex, sha256d
from chaincast.txside.chain.encoding import ByteReader, ser_bytes, ser_compact_size
from chaincast.txside.chain.errors import ChainDataError

MAX_MONEY = 21_000_000 * 100_000_000


@dataclass(frozen=True)
class OutPoint:
    txid: bytes  # internal byte order
    index: int

    def __post_init__(self) -> None:
        if len(self.txid) != 32:
            raise ChainDataError(f"outpoint txid must be 32 bytes, got {len(self.txid)}")
        if not 0 <= self.index <= 0xFFFFFFFF:
            raise ChainDataError(f"outpoint index {self.index} out of range")

    def serialize(self) -> bytes:
        return self.txid + struct.pack("<I", self.index)

    @classmethod
    def read(cls, r: ByteReader) -> OutPoint:
        return cls(r.read(32, "prevout txid"), r.u32("prevout index"))

    @classmethod
    def deserialize(cls, data: bytes) -> OutPoint:
        r = ByteReader(data)
        out = cls.read(r)
        r.expect_end("outpoint")
        return out

    @property
    def is_null(self) -> bool:
        """Coinbase inputs spend the null outpoint (all-zero txid, index 0xffffffff)."""
        return self.index == 0xFFFFFFFF and self.txid == bytes(32)


NULL_OUTPOINT = OutPoint(bytes(32), 0xFFFFFFFF)


@dataclass(frozen=True)
class TxIn:
    prevout: OutPoint
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: tuple[bytes, ...] = ()  # BIP 141 witness stack, serialized apart from the input

    def serialize(self) -> bytes:
        """The input without its witness (witnesses follow all outputs, BIP 144)."""
        return self.prevout.serialize() + ser_bytes(self.script_sig) + struct.pack("<I", self.sequence)

    def serialize_witness(self) -> bytes:
        return ser_compact_size(len(self.witness)) + b"".join(ser_bytes(item) for item in self.witness)


@dataclass(frozen=True)
class TxOut:
    value: int  # satoshis, serialized as int64 LE
    script_pubkey: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.value <= MAX_MONEY:
            raise ChainDataError(f"output value {self.value} outside 0..MAX_MONEY")

    def serialize(self) -> bytes:
        return struct.pack("<q", self.value) + ser_bytes(self.script_pubkey)

    @classmethod
    def read(cls, r: ByteReader) -> TxOut:
        return cls(r.i64("output value"), r.var_bytes("scriptPubKey"))

    @classmethod
    def deserialize(cls, data: bytes) -> TxOut:
        r = ByteReader(data)
        out = cls.read(r)
        r.expect_end("output")
        return out


@dataclass(frozen=True)
class Tx:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].prevout.is_null

    def serialize(self, with_witness: bool = True) -> bytes:
        key = "ser_wit" if with_witness and self.has_witness else "ser_nowit"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        parts = [struct.pack("<I", self.version)]
        witness = key == "ser_wit"
        if witness:
            parts.append(b"\x00\x01")  # BIP 144 marker and flag
        parts.append(ser_compact_size(len(self.inputs)))
        parts.extend(txin.serialize() for txin in self.inputs)
        parts.append(ser_compact_size(len(self.outputs)))
        parts.extend(txout.serialize() for txout in self.outputs)
        if witness:
            parts.extend(txin.serialize_witness() for txin in self.inputs)
        parts.append(struct.pack("<I", self.locktime))
        out = self._cache[key] = b"".join(parts)
        return out

    @cached_property
    def txid(self) -> bytes:
        return sha256d(self.serialize(with_witness=False))

    @cached_property
    def wtxid(self) -> bytes:
        return sha256d(self.serialize(with_witness=True))

    @property
    def txid_hex(self) -> str:
        return display_hex(self.txid)

    @property
    def wtxid_hex(self) -> str:
        return display_hex(self.wtxid)

    @property
    def vsize(self) -> int:
        """Virtual size: ceil(weight / 4), weight = 3 * stripped size + total size (BIP 141)."""
        weight = 3 * len(self.serialize(False)) + len(self.serialize(True))
        return (weight + 3) // 4

    @classmethod
    def read(cls, r: ByteReader) -> Tx:
        version = r.u32("tx version")
        n_in = r.count("input count")
        segwit = False
        if n_in == 0:
            # An empty input list is the BIP 144 marker; the next byte is the flag.
            flag = r.u8("segwit flag")
            if flag != 1:
                # Core: "Unknown transaction optional data" for any other flag value.
                raise ChainDataError(f"unknown segwit flag {flag:#04x} before offset {r.pos}")
            segwit = True
            n_in = r.count("input count")
        prevouts = []
        for _ in range(n_in):
            prevouts.append((OutPoint.read(r), r.var_bytes("scriptSig"), r.u32("sequence")))
        outputs = tuple(TxOut.read(r) for _ in range(r.count("output count")))
        witnesses: list[tuple[bytes, ...]] = [()] * n_in
        if segwit:
            for i in range(n_in):
                witnesses[i] = tuple(r.var_bytes("witness item") for _ in range(r.count("witness stack size")))
            if not any(witnesses):
                # Core: "Superfluous witness record" — the flag promised witness data.
                raise ChainDataError(f"segwit flag set but every witness is empty, before offset {r.pos}")
        locktime = r.u32("locktime")
        inputs = tuple(TxIn(p, s, q, w) for (p, s, q), w in zip(prevouts, witnesses))
        return cls(version, inputs, outputs, locktime)

    @classmethod
    def deserialize(cls, data: bytes) -> Tx:
        r = ByteReader(data)
        tx = cls.read(r)
        r.expect_end("transaction")
        return tx
