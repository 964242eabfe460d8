"""The receiver's state on disk: partial objects, rebuilt objects and hand-over to the node survive a restart."""

import os

import pytest

from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.kernel import ChainDelivery, block_hash
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.store import COMPLETE, DURABLE, ReceiverStore, StoreError
from tests.rxside.test_assembler import make_object, packets_of


def test_a_partial_object_resumes_from_its_stored_symbols_after_a_restart(tmp_path):
    obj = make_object(os.urandom(20_000))
    pkts = packets_of(obj, 1024)  # K = 20 source symbols + 2 repair
    first, rest = pkts[:12], pkts[12:]
    store = ReceiverStore(tmp_path / "rx.sqlite", "main")
    assert all(ObjectAssembler(store=store).add(p) is None for p in first)
    store.commit()
    del store  # the process dies here: the connection is never closed

    again = ReceiverStore(tmp_path / "rx.sqlite", "main")
    asm = ObjectAssembler(store=again)
    done = [o for o in map(asm.add, rest) if o is not None]
    assert done == [obj] and asm.stats.objects_resumed == 1
    assert again.state_of(obj.object_type, obj.object_id) == COMPLETE
    assert again.counts()["symbols_stored"] == 0  # a rebuilt object keeps its payload, not its symbols
    # without the stored half the rest is not enough (so the test above depends on the store)
    assert all(ObjectAssembler().add(p) is None for p in rest)


def test_uncommitted_packets_are_not_kept_and_a_rebuilt_object_is_not_rebuilt_again(tmp_path):
    obj = make_object(os.urandom(3000))
    store = ReceiverStore(tmp_path / "rx.sqlite", "main")
    asm = ObjectAssembler(store=store)
    assert [o for o in map(asm.add, packets_of(obj, 512)) if o is not None] == [obj]
    store.commit()
    other = make_object(os.urandom(3000))
    asm.add(packets_of(other, 512)[0])  # never committed
    store._db.close()  # killed

    again = ReceiverStore(tmp_path / "rx.sqlite", "main")
    assert again.state_of(other.object_type, other.object_id) is None and again.counts()["symbols_stored"] == 0
    asm = ObjectAssembler(store=again)
    assert all(asm.add(p) is None for p in packets_of(obj, 512, pass_index=1))
    assert asm.stats.packets_duplicate > 0 and asm.stats.objects_complete == 0


def test_objects_rebuilt_before_a_crash_reach_the_node_after_it(tmp_path, mainnet_blocks):
    store = ReceiverStore(tmp_path / "rx.sqlite", "main")
    for raw in mainnet_blocks[1:4]:
        store.object_complete(ObjectType.BLOCK, block_hash(raw), raw)
    store.commit()
    delivery = ChainDelivery(tmp_path / "datadir", "main")
    receiver = Receiver(2.4e6, 1e6, 0.2, delivery, store=store)
    assert receiver.objects_redelivered == 3
    report = receiver.finish()
    assert report.tip_height == 3 and report.blocks_validated == 3
    assert store.counts()["objects_durable"] == 3 and store.counts()["objects_pending"] == 0
    assert store.state_of(ObjectType.BLOCK, block_hash(mainnet_blocks[2])) == DURABLE
    delivery.close()


def test_a_state_file_of_another_chain_or_not_a_state_file_is_refused(tmp_path):
    ReceiverStore(tmp_path / "rx.sqlite", "regtest").close()
    with pytest.raises(StoreError, match="regtest"):
        ReceiverStore(tmp_path / "rx.sqlite", "main")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match="not a chaincast receiver state"):
        ReceiverStore(junk, "main")


# ---------------------------------------------------------------------- damaged state files
import sqlite3  # noqa: E402

from chaincast.rxside.store import set_aside  # noqa: E402


def damaged_copy(tmp_path, mainnet_blocks, *statements: str):
    """A state file with a header chain, a pending block, partial symbols and a resume position,
    then changed by ``statements`` as a damaged disk or a careless user might."""
    path = tmp_path / "rx.sqlite"
    store = ReceiverStore(path, "main")
    store.replace_headers(0, [raw[:80] for raw in mainnet_blocks[:10]])
    store.object_complete(ObjectType.BLOCK, block_hash(mainnet_blocks[1]), mainnet_blocks[1])
    obj = make_object(os.urandom(20_000))
    asm = ObjectAssembler(store=store)
    for pkt in packets_of(obj, 1024)[:5]:
        asm.add(pkt)
    store.set_resume_sample("rec", 1234)
    store.close()
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()
    return path


@pytest.mark.parametrize("statement, warning", [
    ("UPDATE header_runs SET headers = x'00'", "headers after height -1 dropped"),
    ("UPDATE header_runs SET headers = 'text'", "headers after height -1 dropped"),
    ("UPDATE header_runs SET headers = zeroblob(2017 * 80)", "headers after height -1 dropped"),
    ("UPDATE header_runs SET first_height = 2016", "headers after height -1 dropped"),
    ("UPDATE header_runs SET seal = 7", "headers after height -1 dropped"),
    ("INSERT INTO header_runs VALUES (2016, zeroblob(800), NULL)", "headers after height -1 dropped"),  # 0..9: short, not last
    ("UPDATE header_runs SET headers = zeroblob(2016 * 80); INSERT INTO header_runs VALUES (2016, x'00', NULL)",
     "headers after height 2015 dropped"),
    ("UPDATE objects SET payload = NULL", "damaged rebuilt objects dropped"),
    ("UPDATE objects SET object_id = 'text'", "damaged rebuilt objects dropped"),
    ("UPDATE objects SET state = 7", "damaged rebuilt objects dropped"),
    ("UPDATE symbols SET symbol = x'0102'", "damaged partial objects dropped"),
    ("UPDATE variants SET transfer_length = -5", "damaged partial objects dropped"),
    ("UPDATE progress SET resume_sample = 'soon'", "damaged resume position"),
    ("DELETE FROM variants", "symbols without their object dropped"),
])
def test_a_damaged_row_is_dropped_with_a_warning_and_the_rest_is_used(tmp_path, mainnet_blocks, statement, warning):
    path = damaged_copy(tmp_path, mainnet_blocks, *statement.split("; "))
    store = ReceiverStore(path, "main")
    asm = ObjectAssembler(store=store)  # reads the partial objects
    receiver = Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path / "datadir", "main"), store=store)  # headers, pending objects
    store.resume_sample("rec")
    assert any(warning in w for w in store.warnings), store.warnings
    assert receiver.report().headers_height >= -1 and asm.stored_bytes >= 0
    # what was dropped is gone for good: a second opening is clean
    store.close()
    again = ReceiverStore(path, "main")
    ObjectAssembler(store=again)
    Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path / "datadir2", "main"), store=again)
    again.resume_sample("rec")
    assert again.warnings == []


@pytest.mark.parametrize("statement, message", [
    ("UPDATE meta SET value = '99' WHERE key = 'schema'", "state schema '99'"),
    ("DELETE FROM meta WHERE key = 'schema'", "state schema None"),
    ("DROP TABLE meta", "no meta table"),
    ("ALTER TABLE symbols RENAME TO s2", "table 'symbols' is not this receiver's"),
    ("ALTER TABLE header_runs ADD COLUMN extra", "table 'header_runs' is not this receiver's"),
    ("DROP TABLE header_runs; CREATE TABLE headers (height INTEGER PRIMARY KEY, header BLOB NOT NULL)",
     "table 'header_runs' is not this receiver's"),  # a header a row under schema 4
    ("UPDATE meta SET value = '3' WHERE key = 'schema'; DROP TABLE header_runs; CREATE TABLE headers (height, header, extra)",
     "table 'headers' is not this receiver's"),
])
def test_a_state_file_of_another_layout_is_refused_with_the_way_on(tmp_path, mainnet_blocks, statement, message):
    path = damaged_copy(tmp_path, mainnet_blocks, *statement.split("; "))
    with pytest.raises(StoreError, match=message) as refused:
        ReceiverStore(path, "main")
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("damage", ["middle", "truncated", "header"])
def test_a_state_file_damaged_on_disk_is_refused_and_can_be_set_aside(tmp_path, mainnet_blocks, damage):
    path = damaged_copy(tmp_path, mainnet_blocks)
    raw = bytearray(path.read_bytes())
    if damage == "middle":
        raw[len(raw) // 2: len(raw) // 2 + 4096] = os.urandom(4096)
    elif damage == "truncated":
        raw = raw[: len(raw) // 3]
    else:
        raw[100:200] = os.urandom(100)
    path.write_bytes(bytes(raw))
    try:
        store = ReceiverStore(path, "main")
    except StoreError as refused:
        assert str(path) in str(refused) and "\n" not in str(refused)
    else:  # the damage missed every page SQLite checks: the file must then still read cleanly
        ObjectAssembler(store=store)
        store.headers()
        list(store.pending_objects())
        store.close()
    aside = set_aside(path)
    assert aside is not None and aside.exists() and not path.exists()
    ReceiverStore(path, "main").close()  # a new state file starts


def test_a_schema_that_is_not_text_is_refused_not_a_unicode_crash(tmp_path):
    """Found by the state-file fuzz target: SQLite quotes the damaged schema in its message, and
    Python raised UnicodeDecodeError decoding it."""
    path = tmp_path / "rx.sqlite"
    ReceiverStore(path, "main").close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA writable_schema=ON")
    db.execute("UPDATE sqlite_master SET sql = CAST(x'43524541544520ff' AS TEXT) WHERE name = 'progress'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="its schema is not text.*--reset-state"):
        ReceiverStore(path, "main")


def test_a_file_damaged_while_the_receiver_runs_is_one_store_error(tmp_path):
    """Found by the state-file fuzz target: pages quick_check passed, or that changed later, raised
    sqlite3.DatabaseError from the middle of the receiver."""
    path = tmp_path / "rx.sqlite"
    store = ReceiverStore(path, "main")
    store.replace_headers(0, [os.urandom(80) for _ in range(3000)])
    store.close()
    store = ReceiverStore(path, "main")
    os.truncate(path, 8192)
    with pytest.raises(StoreError, match="unusable.*--reset-state"):
        store.headers()


def test_a_partial_object_the_state_file_declares_impossibly_is_dropped_not_a_crash(tmp_path, mainnet_blocks):
    path = damaged_copy(tmp_path, mainnet_blocks, "UPDATE variants SET transfer_length = 4000000000, symbol_size = 8")
    store = ReceiverStore(path, "main")
    asm = ObjectAssembler(store=store)  # 500 million source symbols: raptorq cannot take it
    assert asm.stored_bytes == 0 and store.counts()["symbols_stored"] == 0
