"""Delivery into a Bitcoin Core datadir through libbitcoinkernel (real kernel, real blocks)."""

import random
from pathlib import Path

from chaincast.fec.wire.bitcoin import sha256d
from chaincast.rxside.kernel import ChainDelivery, block_hash, display_hex
from tests.conftest import MAINNET_TIP, REGTEST_TIP


def stored_block_bytes(datadir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(datadir.rglob("blk*.dat")))


def xor_key(datadir: Path) -> bytes:
    keys = list(datadir.rglob("xor.dat"))
    return keys[0].read_bytes() if keys else bytes(8)


def stored_contains(datadir: Path, raw: bytes) -> bool:
    """Whether ``raw`` is in the blk files (which Core 28+ XORs with blocks/xor.dat, from offset 0)."""
    key = xor_key(datadir)
    for path in datadir.rglob("blk*.dat"):
        data = path.read_bytes()
        plain = bytes(b ^ key[i % 8] for i, b in enumerate(data)) if any(key) else data
        if raw in plain:
            return True
    return False


def test_regtest_chain_in_shuffled_order_reaches_the_tip(tmp_path, regtest_blocks):
    order = list(range(len(regtest_blocks)))
    random.Random(7).shuffle(order)
    delivery = ChainDelivery(tmp_path, "regtest")
    for i in order:
        delivery.submit(regtest_blocks[i])
    assert delivery.tip() == (206, REGTEST_TIP)
    assert delivery.stats.blocks_validated == 206 and delivery.stats.blocks_waiting == 0
    assert (tmp_path / "regtest" / "blocks").is_dir()  # Bitcoin Core's layout for -regtest


def test_forged_blocks_are_rejected_and_never_written(tmp_path, mainnet_blocks):
    delivery = ChainDelivery(tmp_path, "main")
    for raw in mainnet_blocks[1:100]:
        assert delivery.submit(raw) == "validated"
    wrong_nonce = bytearray(mainnet_blocks[100])
    wrong_nonce[76] ^= 0xFF
    flipped_tx_bit = bytearray(mainnet_blocks[100])
    flipped_tx_bit[-10] ^= 0x01
    for forged in (bytes(wrong_nonce), bytes(flipped_tx_bit)):
        assert delivery.submit(forged) == "rejected"
    delivery.close()
    assert delivery.tip()[0] == 99
    assert not stored_contains(tmp_path, bytes(wrong_nonce)) and not stored_contains(tmp_path, bytes(flipped_tx_bit))
    assert stored_contains(tmp_path, mainnet_blocks[99])  # the check above can see stored blocks
    assert delivery.submit(mainnet_blocks[100]) == "validated"  # the genuine block still gets in


def overpaying_coinbase_block(parent_block: bytes, child: bytes) -> bytes:
    """``child`` (coinbase-only regtest block) with its coinbase paying 1 sat too much, re-mined.

    It passes the context-free checks (valid PoW and merkle root) but fails to connect
    (bad-cb-amount), so process_block stores it and returns True although it is invalid.
    """
    raw = bytearray(child)
    assert raw[80] == 1  # one transaction (test precondition, not input validation)
    tx = 81
    segwit = raw[tx + 4] == 0
    pos = tx + 4 + (2 if segwit else 0)
    assert raw[pos] == 1  # one input
    pos += 1 + 36
    script_len = raw[pos]
    pos += 1 + script_len + 4
    pos += 1  # output count
    value = int.from_bytes(raw[pos : pos + 8], "little")
    raw[pos : pos + 8] = (value + 1).to_bytes(8, "little")
    # txid excludes the witness: serialize without marker/flag and witness
    body = bytes(raw[tx:])
    if segwit:
        outputs_end = _outputs_end(body)
        stripped = body[:4] + body[6:outputs_end] + body[-4:]
    else:
        stripped = body
    raw[36:68] = sha256d(stripped)  # merkle root of a single transaction is its txid
    target = 0x7FFFFF << (8 * (0x20 - 3))
    for nonce in range(1 << 20):
        raw[76:80] = nonce.to_bytes(4, "little")
        if int.from_bytes(sha256d(bytes(raw[:80])), "little") <= target:
            return bytes(raw)
    raise RuntimeError("no nonce found")


def _outputs_end(tx: bytes) -> int:
    pos = 4 + 2 + 1 + 36
    pos += 1 + tx[pos] + 4
    count = tx[pos]
    pos += 1
    for _ in range(count):
        pos += 8
        pos += 1 + tx[pos]
    return pos


def test_stored_but_invalid_block_does_not_count_as_validated(tmp_path, regtest_blocks):
    delivery = ChainDelivery(tmp_path, "regtest")
    delivery.submit(regtest_blocks[0])
    bad = overpaying_coinbase_block(regtest_blocks[0], regtest_blocks[1])
    assert delivery.submit(bad) == "rejected"
    assert delivery.tip()[0] == 1 and delivery.stats.blocks_validated == 1


def test_reorder_buffer_is_bounded(tmp_path, regtest_blocks):
    delivery = ChainDelivery(tmp_path, "regtest", reorder_blocks=10)
    for raw in regtest_blocks[1:31]:  # heights 2..31; height 1, their root, never comes
        delivery.submit(raw)
    assert delivery.stats.blocks_waiting == 10 and delivery.stats.blocks_dropped == 20


def test_wrong_chain_blocks_never_connect(tmp_path, mainnet_blocks):
    delivery = ChainDelivery(tmp_path, "regtest")
    outcomes = {delivery.submit(raw) for raw in mainnet_blocks[1:20]}
    assert "validated" not in outcomes
    assert delivery.tip()[0] <= 0


def test_display_hex_reverses_the_internal_order(mainnet_blocks):
    assert display_hex(block_hash(mainnet_blocks[-1])) == MAINNET_TIP


def test_bundles_out_of_order_deliver_every_block_and_become_durable_once_none_waits(tmp_path, mainnet_blocks):
    """The receiver's bundle path: the second bundle arrives first (its blocks wait for a parent),
    then the first; every block connects, and both bundles are durable after the flush."""
    from chaincast.fec.wire.bundle import bundle_id, pack_bundle
    from chaincast.fec.wire.objects import BroadcastObject, ObjectType
    from chaincast.rxside.receiver import Receiver
    from chaincast.rxside.store import DURABLE, ReceiverStore

    delivery = ChainDelivery(tmp_path, "main")
    store = ReceiverStore(tmp_path / "state.sqlite", "main")
    receiver = Receiver(2.4e6, 1e6, 0.2, delivery, store=store)
    halves = [pack_bundle(mainnet_blocks[1:60]), pack_bundle(mainnet_blocks[60:120])]
    keys = [(ObjectType.BLOCK_BUNDLE, bundle_id(p)) for p in halves]
    for key, payload in zip(keys[::-1], halves[::-1]):
        store.object_complete(*key, payload)
        receiver._deliver(BroadcastObject(*key, payload))
        if key == keys[1]:
            assert delivery.tip()[0] == 0 and receiver._bundle_waiting  # all 60 wait for block 59
    assert delivery.tip()[0] == 119 and not receiver._bundle_waiting
    receiver._checkpoint()
    assert [store.state_of(*key) for key in keys] == [DURABLE, DURABLE]
    # a malformed bundle (its digest was right: the broadcaster's doing) is counted, not retried
    receiver._deliver(BroadcastObject(ObjectType.BLOCK_BUNDLE, bytes(32), b"\x01\x00\x01"))
    assert receiver.report().objects_corrupt == 1
    delivery.close()


def witness_forgery(tmp_path, regtest_blocks, parent_known: bool) -> tuple[ChainDelivery, bytes, bytes]:
    """A delivery holding the regtest chain up to height 201 (``parent_known``) or 200, block 202,
    and a copy of it with the same header (so the same hash and object id) that passes the
    context-free checks and fails the witness commitment: its last input's witness ends 5 bytes
    from the end of the block, and one bit of it is flipped."""
    genuine = regtest_blocks[201]
    mutated = bytearray(genuine)
    mutated[-5] ^= 0x01
    delivery = ChainDelivery(tmp_path, "regtest")
    for raw in regtest_blocks[:201 if parent_known else 200]:
        delivery.submit(raw)
    return delivery, genuine, bytes(mutated)


def test_a_witness_mutated_copy_does_not_shadow_the_genuine_block(tmp_path, regtest_blocks):
    """Same header (so the same hash and object id), passes the context-free checks, fails the
    witness commitment: rejected, and the genuine block that arrives after it still connects."""
    delivery, genuine, mutated = witness_forgery(tmp_path, regtest_blocks, parent_known=True)
    assert delivery.submit(mutated) == "rejected"
    assert delivery.submit(genuine) == "validated"  # was "duplicate": the receiver then marked it durable, lost
    assert delivery.tip() == (202, display_hex(block_hash(genuine)))


def test_a_witness_mutated_copy_waiting_for_its_parent_does_not_shadow_the_genuine_block(tmp_path, regtest_blocks):
    """The same forgery while the parent is missing: both versions wait (only connecting tells them
    apart), the forgery fails when the parent comes, the genuine block connects."""
    delivery, genuine, mutated = witness_forgery(tmp_path, regtest_blocks, parent_known=False)
    assert delivery.submit(mutated) == "waiting"
    assert delivery.submit(genuine) == "waiting"  # was "duplicate": the receiver then marked it durable, lost
    assert delivery.submit(genuine) == "duplicate"
    assert delivery.submit(regtest_blocks[200]) == "validated"
    assert delivery.tip() == (202, display_hex(block_hash(genuine)))
    assert delivery.stats.blocks_rejected == 1 and delivery.take_rejected_waiting() == []


def test_a_forgery_that_waited_alone_is_reported_so_its_object_is_rebuilt(tmp_path, regtest_blocks):
    delivery, genuine, mutated = witness_forgery(tmp_path, regtest_blocks, parent_known=False)
    assert delivery.submit(mutated) == "waiting"
    assert delivery.submit(regtest_blocks[200]) == "validated"
    assert delivery.take_rejected_waiting() == [block_hash(genuine)]
    assert delivery.submit(mutated) == "rejected"
    assert delivery.submit(genuine) == "validated"
    assert delivery.tip() == (202, display_hex(block_hash(genuine)))


def test_blocks_pushed_out_of_a_full_reorder_buffer_are_rebuilt_from_a_later_pass_not_kept_pending(tmp_path, regtest_blocks):
    """Orphans (a forger's, with valid proof of work at regtest's limit, or genuine blocks whose
    parent is far away) fill the reorder buffer; what it pushes out must not stay pending in the
    state file for ever, and a genuine block pushed out is taken again when it comes again."""
    from chaincast.fec.wire.objects import BroadcastObject, ObjectType
    from chaincast.rxside.receiver import Receiver
    from chaincast.rxside.store import ReceiverStore

    store = ReceiverStore(tmp_path / "state.sqlite", "regtest")
    delivery = ChainDelivery(tmp_path / "datadir", "regtest", reorder_blocks=4)
    receiver = Receiver(2.4e6, 1e6, 0.2, delivery, store=store)
    for raw in regtest_blocks[1:11]:  # heights 2..11 wait for height 1; six are pushed out
        key = (ObjectType.BLOCK, block_hash(raw))
        store.object_complete(*key, raw)
        receiver._deliver(BroadcastObject(*key, raw))
    assert delivery.stats.blocks_dropped == 6
    assert store.counts()["objects_pending"] == 4  # only what still waits
    receiver._deliver(BroadcastObject(ObjectType.BLOCK, block_hash(regtest_blocks[0]), regtest_blocks[0]))
    assert delivery.tip()[0] == 1  # with no header chain the oldest went: 2..7; 8..11 wait
    for raw in regtest_blocks[1:7]:  # the pushed-out ones come again in a later pass
        receiver._deliver(BroadcastObject(ObjectType.BLOCK, block_hash(raw), raw))
    assert delivery.tip()[0] == 11
    delivery.close()
