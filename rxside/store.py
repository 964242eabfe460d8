"""The receiver's memory on disk (SQLite, stdlib): nothing it heard is lost to a crash.

What is kept, in one database file:

- every fountain symbol of an object still being rebuilt (``symbols``), so partial objects survive
  restarts and combine with later passes;
- every rebuilt object (``objects``): its payload until the node holds it durably, then only its
  key (so later passes of it are skipped);
- per input recording, the sample from which a restarted receiver must read again (``progress``);
- the checked header chain (``headers``, ``chaincast.rxside.headerchain``).

The receiver commits once per input chunk: the packets of the frames decoded in it, the objects
completed, and the new resume position, in one transaction. A ``kill -9`` at any moment therefore
leaves the state of the last commit, and the resume position of that commit is early enough that
everything not yet committed is read again. WAL journal: a killed process loses nothing committed.

States of an object: ``COMPLETE`` (rebuilt; payload kept: handed to the node, perhaps, but not
known to be on its disk) and ``DURABLE`` (the node has flushed it; payload dropped).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from chaincast.fec.wire.packet import Packet

SCHEMA_VERSION = 2
UPGRADABLE = {"1"}  # schema 2 only added the headers table
COMPLETE = 1
DURABLE = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS symbols (
    object_type INTEGER NOT NULL, object_id BLOB NOT NULL, symbol_id INTEGER NOT NULL,
    transfer_length INTEGER NOT NULL, symbol_size INTEGER NOT NULL, symbol BLOB NOT NULL,
    PRIMARY KEY (object_type, object_id, symbol_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    object_type INTEGER NOT NULL, object_id BLOB NOT NULL, state INTEGER NOT NULL, payload BLOB,
    PRIMARY KEY (object_type, object_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS progress (source TEXT PRIMARY KEY, resume_sample INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS headers (height INTEGER PRIMARY KEY, header BLOB NOT NULL);
"""


class StoreError(Exception):
    pass


class ReceiverStore:
    """``ReceiverStore(path, chain)``: the state file of one chain; changes become durable at ``commit()``."""

    def __init__(self, path: str | Path, chain: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level="DEFERRED")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; a power cut may lose the last commits
            self._db.executescript(_SCHEMA)
            found = dict(self._db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as bad:
            raise StoreError(f"{self.path}: not a chaincast receiver state file ({bad})") from None
        if not found:
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema", str(SCHEMA_VERSION)), ("chain", chain)])
            self._db.commit()
        elif found.get("schema") != str(SCHEMA_VERSION) and found.get("schema") not in UPGRADABLE:
            raise StoreError(f"{self.path}: state schema {found.get('schema')}, this receiver reads {SCHEMA_VERSION}")
        elif found.get("chain") != chain:
            raise StoreError(f"{self.path}: state of chain {found.get('chain')!r}, not {chain!r}")
        elif found.get("schema") != str(SCHEMA_VERSION):  # the tables it lacked were created above
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
            self._db.commit()

    # ------------------------------------------------------------------ symbols
    def add_packet(self, pkt: Packet) -> None:
        self._db.execute("INSERT OR IGNORE INTO symbols VALUES (?, ?, ?, ?, ?, ?)",
                         (pkt.object_type, pkt.object_id, pkt.symbol_id, pkt.transfer_length, pkt.symbol_size, pkt.symbol))

    def symbols_of(self, object_type: int, object_id: bytes) -> list[tuple[int, int, int, bytes]]:
        """``(symbol_id, transfer_length, symbol_size, symbol)`` of every stored symbol of the object."""
        return self._db.execute(
            "SELECT symbol_id, transfer_length, symbol_size, symbol FROM symbols WHERE object_type = ? AND object_id = ?",
            (object_type, object_id)).fetchall()

    def forget_symbols(self, object_type: int, object_id: bytes) -> None:
        self._db.execute("DELETE FROM symbols WHERE object_type = ? AND object_id = ?", (object_type, object_id))

    # ------------------------------------------------------------------ objects
    def state_of(self, object_type: int, object_id: bytes) -> int | None:
        row = self._db.execute("SELECT state FROM objects WHERE object_type = ? AND object_id = ?",
                               (object_type, object_id)).fetchone()
        return None if row is None else row[0]

    def object_complete(self, object_type: int, object_id: bytes, payload: bytes) -> None:
        """Rebuilt: keep the payload, forget the symbols."""
        self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (object_type, object_id, COMPLETE, payload))
        self.forget_symbols(object_type, object_id)

    def mark_durable(self, keys: Iterable[tuple[int, bytes]]) -> None:
        self._db.executemany("UPDATE objects SET state = ?, payload = NULL WHERE object_type = ? AND object_id = ?",
                             [(DURABLE, t, i) for t, i in keys])

    def forget_object(self, object_type: int, object_id: bytes) -> None:
        """Start the object over (what was rebuilt was rejected downstream)."""
        self._db.execute("DELETE FROM objects WHERE object_type = ? AND object_id = ?", (object_type, object_id))

    def pending_objects(self) -> Iterator[tuple[int, bytes, bytes]]:
        """``(object_type, object_id, payload)`` of objects rebuilt but not known to be durable."""
        yield from self._db.execute("SELECT object_type, object_id, payload FROM objects WHERE state = ?", (COMPLETE,))

    # ------------------------------------------------------------------ progress
    def resume_sample(self, source: str) -> int:
        row = self._db.execute("SELECT resume_sample FROM progress WHERE source = ?", (source,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_resume_sample(self, source: str, sample: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO progress VALUES (?, ?)", (source, int(sample)))

    # ------------------------------------------------------------------ headers
    def replace_headers(self, from_height: int, headers: list[bytes]) -> None:
        """The header chain from ``from_height`` on is now ``headers``."""
        self._db.execute("DELETE FROM headers WHERE height >= ?", (from_height,))
        self._db.executemany("INSERT INTO headers VALUES (?, ?)", [(from_height + i, h) for i, h in enumerate(headers)])

    def headers(self) -> list[bytes]:
        """The kept header chain from height 0, as far as it runs without a gap."""
        out = []
        for height, header in self._db.execute("SELECT height, header FROM headers ORDER BY height"):
            if height != len(out):
                break
            out.append(bytes(header))
        return out

    def counts(self) -> dict:
        symbols = self._db.execute("SELECT COUNT(*) FROM symbols").fetchone()[0]
        by_state = dict(self._db.execute("SELECT state, COUNT(*) FROM objects GROUP BY state"))
        return {"symbols_stored": symbols, "objects_pending": by_state.get(COMPLETE, 0),
                "objects_durable": by_state.get(DURABLE, 0)}

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()
