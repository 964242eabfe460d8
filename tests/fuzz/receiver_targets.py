"""Fuzz targets of the receiver's own state: the object assembler fed forged packets, and the
state-file loader fed damaged files and rows of any type.

``assembler``: the input is a script of packets. Each 8-byte step picks a genuine symbol of one
of a few real objects, or forges a packet (header fields and symbol from the input, CRC valid by
construction since ``Packet`` objects are fed directly), so the fuzzer mixes forgeries with the
genuine symbols they try to squat, poison or crowd out. Invariants, checked after every step:
the budget holds, and any object returned carries the id its payload hashes to.

``state-file``: the input's bytes replace part of a real state file (a damaged disk); ``state-
rows``: the input becomes rows of every table, with any SQLite type in any column (a careless or
hostile user's file). Opening, loading the partial objects, the header chain, the pending objects
and the resume position may raise ``StoreError`` and nothing else.
"""

from __future__ import annotations

import functools
import sqlite3
import struct
import tempfile
from pathlib import Path

from chaincast.fec.fountain import FountainEncoder
from chaincast.fec.wire.objects import BroadcastObject, ObjectType, object_id_of
from chaincast.fec.wire.packet import Packet
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.store import ReceiverStore, StoreError, symbol_cost
from tests.fuzz.targets import Violation, register

_BUDGET = 40 * symbol_cost(64)
_TYPES = (ObjectType.BLOCK, ObjectType.FILE, ObjectType.BLOCK_BUNDLE, ObjectType.CHAIN_INDEX, ObjectType.HEADERS, 0, 99)


@functools.cache
def _genuine() -> tuple[tuple[BroadcastObject, int, list[tuple[int, bytes]]], ...]:
    """A few real objects with 3 passes of their symbols: (object, transfer length, symbols)."""
    out = []
    for n, size in enumerate((300, 1000, 2500)):
        payload = bytes((n * 37 + i * 11) % 256 for i in range(size))
        object_type = ObjectType.FILE if n == 1 else ObjectType.BLOCK
        obj = BroadcastObject(object_type, object_id_of(object_type, payload), payload)
        encoder = FountainEncoder(obj.encode(), 64)
        symbols = [(s.symbol_id, s.data) for p in range(3) for s in encoder.pass_symbols(p)]
        out.append((obj, encoder.transfer_length, symbols))
    return tuple(out)


def _step(data: bytes, at: int) -> Packet:
    op, pick, a, b, c, d, e, f = data[at:at + 8]
    objects = _genuine()
    obj, length, symbols = objects[pick % len(objects)]
    if op < 128:  # a genuine symbol
        symbol_id, symbol = symbols[(a << 8 | b) % len(symbols)]
        return Packet(obj.object_type, obj.object_id, length, 64, symbol_id, symbol)
    symbol_size = 8 * (1 + c % 16)
    fill = bytes([d]) * symbol_size
    if op < 192:  # a forgery under the genuine id: its own length, symbol id and data
        return Packet(obj.object_type, obj.object_id, max(1, length + (e - 128)), symbol_size,
                      (f << 24 if op & 1 else 0) | (a << 8 | b), fill)
    object_id = bytes([a, b]) * 16
    declared = (1 + (c << 16 | e << 8 | f)) << (op & 15)
    return Packet(_TYPES[pick % len(_TYPES)], object_id, min(declared, 0xFFFFFFFF), symbol_size, (a << 8 | b), fill)


def feed_assembler(data: bytes) -> None:
    asm = ObjectAssembler(memory_budget=_BUDGET, max_variants=24)
    for at in range(0, len(data) - 7, 8):
        obj = asm.add(_step(data, at))
        if asm.stored_bytes > _BUDGET:
            raise Violation(f"{asm.stored_bytes} bytes stored, budget {_BUDGET}")
        if obj is not None and object_id_of(obj.object_type, obj.payload) != obj.object_id:
            raise Violation("an object whose id is not its payload's")


def _assembler_seeds() -> list[bytes]:
    genuine = bytes(b for i in range(200) for b in (0, i % 3, 0, i, 0, 0, 0, 0))
    mixed = bytes(b for i in range(200) for b in ((0 if i % 3 else 130), i % 3, 0, i, 5, 7, 128, 1))
    flood = bytes(b for i in range(200) for b in ((200 + i % 50) if i % 2 else 0, i % 7, i, i, 200, 9, 9, i))
    return [genuine, mixed, flood]


@functools.cache
def _state_file_bytes() -> bytes:
    """A real state file: header chain, a pending block, partial symbols, a resume position."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rx.sqlite"
        store = ReceiverStore(path, "main")
        store.replace_headers(0, [bytes([h]) * 80 for h in range(5)])
        obj, length, symbols = _genuine()[2]
        store.object_complete(ObjectType.BLOCK, obj.object_id, obj.payload)
        asm = ObjectAssembler(store=store)
        for symbol_id, symbol in symbols[:20]:
            asm.add(Packet(obj.object_type, bytes(32), length, 64, symbol_id, symbol))
        store.set_resume_sample("rec", 99)
        store.close()
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
        return path.read_bytes()


def _load(path: Path) -> None:
    store = ReceiverStore(path, "main")
    try:
        ObjectAssembler(store=store)
        for _ in store.headers():  # a lazy view: reading the rows is what checks them
            pass
        for _ in store.pending_objects():
            pass
        store.resume_sample("rec")
        store.counts()
    finally:
        store.close()


def damaged_state_file(data: bytes) -> None:
    original = _state_file_bytes()
    if len(data) < 4:
        return
    (offset,) = struct.unpack_from(">I", data)
    offset %= len(original)
    damaged = original[:offset] + data[4:] + original[offset + len(data) - 4:]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rx.sqlite"
        path.write_bytes(damaged)
        _load(path)


def _value(data: bytes, at: int):
    """One SQLite value of any type from the input."""
    kind, size = data[at] % 5, data[at + 1] % 90
    raw = data[at + 2:at + 2 + size]
    if kind == 0:
        return None
    if kind == 1:
        return int.from_bytes(raw[:8].ljust(8, b"\0"), "big", signed=True)
    if kind == 2:
        return raw.decode("latin-1")
    if kind == 3:
        return struct.unpack(">d", raw[:8].ljust(8, b"\0"))[0]
    return bytes(raw)


_ROW_TABLES = (("variants", 6), ("symbols", 3), ("objects", 5), ("progress", 2), ("header_runs", 3), ("meta", 2))


def state_rows(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rx.sqlite"
        ReceiverStore(path, "main").close()
        db = sqlite3.connect(path)
        at = 0
        while at + 2 < len(data):
            table, columns = _ROW_TABLES[data[at] % len(_ROW_TABLES)]
            at += 1
            row = []
            for _ in range(columns):
                row.append(_value(data, at) if at + 2 <= len(data) else None)
                at += 2 + (data[at + 1] % 90 if at + 1 < len(data) else 0)
            try:
                db.execute(f"INSERT OR REPLACE INTO {table} VALUES ({','.join('?' * columns)})", row)
            except sqlite3.DatabaseError:
                pass  # a NOT NULL or key the table itself refuses
        db.commit()
        db.close()
        _load(path)


def _header_runs_seed() -> bytes:
    """Rows that read as header runs: one of one header from height 0, then one of another header,
    sealed with 32 bytes, at 2016 (out of place: the run before it is short)."""
    table = bytes([[name for name, _ in _ROW_TABLES].index("header_runs")])
    rows = b""
    for first, seal in ((0, b"\0\0"), (2016, b"\x04\x20" + bytes(range(32)))):
        rows += table + b"\x01\x08" + first.to_bytes(8, "big") + b"\x04\x50" + bytes([first % 256]) * 80 + seal
    return rows


register("assembler", feed_assembler, seeds=_assembler_seeds)
register("state-file", damaged_state_file, expected=(StoreError,), seeds=lambda: [b"\0\0\0\0", b"\0\0\x10\0garbage"])
register("state-rows", state_rows, expected=(StoreError,), seeds=lambda: [bytes(range(256)), b"\x01\x01\x05" * 40, _header_runs_seed()])
