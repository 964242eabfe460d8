"""The receiver's state on disk: partial objects, rebuilt objects and hand-over to the node survive a restart."""

import os

import pytest

from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.kernel import ChainDelivery, block_hash
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.store import COMPLETE, DURABLE, ReceiverStore, StoreError
from tests.rxside.test_assembler import packets_of


def test_a_partial_object_resumes_from_its_stored_symbols_after_a_restart(tmp_path):
    obj = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(20_000))
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
    obj = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(3000))
    store = ReceiverStore(tmp_path / "rx.sqlite", "main")
    asm = ObjectAssembler(store=store)
    assert [o for o in map(asm.add, packets_of(obj, 512)) if o is not None] == [obj]
    store.commit()
    other = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(3000))
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
