"""Headers-first checks (rxside.headerchain) against real chains and Bitcoin Core's own test vectors."""

import hashlib
import struct

import pytest

from chaincast.fec.wire.bitcoin import block_hash, set_compact
from chaincast.fec.wire.headers import HeadersRun
from chaincast.rxside.headerchain import CHAIN_RULES, ChainRules, HeaderChain, HeaderRejected, next_bits
from chaincast.rxside.kernel import ChainDelivery, display_hex
from tests.txside.node_double import REGTEST_GENESIS

MAIN_POW_LIMIT = CHAIN_RULES["main"].pow_limit


def headers(blocks: list[bytes]) -> bytes:
    return b"".join(raw[:80] for raw in blocks)


@pytest.mark.parametrize("first_time, last_time, last_bits, expected", [
    # Bitcoin Core src/test/pow_tests.cpp: get_next_work, _pow_limit, _lower_limit_actual, _upper_limit_actual
    (1261130161, 1262152739, 0x1D00FFFF, 0x1D00D86A),  # blocks 30240 .. 32255
    (1231006505, 1233061996, 0x1D00FFFF, 0x1D00FFFF),  # 0 .. 2015: capped at powLimit
    (1279008237, 1279297671, 0x1C05A3F4, 0x1C0168FD),  # 66528 .. 68543: timespan clamped to a quarter
    (1263163443, 1269211443, 0x1C387F6F, 0x1D00E1FD),  # .. 46367: clamped to four times
])
def test_the_retarget_matches_bitcoin_cores_vectors(first_time, last_time, last_bits, expected):
    assert next_bits(last_bits, first_time, last_time, MAIN_POW_LIMIT) == expected


def test_mainnet_headers_0_to_438_attach_in_any_order(mainnet_blocks):
    raw = headers(mainnet_blocks)
    changes = []
    chain = HeaderChain("main", on_change=lambda start, new: changes.append((start, len(new))))
    late = HeadersRun(200, raw[200 * 80:])
    assert chain.add_run(late).waiting and chain.height == -1 and chain.is_waiting(late)
    outcome = chain.add_run(HeadersRun(0, raw[:250 * 80]))  # overlaps the waiting run by 50
    assert outcome.added == 250 and outcome.rejected == "" and not chain.is_waiting(late)
    assert chain.height == 438 and changes == [(0, 250), (250, 189)]
    assert chain.height_of(block_hash(mainnet_blocks[300][:80])) == 300
    assert chain.add_run(HeadersRun(100, raw[100 * 80:120 * 80])).added == 0  # known headers change nothing
    assert HeaderChain("main", [raw[i:i + 80] for i in range(0, len(raw), 80)]).height == 438  # from the store


def test_genesis_hashes_are_the_ones_the_kernel_and_the_data_know(tmp_path, mainnet_blocks, regtest_blocks):
    assert block_hash(mainnet_blocks[0][:80]) == CHAIN_RULES["main"].genesis_hash
    delivery = ChainDelivery(tmp_path, "regtest")
    assert delivery.submit(regtest_blocks[0]) == "validated"
    assert delivery.active_hash(0) == display_hex(CHAIN_RULES["regtest"].genesis_hash)
    delivery.close()
    chain = HeaderChain("regtest")
    assert chain.add_run(HeadersRun(0, REGTEST_GENESIS[:80] + headers(regtest_blocks))).added == 207
    assert HeaderChain("main").add_run(HeadersRun(0, REGTEST_GENESIS[:80])).rejected == "not this chain's genesis block"


def test_a_header_without_proof_of_work_is_refused_with_the_rest_of_its_run(mainnet_blocks):
    raw = bytearray(headers(mainnet_blocks[:50]))
    raw[40 * 80 + 76] ^= 1  # header 40's nonce: its hash is now far above the target
    run = HeadersRun(0, bytes(raw[:41 * 80]))  # (the headers after it would no longer link up)
    chain = HeaderChain("main")
    assert "header 40: hash above its target" in chain.add_run(run).rejected
    assert chain.height == -1
    assert chain.add_run(HeadersRun(0, headers(mainnet_blocks[:40]))).added == 40


def test_a_damaged_header_chain_in_the_store_is_refused():
    raw = bytearray(REGTEST_GENESIS[:80])
    raw[70] ^= 1  # the genesis header's time: not the genesis block any more
    with pytest.raises(HeaderRejected):
        HeaderChain("regtest", [bytes(raw)])


# A chain of our own with regtest's easy target (half of all hashes pass) and mainnet's retarget
# rule, to mine headers in Python: the difficulty rule, the median-time rule and branch work.
EASY = ChainRules(genesis_hash=b"", pow_limit=(1 << 255) - 1, retargets=True)


def mine(prev: bytes, time: int, bits: int = 0x207FFFFF, tag: int = 0) -> bytes:
    target = set_compact(bits).value
    for nonce in range(1 << 20):
        header = struct.pack("<I32s32sIII", 4, prev, bytes([tag]) * 32, time, bits, nonce)
        if int.from_bytes(block_hash(header), "little") <= target:
            return header
    raise AssertionError("no nonce found")


def mine_chain(prev: bytes, first_time: int, count: int, tag: int = 0, bits: int = 0x207FFFFF) -> list[bytes]:
    out = []
    for i in range(count):
        out.append(mine(prev, first_time + 600 * i, bits, tag))
        prev = block_hash(out[-1])
    return out


def easy_chain(count: int) -> tuple[HeaderChain, list[bytes]]:
    genesis = mine(bytes(32), 1_600_000_000)
    rules = ChainRules(block_hash(genesis), EASY.pow_limit, True)
    rest = mine_chain(block_hash(genesis), 1_600_000_600, count - 1)
    chain = HeaderChain(rules)
    assert chain.add_run(HeadersRun(0, genesis + b"".join(rest))).added == count
    return chain, [genesis] + rest


def test_the_difficulty_must_follow_the_retarget_rule():
    chain, hs = easy_chain(5)
    harder = mine(block_hash(hs[-1]), 1_600_004_000, bits=0x207FFFFE)  # passes proof of work, wrong nBits
    assert "nBits 0x207ffffe, the difficulty rule says 0x207fffff" in chain.add_run(HeadersRun(5, harder)).rejected
    assert chain.add_run(HeadersRun(5, mine(block_hash(hs[-1]), 1_600_004_000))).added == 1


def test_the_time_must_be_above_the_median_of_the_11_before():
    chain, hs = easy_chain(12)
    median_time = sorted(struct.unpack_from("<I", h, 68)[0] for h in hs[1:12])[5]
    assert "median" in chain.add_run(HeadersRun(12, mine(block_hash(hs[-1]), median_time))).rejected
    assert chain.add_run(HeadersRun(12, mine(block_hash(hs[-1]), median_time + 1))).added == 1


def test_the_branch_with_more_work_wins():
    chain, hs = easy_chain(8)
    short = mine_chain(block_hash(hs[4]), 1_700_000_000, 3, tag=1)  # 5..7: as much work as ours
    assert "less work" in chain.add_run(HeadersRun(5, b"".join(short))).rejected
    assert chain.hash_at(7) == block_hash(hs[7])
    longer = mine_chain(block_hash(hs[4]), 1_700_000_000, 4, tag=1)  # 5..8
    outcome = chain.add_run(HeadersRun(5, b"".join(longer)))
    assert outcome.added == 4 and outcome.replaced_from == 5 and chain.height == 8
    assert chain.hash_at(7) == block_hash(longer[2]) and chain.height_of(block_hash(hs[7])) is None


def test_the_receiver_keeps_its_header_chain_across_a_restart_and_a_run_that_waits_stays_pending(tmp_path, mainnet_blocks):
    from chaincast.fec.wire.objects import BroadcastObject, ObjectType
    from chaincast.rxside.receiver import Receiver
    from chaincast.rxside.store import COMPLETE, DURABLE, ReceiverStore

    raw = headers(mainnet_blocks)
    runs = [HeadersRun(0, raw[:200 * 80]).pack(), HeadersRun(200, raw[200 * 80:]).pack()]
    keys = [(ObjectType.HEADERS, hashlib.sha256(p).digest()) for p in runs]
    store = ReceiverStore(tmp_path / "state.sqlite", "main")
    receiver = Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path, "main"), store=store)
    store.object_complete(*keys[1], runs[1])
    receiver._deliver(BroadcastObject(*keys[1], runs[1]))  # 200..438 first: it waits
    receiver._checkpoint()
    assert receiver.report().headers_height == -1 and store.state_of(*keys[1]) == COMPLETE
    store.commit()
    store._db.close()  # killed

    store = ReceiverStore(tmp_path / "state.sqlite", "main")
    receiver = Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path, "main"), store=store)  # hands 200..438 over again
    store.object_complete(*keys[0], runs[0])
    receiver._deliver(BroadcastObject(*keys[0], runs[0]))
    receiver._checkpoint()
    assert receiver.report().headers_height == 438
    assert [store.state_of(*key) for key in keys] == [DURABLE, DURABLE]
    store.commit()
    store._db.close()
    store = ReceiverStore(tmp_path / "state.sqlite", "main")
    report = Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path, "main"), store=store).report()
    assert report.headers_height == 438 and report.headers_rejected == 0
    # a forged run (no proof of work) is counted, and the chain stays
    forged = bytearray(raw[:80 * 3])
    forged[2 * 80 + 76] ^= 1
    payload = HeadersRun(0, bytes(forged)).pack()
    receiver = Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path, "main"), store=store)
    receiver._deliver(BroadcastObject(ObjectType.HEADERS, hashlib.sha256(payload).digest(), payload))
    report = receiver.report()
    assert report.headers_rejected == 1 and "proof of work" in report.headers_rejected_why and report.headers_height == 438


def test_a_full_reorder_buffer_drops_blocks_off_the_header_chain_first_then_the_highest(tmp_path, regtest_blocks):
    chain = HeaderChain("regtest")
    chain.add_run(HeadersRun(0, REGTEST_GENESIS[:80] + headers(regtest_blocks[:30])))  # heights 0..30
    delivery = ChainDelivery(tmp_path, "regtest", reorder_blocks=10)
    delivery.height_hint = chain.height_of
    for raw in regtest_blocks[1:40]:  # heights 2..40 wait (height 1 never comes); 31..40 are off the header chain
        delivery.submit(raw)
    assert delivery.stats.blocks_waiting == 10 and delivery.stats.blocks_dropped == 29
    assert delivery.submit(regtest_blocks[0]) == "validated"
    assert delivery.tip()[0] == 11  # kept: heights 2..11, the nearest to the tip


def test_a_schema_1_state_file_is_upgraded(tmp_path):
    import sqlite3

    from chaincast.rxside.store import ReceiverStore

    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "INSERT INTO meta VALUES ('schema', '1'), ('chain', 'main');")
    db.close()
    store = ReceiverStore(tmp_path / "old.sqlite", "main")
    store.replace_headers(0, [b"x" * 80])
    assert store.headers() == [b"x" * 80]


def test_the_receiver_reports_the_broadcasts_tip_from_its_chain_index_and_flags_another_chains(tmp_path):
    from chaincast.fec.wire.chainindex import ChainIndex
    from chaincast.fec.wire.objects import BroadcastObject, ObjectType
    from chaincast.rxside.receiver import Receiver

    receiver = Receiver(2.4e6, 1e6, 0.2, ChainDelivery(tmp_path, "main"))
    for sequence, genesis, tip in ((7, CHAIN_RULES["main"].genesis_hash, 438), (6, CHAIN_RULES["main"].genesis_hash, 437),
                                   (8, CHAIN_RULES["regtest"].genesis_hash, 206)):
        payload = ChainIndex(sequence, 0, genesis, tip, bytes(32)).pack()
        receiver._deliver(BroadcastObject(ObjectType.CHAIN_INDEX, hashlib.sha256(payload).digest(), payload))
    report = receiver.report()
    assert report.broadcast_tip_height == 438 and report.index_wrong_chain == 1  # the older index does not win


def test_runs_that_wait_are_bounded_and_a_forged_flood_does_not_push_out_the_run_just_ahead():
    from chaincast.rxside.headerchain import MAX_PENDING_RUNS

    chain, hs = easy_chain(5)  # heights 0..4
    just_ahead = mine_chain(bytes(32), 1_700_000_000, 2, tag=3)  # claims 6..7: waits for height 5
    assert chain.add_run(HeadersRun(6, b"".join(just_ahead))).waiting
    flood = [HeadersRun(1000 + 10 * i, mine(bytes(32), 1_700_000_000, tag=i % 256)) for i in range(3 * MAX_PENDING_RUNS)]
    outcomes = [chain.add_run(run) for run in flood]
    kept = [run for run in flood if chain.is_waiting(run)]
    assert len(kept) + 1 == MAX_PENDING_RUNS  # the flood fills what the run just ahead leaves
    assert sum(bool(o.rejected) for o in outcomes) == 2 * MAX_PENDING_RUNS + 1
    assert chain.is_waiting(HeadersRun(6, b"".join(just_ahead)))
