"""The receiver's memory on disk (SQLite, stdlib): nothing it heard is lost to a crash, and what
it keeps stays within a budget.

What is kept, in one database file:

- the fountain symbols of objects still being rebuilt (``symbols``), per *variant*: an object id
  with one transfer length and symbol size (``variants``). A forger can send packets under a
  genuine id with other sizes; each variant is rebuilt and checked on its own, so the first
  packet heard does not decide which one counts. Partial objects survive restarts and combine
  with later passes;
- every rebuilt object (``objects``): its payload until the node holds it durably, then only its
  key (so later passes of it are skipped), for the newest ``MAX_DONE_OBJECTS`` of them;
- per input recording, the sample from which a restarted receiver must read again (``progress``);
- the checked header chain (``headers``, ``chaincast.rxside.headerchain``).

The receiver commits once per input chunk: the packets of the frames decoded in it, the objects
completed, and the new resume position, in one transaction. A ``kill -9`` at any moment therefore
leaves the state of the last commit, and the resume position of that commit is early enough that
everything not yet committed is read again. WAL journal: a killed process loses nothing committed.

States of an object: ``COMPLETE`` (rebuilt; payload kept: handed to the node, perhaps, but not
known to be on its disk) and ``DURABLE`` (the node has flushed it; payload dropped).

Users pass state files around and disks fail, so nothing read from the file is trusted: a file
that is not a state file, or whose tables are not this schema's, is refused with ``StoreError``
(``--reset-state`` starts a new one); a row that does not make sense (a header of the wrong
length, a NULL payload, a symbol of the wrong size) is deleted and reported in ``warnings``.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 3
UPGRADABLE = {"1", "2"}  # schema 2 added the headers table, schema 3 variants and done order
COMPLETE = 1
DURABLE = 2
MAX_DONE_OBJECTS = 100_000  # keys of durable objects kept to skip their later passes (~8 MB)
HEADER_BYTES = 80
# SQLite spends about this much beside each stored symbol (b-tree cell, key, page slack): counted
# into the budget, so many tiny forged symbols cannot hide in it.
SYMBOL_ROW_OVERHEAD = 64
VARIANT_ROW_OVERHEAD = 128  # a variants row and its index entry
WAL_LIMIT_BYTES = 16 << 20  # the WAL file beside the database is cut back to this after a checkpoint

_TABLES = {
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "variants": "CREATE TABLE variants (variant INTEGER PRIMARY KEY, object_type INTEGER NOT NULL, "
                "object_id BLOB NOT NULL, transfer_length INTEGER NOT NULL, symbol_size INTEGER NOT NULL, "
                "last_heard INTEGER NOT NULL, UNIQUE (object_type, object_id, transfer_length, symbol_size))",
    "symbols": "CREATE TABLE symbols (variant INTEGER NOT NULL, symbol_id INTEGER NOT NULL, symbol BLOB NOT NULL, "
               "PRIMARY KEY (variant, symbol_id)) WITHOUT ROWID",
    "objects": "CREATE TABLE objects (object_type INTEGER NOT NULL, object_id BLOB NOT NULL, state INTEGER NOT NULL, "
               "payload BLOB, done_order INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (object_type, object_id)) WITHOUT ROWID",
    "progress": "CREATE TABLE progress (source TEXT PRIMARY KEY, resume_sample INTEGER NOT NULL)",
    "headers": "CREATE TABLE headers (height INTEGER PRIMARY KEY, header BLOB NOT NULL)",
}
_COLUMNS = {
    "meta": ["key", "value"],
    "variants": ["variant", "object_type", "object_id", "transfer_length", "symbol_size", "last_heard"],
    "symbols": ["variant", "symbol_id", "symbol"],
    "objects": ["object_type", "object_id", "state", "payload", "done_order"],
    "progress": ["source", "resume_sample"],
    "headers": ["height", "header"],
}
_OLD_SYMBOLS_COLUMNS = ["object_type", "object_id", "symbol_id", "transfer_length", "symbol_size", "symbol"]
_DONE_INDEX = "CREATE INDEX IF NOT EXISTS objects_done ON objects (state, done_order)"

VariantKey = tuple[int, bytes, int, int]  # (object type, object id, transfer length, symbol size)


RESET_HINT = "--reset-state moves it aside and starts a new one"


class StoreError(Exception):
    """A state file this receiver cannot use; the message names the file and what is wrong."""


@dataclass(frozen=True)
class StoredVariant:
    key: VariantKey
    symbols: int
    cost: int  # bytes against the budget: symbol bytes + SYMBOL_ROW_OVERHEAD per symbol
    last_heard: int


def _guarded(method):
    """SQLite errors while the receiver runs (a page damaged where ``quick_check`` did not look, a
    full disk) become one ``StoreError`` naming the file."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as bad:
            why = "its schema is not text" if isinstance(bad, UnicodeDecodeError) else " ".join(str(bad).split())
            raise StoreError(f"{self.path}: unusable ({why}); if it is damaged, {RESET_HINT}") from None
    return guarded


def symbol_cost(symbol_size: int) -> int:
    return symbol_size + SYMBOL_ROW_OVERHEAD


def _is_key(object_type, object_id) -> bool:
    return isinstance(object_type, int) and 0 <= object_type <= 0xFF and isinstance(object_id, bytes) and len(object_id) == 32


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and low <= value <= high


class ReceiverStore:
    """``ReceiverStore(path, chain)``: the state file of one chain; changes become durable at ``commit()``."""

    def __init__(self, path: str | Path, chain: str):
        self.path = Path(path)
        self.warnings: list[str] = []  # damaged rows deleted while reading (the receiver shows them)
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a state file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as bad:
            raise StoreError(f"{self.path}: cannot make its folder ({bad.strerror})") from None
        self._variant_rows: dict[VariantKey, int] = {}
        try:
            self._db = sqlite3.connect(self.path, isolation_level="DEFERRED")
            self._db.text_factory = lambda raw: raw.decode("utf-8", "replace")  # a damaged TEXT is still a str
            self._open(chain)
            self._done_order = self._db.execute("SELECT COALESCE(MAX(done_order), 0) FROM objects").fetchone()[0]
            self._done_count = self._db.execute("SELECT COUNT(*) FROM objects WHERE state = ?", (DURABLE,)).fetchone()[0]
        except sqlite3.DatabaseError as bad:
            if "locked" in str(bad):
                raise StoreError(f"{self.path}: in use by another receiver (one state file, one receiver)") from None
            raise StoreError(f"{self.path}: not a chaincast receiver state file ({bad}); {RESET_HINT}") from None
        except UnicodeDecodeError:  # SQLite's own message quoted bytes of a damaged schema
            raise StoreError(f"{self.path}: damaged (its schema is not text); {RESET_HINT}") from None
        if not isinstance(self._done_order, int):
            self._done_order = 0

    def _open(self, chain: str) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; a power cut may lose the last commits
        self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        found = {name: sql for name, sql in self._db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        if not found:
            for sql in _TABLES.values():
                self._db.execute(sql)
            self._db.execute(_DONE_INDEX)
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema", str(SCHEMA_VERSION)), ("chain", chain)])
            self._db.commit()
            return
        if "meta" not in found or self._columns("meta") != _COLUMNS["meta"]:
            raise StoreError(f"{self.path}: not a chaincast receiver state file (no meta table); {RESET_HINT}")
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        schema = meta.get("schema")
        if schema != str(SCHEMA_VERSION) and schema not in UPGRADABLE:
            raise StoreError(f"{self.path}: state schema {schema!r}, this receiver reads {SCHEMA_VERSION}; {RESET_HINT}")
        if meta.get("chain") != chain:
            raise StoreError(f"{self.path}: state of chain {meta.get('chain')!r}, not {chain!r}")
        if schema != str(SCHEMA_VERSION):
            self._upgrade(found)
        quick = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if quick != "ok":
            raise StoreError(f"{self.path}: damaged ({' '.join(quick.split())}); {RESET_HINT}")
        for name in _TABLES:
            if self._columns(name) != _COLUMNS[name]:
                raise StoreError(f"{self.path}: damaged: table {name!r} is not this receiver's; {RESET_HINT}")
        self._db.execute(_DONE_INDEX)
        self._db.commit()

    def _columns(self, table: str) -> list[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]

    def _upgrade(self, found: dict) -> None:
        """Schemas 1 and 2 -> 3: symbols move under variants, objects get their done order."""
        for name, sql in _TABLES.items():
            if name not in found:
                self._db.execute(sql)
        if "symbols" in found and self._columns("symbols") == _OLD_SYMBOLS_COLUMNS:
            self._db.execute("ALTER TABLE symbols RENAME TO old_symbols")
            self._db.execute(_TABLES["symbols"])
            self._db.execute("INSERT OR IGNORE INTO variants (object_type, object_id, transfer_length, symbol_size, last_heard) "
                             "SELECT DISTINCT object_type, object_id, transfer_length, symbol_size, 0 FROM old_symbols")
            self._db.execute("INSERT OR IGNORE INTO symbols SELECT v.variant, o.symbol_id, o.symbol FROM old_symbols o "
                             "JOIN variants v USING (object_type, object_id, transfer_length, symbol_size)")
            self._db.execute("DROP TABLE old_symbols")
        if "objects" in found and "done_order" not in self._columns("objects"):
            self._db.execute("ALTER TABLE objects ADD COLUMN done_order INTEGER NOT NULL DEFAULT 0")
        self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        self._db.commit()

    def _warn(self, what: str) -> None:
        self.warnings.append(f"{self.path}: {what}")

    # ------------------------------------------------------------------ symbols
    @_guarded
    def stored_variants(self) -> list[StoredVariant]:
        """Every variant with its stored symbols, oldest heard first; damaged rows are deleted."""
        rows = self._db.execute(
            "SELECT v.variant, v.object_type, v.object_id, v.transfer_length, v.symbol_size, v.last_heard, "
            "COUNT(s.symbol_id), COALESCE(SUM(length(s.symbol)), 0), "
            "COALESCE(SUM(typeof(s.symbol) != 'blob' OR length(s.symbol) != v.symbol_size "
            "OR typeof(s.symbol_id) != 'integer' OR s.symbol_id < 0 OR s.symbol_id > 4294967295), 0) "
            "FROM variants v LEFT JOIN symbols s USING (variant) GROUP BY v.variant ORDER BY v.last_heard").fetchall()
        out, bad = [], []
        for row_id, otype, oid, length, size, heard, count, nbytes, damaged in rows:
            if damaged or not (_is_key(otype, oid) and _is_int(length, 1, 1 << 32) and _is_int(size, 8, 0xFFFF)
                               and _is_int(heard, 0, 1 << 62)):
                bad.append(row_id)
                continue
            key = (otype, oid, length, size)
            self._variant_rows[key] = row_id
            out.append(StoredVariant(key, count, VARIANT_ROW_OVERHEAD + nbytes + count * SYMBOL_ROW_OVERHEAD, heard))
        if bad:
            self._warn(f"{len(bad)} damaged partial objects dropped")
            self._db.executemany("DELETE FROM symbols WHERE variant = ?", [(r,) for r in bad])
            self._db.executemany("DELETE FROM variants WHERE variant = ?", [(r,) for r in bad])
        orphans = self._db.execute("DELETE FROM symbols WHERE variant NOT IN (SELECT variant FROM variants)").rowcount
        if orphans:
            self._warn(f"{orphans} symbols without their object dropped")
        return out

    @_guarded
    def add_symbol(self, key: VariantKey, symbol_id: int, symbol: bytes, heard: int) -> bool:
        """Store one symbol of the variant; False if a symbol with this id is already stored."""
        row_id = self._variant_rows.get(key)
        if row_id is None:
            self._db.execute("INSERT OR IGNORE INTO variants (object_type, object_id, transfer_length, symbol_size, last_heard) "
                             "VALUES (?, ?, ?, ?, ?)", (*key, heard))
            row_id = self._db.execute("SELECT variant FROM variants WHERE object_type = ? AND object_id = ? AND "
                                      "transfer_length = ? AND symbol_size = ?", key).fetchone()[0]
            self._variant_rows[key] = row_id
        else:
            self._db.execute("UPDATE variants SET last_heard = ? WHERE variant = ?", (heard, row_id))
        return self._db.execute("INSERT OR IGNORE INTO symbols VALUES (?, ?, ?)", (row_id, symbol_id, symbol)).rowcount == 1

    @_guarded
    def symbol_ids(self, key: VariantKey) -> list[int]:
        row_id = self._variant_rows.get(key)
        if row_id is None:
            return []
        return [sid for (sid,) in self._db.execute("SELECT symbol_id FROM symbols WHERE variant = ? ORDER BY symbol_id", (row_id,))]

    @_guarded
    def symbols(self, key: VariantKey, symbol_ids: Iterable[int] | None = None) -> list[tuple[int, bytes]]:
        """``(symbol_id, symbol)`` of the variant's stored symbols (those of ``symbol_ids`` only,
        if given), by symbol id; rows of the wrong shape are skipped."""
        row_id = self._variant_rows.get(key)
        if row_id is None:
            return []
        rows = self._db.execute("SELECT symbol_id, symbol FROM symbols WHERE variant = ? ORDER BY symbol_id", (row_id,))
        wanted = None if symbol_ids is None else set(symbol_ids)
        return [(sid, bytes(sym)) for sid, sym in rows
                if isinstance(sym, bytes) and len(sym) == key[3] and (wanted is None or sid in wanted)]

    @_guarded
    def drop_variant(self, key: VariantKey) -> None:
        row_id = self._variant_rows.pop(key, None)
        if row_id is not None:
            self._db.execute("DELETE FROM symbols WHERE variant = ?", (row_id,))
            self._db.execute("DELETE FROM variants WHERE variant = ?", (row_id,))

    # ------------------------------------------------------------------ objects
    @_guarded
    def state_of(self, object_type: int, object_id: bytes) -> int | None:
        row = self._db.execute("SELECT state FROM objects WHERE object_type = ? AND object_id = ?",
                               (object_type, object_id)).fetchone()
        return None if row is None else row[0]

    @_guarded
    def object_complete(self, object_type: int, object_id: bytes, payload: bytes) -> None:
        """Rebuilt: keep the payload (its symbols are the assembler's to drop)."""
        self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, 0)", (object_type, object_id, COMPLETE, payload))

    @_guarded
    def mark_durable(self, keys: Iterable[tuple[int, bytes]]) -> None:
        rows = []
        for t, i in keys:
            self._done_order += 1
            rows.append((DURABLE, self._done_order, t, i, DURABLE))
        self._done_count += self._db.executemany(
            "UPDATE objects SET state = ?, payload = NULL, done_order = ? WHERE object_type = ? AND object_id = ? "
            "AND state != ?", rows).rowcount
        if self._done_count > MAX_DONE_OBJECTS * 11 // 10:  # prune in batches, not one row per object
            self._db.execute("DELETE FROM objects WHERE state = ? AND done_order <= ?",
                             (DURABLE, self._done_order - MAX_DONE_OBJECTS))
            self._done_count = self._db.execute("SELECT COUNT(*) FROM objects WHERE state = ?", (DURABLE,)).fetchone()[0]

    @_guarded
    def forget_object(self, object_type: int, object_id: bytes) -> None:
        """Start the object over (what was rebuilt was rejected downstream)."""
        self._db.execute("DELETE FROM objects WHERE object_type = ? AND object_id = ?", (object_type, object_id))

    @_guarded
    def pending_objects(self) -> list[tuple[int, bytes, bytes]]:
        """``(object_type, object_id, payload)`` of objects rebuilt but not known to be durable;
        damaged rows are deleted."""
        good, bad = [], []
        for object_type, object_id, payload in self._db.execute(
                "SELECT object_type, object_id, payload FROM objects WHERE state = ?", (COMPLETE,)).fetchall():
            if _is_key(object_type, object_id) and isinstance(payload, bytes):
                good.append((object_type, object_id, payload))
            else:
                bad.append((object_type, object_id))
        bad += self._db.execute("SELECT object_type, object_id FROM objects WHERE state NOT IN (?, ?) "
                                "OR typeof(state) != 'integer'", (COMPLETE, DURABLE)).fetchall()
        if bad:
            self._warn(f"{len(bad)} damaged rebuilt objects dropped (they are rebuilt from a later pass)")
            self._db.executemany("DELETE FROM objects WHERE object_type IS ? AND object_id IS ?", bad)
        return good

    # ------------------------------------------------------------------ progress
    @_guarded
    def resume_sample(self, source: str) -> int:
        row = self._db.execute("SELECT resume_sample FROM progress WHERE source = ?", (source,)).fetchone()
        if row is None:
            return 0
        if not _is_int(row[0], 0, 1 << 62):
            self._warn(f"damaged resume position {row[0]!r} for this recording; reading it from its start")
            self._db.execute("DELETE FROM progress WHERE source = ?", (source,))
            return 0
        return row[0]

    @_guarded
    def set_resume_sample(self, source: str, sample: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO progress VALUES (?, ?)", (source, int(sample)))

    # ------------------------------------------------------------------ headers
    @_guarded
    def replace_headers(self, from_height: int, headers: list[bytes]) -> None:
        """The header chain from ``from_height`` on is now ``headers``."""
        self._db.execute("DELETE FROM headers WHERE height >= ?", (from_height,))
        self._db.executemany("INSERT INTO headers VALUES (?, ?)", [(from_height + i, h) for i, h in enumerate(headers)])

    @_guarded
    def headers(self) -> list[bytes]:
        """The kept header chain from height 0, as far as it runs without a gap or a damaged row
        (the rest is deleted: the uplink sends those headers again)."""
        out = []
        for height, header in self._db.execute("SELECT height, header FROM headers ORDER BY height"):
            if height != len(out) or not isinstance(header, bytes) or len(header) != HEADER_BYTES:
                break
            out.append(header)
        dropped = self._db.execute("DELETE FROM headers WHERE height >= ?", (len(out),)).rowcount
        if dropped:
            self._warn(f"{dropped} headers after height {len(out) - 1} dropped (a gap or a damaged row)")
        return out

    @_guarded
    def counts(self) -> dict:
        symbols = self._db.execute("SELECT COUNT(*) FROM symbols").fetchone()[0]
        by_state = dict(self._db.execute("SELECT state, COUNT(*) FROM objects GROUP BY state"))
        return {"symbols_stored": symbols, "objects_pending": by_state.get(COMPLETE, 0),
                "objects_durable": by_state.get(DURABLE, 0)}

    @_guarded
    def commit(self) -> None:
        self._db.commit()

    @_guarded
    def close(self) -> None:
        self._db.commit()
        self._db.close()


def set_aside(path: str | Path) -> Path | None:
    """Move a state file (and its WAL and shared-memory files) aside as ``NAME.damaged-TIME``, so
    a new one starts; returns where it went (None: there was no file)."""
    path = Path(path)
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.replace(part, target.with_name(target.name + suffix))
    return target
