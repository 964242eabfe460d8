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
- the checked header chain (``header_runs``, ``chaincast.rxside.headerchain``), one row per run of
  ``HEADER_SEAL_RUN`` heights: the run's headers back to back (all 2016 of them but in the last
  run) and its seal, an HMAC-SHA256 of the chain's name, the run's first height and its headers,
  made with a secret key in a file of its own beside the state file (``key_path``, made on first
  use, readable by its owner only), or NULL for a run not sealed. A row a run, not a row a header:
  SQLite spends about half a second reading 930,000 rows, a twentieth of that reading 462 runs.
  The receiver seals only headers it has checked, so a run whose seal verifies is not checked
  header by header at the next start; a state file passed around without its key file has no
  valid seal, and its headers are checked again (then sealed with this receiver's key).

The receiver commits once per input chunk: the packets of the frames decoded in it, the objects
completed, and the new resume position, in one transaction. A ``kill -9`` at any moment therefore
leaves the state of the last commit, and the resume position of that commit is early enough that
everything not yet committed is read again. WAL journal: a killed process loses nothing committed.

States of an object: ``COMPLETE`` (rebuilt; payload kept: handed to the node, perhaps, but not
known to be on its disk) and ``DURABLE`` (the node has flushed it; payload dropped).

Users pass state files around and disks fail, so nothing read from the file is trusted: a file
that is not a state file, or whose tables are not this schema's, is refused with ``StoreError``
(``--reset-state`` starts a new one); a row that does not make sense (a header run out of place or
of the wrong length, a NULL payload, a symbol of the wrong size) is deleted and reported in
``warnings``. The one thing the file vouches for, that headers were checked, it vouches for only
with a seal made by the key that stays beside it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import sqlite3
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 4
UPGRADABLE = {"1", "2", "3"}  # schema 2 added the headers table, schema 3 variants and done order, schema 4 header runs
COMPLETE = 1
DURABLE = 2
MAX_DONE_OBJECTS = 100_000  # keys of durable objects kept to skip their later passes (~8 MB)
HEADER_BYTES = 80
HEADER_SEAL_RUN = 2016  # headers a seal covers (a retarget period, the uplink's default run): 462 seals on main
KEY_BYTES = 32
SEAL_DOMAIN = b"chaincast rx header seal\0"  # the HMAC's message starts with this, then the chain's name
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
    "header_runs": "CREATE TABLE header_runs (first_height INTEGER PRIMARY KEY, headers BLOB NOT NULL, seal BLOB)",
}
_COLUMNS = {
    "meta": ["key", "value"],
    "variants": ["variant", "object_type", "object_id", "transfer_length", "symbol_size", "last_heard"],
    "symbols": ["variant", "symbol_id", "symbol"],
    "objects": ["object_type", "object_id", "state", "payload", "done_order"],
    "progress": ["source", "resume_sample"],
    "header_runs": ["first_height", "headers", "seal"],
}
_OLD_HEADERS_COLUMNS = ["height", "header"]  # schemas 2 and 3: one row a header
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
        self.chain = chain
        self.key_path = self.path.with_name(self.path.name + ".key")  # the header seals' secret (never inside the state file)
        self._key: bytes | None = None
        self._key_unusable = False  # the key file could not be read or written: nothing is sealed
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
        """Schemas 1 to 3 -> 4: symbols move under variants, objects get their done order, header
        rows become unsealed runs (checked once more at the next start, then sealed)."""
        for name, sql in _TABLES.items():
            if name not in found:
                self._db.execute(sql)
        if "headers" in found:
            self._runs_from_header_rows()
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

    def _runs_from_header_rows(self) -> None:
        """The ``headers`` table of schemas 2 and 3 (one row a header) into ``header_runs``: the rows
        from height 0 up to the first gap or damaged row, in unsealed runs; then the table goes."""
        if self._columns("headers") != _OLD_HEADERS_COLUMNS:
            raise StoreError(f"{self.path}: damaged: table 'headers' is not this receiver's; {RESET_HINT}")
        rows = self._db.execute("SELECT height, header FROM headers ORDER BY height")
        kept = 0
        while batch := rows.fetchmany(HEADER_SEAL_RUN):
            intact = _intact_header_rows(batch, kept)
            if intact:
                self._db.execute("INSERT INTO header_runs VALUES (?, ?, NULL)", (kept, b"".join(intact)))
                kept += len(intact)
            if len(intact) < len(batch):
                break
        rows.close()  # SQLite does not drop a table a statement still reads
        dropped = self._db.execute("SELECT COUNT(*) FROM headers").fetchone()[0] - kept
        if dropped:
            self._warn(f"{dropped} headers after height {kept - 1} dropped (a gap or a damaged row)")
        self._db.execute("DROP TABLE headers")

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
        """The checked header chain from ``from_height`` on is now ``headers``: ``HeaderChain``
        calls this (its ``on_change``) with headers it has checked, and they are sealed as such,
        with the kept headers before them in their run if that run's seal verifies."""
        run_start = from_height - from_height % HEADER_SEAL_RUN
        before, sealed = self._run_prefix(run_start, from_height)
        self._db.execute("DELETE FROM header_runs WHERE first_height >= ?", (run_start,))
        if before is None:  # the start of its run is gone, and a run row cannot begin mid-run
            self._warn(f"headers from height {run_start} not kept: their run row was damaged or removed")
            return
        raw = b"".join(headers)
        if before and raw and raw[4:36] != _sha256d(before[-HEADER_BYTES:]):
            sealed = False  # not what the chain holds: only a check at the next start may seal it
        raw = before + raw
        for first in range(run_start, run_start + len(raw) // HEADER_BYTES, HEADER_SEAL_RUN):
            run = raw[(first - run_start) * HEADER_BYTES:(first - run_start + HEADER_SEAL_RUN) * HEADER_BYTES]
            seal = self._seal_of(first, run, create_key=True) if sealed or first > run_start else None
            self._db.execute("INSERT INTO header_runs VALUES (?, ?, ?)", (first, run, seal))

    def _run_prefix(self, run_start: int, stop: int) -> tuple[bytes | None, bool]:
        """The kept headers ``run_start`` .. ``stop - 1`` (the start of a run), and whether their run's
        seal verifies (over the whole run as kept); None: the run row does not hold them."""
        if stop == run_start:
            return b"", True
        row = self._db.execute("SELECT headers, seal FROM header_runs WHERE first_height = ?", (run_start,)).fetchone()
        size = (stop - run_start) * HEADER_BYTES
        if row is None or not isinstance(row[0], bytes) or len(row[0]) < size or len(row[0]) % HEADER_BYTES:
            return None, False
        return row[0][:size], self._seal_verifies(run_start, *row)

    @_guarded
    def headers(self) -> StoredHeaders:
        """The kept header chain from height 0, as far as its runs follow each other and make sense
        (the rest is deleted: the uplink sends those headers again); read a run at a time."""
        count = self._intact_headers()
        dropped = self._db.execute(
            "DELETE FROM header_runs WHERE NOT (typeof(first_height) = 'integer' AND first_height BETWEEN 0 AND ? "
            "AND first_height % ? = 0)", (count - 1, HEADER_SEAL_RUN)).rowcount
        if dropped:
            self._warn(f"headers after height {count - 1} dropped ({dropped} run rows: a gap or a damaged row)")
        return StoredHeaders(self, count)

    def _intact_headers(self) -> int:
        """How many headers the run rows hold from height 0 up to the first row that does not make
        sense: not at the next run's first height, not whole headers in a blob, more than a run, a
        short run that is not the last, a seal neither NULL nor a blob. Judged by types and lengths,
        which SQLite gives without reading the headers."""
        rows = self._db.execute("SELECT first_height, typeof(headers), length(headers), typeof(seal) "
                                "FROM header_runs ORDER BY first_height").fetchall()
        count = 0
        for first, kind, size, seal_kind in rows:
            if count % HEADER_SEAL_RUN:  # the run before this one is short, so it was not the last
                return count - count % HEADER_SEAL_RUN
            if not _is_run_row(count, first, kind, size, seal_kind):
                return count
            count += size // HEADER_BYTES
        return count

    @_guarded
    def _run_row(self, first: int, count: int) -> tuple[bytes, object] | None:
        """The headers and the seal (as stored) of the run row from ``first`` if it holds ``count``
        headers, as ``headers`` found it; None: it changed since."""
        row = self._db.execute("SELECT headers, seal FROM header_runs WHERE first_height = ?", (first,)).fetchone()
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != count * HEADER_BYTES:
            return None
        return row

    @_guarded
    def _header_at(self, height: int) -> bytes | None:
        """The kept header at ``height``, cut from its run by SQLite; None: its run row changed."""
        first = height - height % HEADER_SEAL_RUN
        row = self._db.execute("SELECT substr(headers, ?, ?) FROM header_runs WHERE first_height = ?",
                               ((height - first) * HEADER_BYTES + 1, HEADER_BYTES, first)).fetchone()
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != HEADER_BYTES:
            return None
        return row[0]

    def _kept_header_runs(self, count: int) -> Iterator[tuple[int, bytes, bool]]:
        """``(first height, headers, sealed)`` of the first ``count`` kept headers, a run at a time
        (a generator: the methods it calls turn SQLite errors into ``StoreError``)."""
        unsealed = 0
        for first in range(0, count, HEADER_SEAL_RUN):
            row = self._run_row(first, min(count - first, HEADER_SEAL_RUN))
            if row is None:  # changed since it was judged: what is left is not kept
                return
            raw, seal = row
            sealed = self._seal_verifies(first, raw, seal)
            unsealed += 0 if sealed else len(raw) // HEADER_BYTES
            yield first, raw, sealed
        if unsealed:
            self._warn(f"{unsealed} kept headers were not sealed with {self.key_path.name}: checked again")

    def _seal_verifies(self, first: int, raw: bytes, seal) -> bool:
        """Whether ``seal``, as read from a run row, seals the headers ``raw`` from ``first``."""
        if not isinstance(seal, bytes):
            return False
        expected = self._seal_of(first, raw, create_key=False)
        return expected is not None and hmac.compare_digest(expected, seal)

    @_guarded
    def _seal_run(self, first: int, raw: bytes) -> None:
        """Seal the run row from ``first``, whose headers ``raw`` have been checked (should the row
        hold other headers, the seal does not verify for them)."""
        seal = self._seal_of(first, raw, create_key=True)
        if seal is not None:
            self._db.execute("UPDATE header_runs SET seal = ? WHERE first_height = ?", (seal, first))

    def _seal_of(self, first: int, raw: bytes, create_key: bool) -> bytes | None:
        key = self._seal_key(create_key)
        if key is None:
            return None
        message = SEAL_DOMAIN + self.chain.encode() + struct.pack(">BQI", 0, first, len(raw) // HEADER_BYTES)
        mac = hmac.new(key, message, hashlib.sha256)
        mac.update(raw)
        return mac.digest()

    def _seal_key(self, create: bool) -> bytes | None:
        """The seals' secret, from ``key_path``; a new one is written there when ``create`` and there is
        none (or it is not KEY_BYTES long). None: no key (nothing counts as sealed)."""
        if self._key is not None or self._key_unusable:
            return self._key
        try:
            key = self.key_path.read_bytes()
        except FileNotFoundError:
            key = b""
        except OSError as bad:
            return self._no_key(f"cannot read {self.key_path.name} ({bad.strerror})")
        if len(key) != KEY_BYTES:
            if not create:
                return None
            key = secrets.token_bytes(KEY_BYTES)
            partial = self.key_path.with_name(self.key_path.name + ".partial")
            try:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(key)
                os.replace(partial, self.key_path)
            except OSError as bad:
                return self._no_key(f"cannot write {self.key_path.name} ({bad.strerror})")
        self._key = key
        return key

    def _no_key(self, why: str) -> None:
        self._key_unusable = True
        self._warn(f"{why}: the header chain is checked again at every start")
        return None

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


def _is_run_row(expected_first: int, first, kind: str, size, seal_kind: str) -> bool:
    """Whether a header run row (its first height, the type and length of its headers, the type of
    its seal) is the run from ``expected_first``: whole headers, at most a run of them."""
    return (isinstance(first, int) and first == expected_first and kind == "blob"
            and _is_int(size, 1, HEADER_SEAL_RUN * HEADER_BYTES) and size % HEADER_BYTES == 0
            and seal_kind in ("null", "blob"))


def _intact_header_rows(rows: list[tuple], first: int) -> list[bytes]:
    """The headers of ``(height, header)`` rows, from height ``first`` up to the first gap or damaged row."""
    intact = []
    for height, header in rows:
        if height != first + len(intact) or not isinstance(header, bytes) or len(header) != HEADER_BYTES:
            break
        intact.append(header)
    return intact


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


class StoredHeaders(Sequence):
    """The header chain kept in a state file (``ReceiverStore.headers``): a sequence of 80-byte
    headers that reads the file when used, not all at once (930,000 headers as bytes objects
    would take about 110 MB). ``HeaderChain`` takes it through two methods: ``kept_runs()``, the
    headers as ``(first height, headers back to back, sealed)`` a seal run at a time, in height
    order; ``mark_checked(first_height, headers)``, a run it has checked in full, to be sealed."""

    def __init__(self, store: ReceiverStore, count: int):
        self._store, self._count = store, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        at = index + self._count if index < 0 else index
        if not 0 <= at < self._count:
            raise IndexError(f"no kept header {index} (there are {self._count})")
        header = self._store._header_at(at)
        if header is None:
            raise StoreError(f"{self._store.path}: the header run holding height {at} changed while it was being read")
        return header

    def __iter__(self) -> Iterator[bytes]:
        for first in range(0, self._count, HEADER_SEAL_RUN):
            row = self._store._run_row(first, min(self._count - first, HEADER_SEAL_RUN))
            if row is None:
                raise StoreError(f"{self._store.path}: the header run from {first} changed while it was being read")
            raw = row[0]
            yield from (raw[at:at + HEADER_BYTES] for at in range(0, len(raw), HEADER_BYTES))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None

    def kept_runs(self) -> Iterator[tuple[int, bytes, bool]]:
        return self._store._kept_header_runs(self._count)

    def mark_checked(self, first_height: int, headers: bytes) -> None:
        if first_height % HEADER_SEAL_RUN == 0:
            self._store._seal_run(first_height, headers)


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
