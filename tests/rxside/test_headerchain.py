"""Headers-first checks (rxside.headerchain) against real chains and Bitcoin Core's own test vectors."""

import functools
import hashlib
import shutil
import sqlite3
import struct
import tracemalloc

import pytest

from chaincast.fec.wire.bitcoin import block_hash, set_compact
from chaincast.fec.wire.headers import HeadersRun
from chaincast.rxside import headerchain
from chaincast.rxside.headerchain import CHAIN_RULES, ChainRules, HeaderChain, HeaderRejected, next_bits
from chaincast.rxside.kernel import ChainDelivery, display_hex
from chaincast.rxside.store import ReceiverStore
from tests.txside.node_double import REGTEST_GENESIS

MAIN_POW_LIMIT = CHAIN_RULES["main"].pow_limit
MAIN_GENESIS_HEADER = ("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
                       "67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")


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


# ---------------------------------------------------------------------- a kept chain at length
# A regtest chain of our own past two seal runs (the store seals runs of 2016 heights), so that
# reloading, sealing and tampering meet whole runs, a partial one and the links between them.
KEPT = 2 * 2016 + 500


@functools.cache
def regtest_chain(count: int = KEPT) -> tuple[bytes, ...]:
    """Regtest headers 0 .. count - 1: the real genesis block, then headers mined on it."""
    genesis = REGTEST_GENESIS[:80]
    return (genesis, *mine_chain(block_hash(genesis), 1_700_000_000, count - 1))


def kept_state(path, headers, run: int = 1000) -> None:
    """A state file holding ``headers`` as a receiver keeps them: runs of ``run`` (not lined up
    with the seal runs) through the chain's ``on_change``."""
    store = ReceiverStore(path, "regtest")
    chain = HeaderChain("regtest", store.headers(), store.replace_headers)
    for first in range(0, len(headers), run):
        assert chain.add_run(HeadersRun(first, b"".join(headers[first:first + run]))).rejected == ""
    store.close()


def reload(path) -> tuple[HeaderChain, ReceiverStore]:
    store = ReceiverStore(path, "regtest")
    chain = HeaderChain("regtest", store.headers(), store.replace_headers)
    store.commit()
    return chain, store


@pytest.fixture
def checks(monkeypatch) -> list[bytes]:
    """The headers checked one by one (their proof of work) from here on."""
    seen = []
    checked = headerchain.check_proof_of_work

    def counted(header, pow_limit):
        seen.append(header)
        checked(header, pow_limit)
    monkeypatch.setattr(headerchain, "check_proof_of_work", counted)
    return seen


def test_a_chain_reloaded_from_its_state_file_answers_as_the_one_built_without_checking_it_again(tmp_path, checks):
    hs = regtest_chain()
    kept_state(tmp_path / "rx.sqlite", hs)
    checks.clear()
    chain, store = reload(tmp_path / "rx.sqlite")
    assert checks == [] and store.warnings == []  # every run sealed: none checked again
    assert chain.height == KEPT - 1
    assert [chain.hash_at(h) for h in range(KEPT)] == [block_hash(h) for h in hs]
    assert [chain.height_of(block_hash(h)) for h in hs] == list(range(KEPT))
    assert chain.hash_at(-1) == block_hash(hs[-1])
    stranger = mine(block_hash(hs[100]), 1_800_000_000, tag=9)
    assert chain.height_of(block_hash(stranger)) is None and chain.height_of(bytes(32)) is None
    # it goes on as a chain built here: a branch with more work replaces its tip, and is kept
    branch = mine_chain(block_hash(hs[-4]), 1_800_000_000, 5, tag=2)
    assert chain.add_run(HeadersRun(KEPT - 3, b"".join(branch))).replaced_from == KEPT - 3
    assert chain.height_of(block_hash(hs[-1])) is None and chain.height_of(block_hash(branch[-1])) == KEPT + 1
    store.close()
    checks.clear()
    again, store = reload(tmp_path / "rx.sqlite")
    assert checks == [] and again.height == KEPT + 1 and again.hash_at(KEPT + 1) == block_hash(branch[-1])
    assert again.height_of(block_hash(hs[-1])) is None and again.height_of(block_hash(hs[-4])) == KEPT - 4


def kept_runs(store) -> list[tuple[int, int, bool]]:
    """(first height, headers, sealed) of each run the state file keeps."""
    return [(first, len(raw) // 80, sealed) for first, raw, sealed in store.headers().kept_runs()]


def test_a_run_rewritten_from_its_middle_keeps_its_start_and_is_sealed_only_if_that_start_was(tmp_path):
    hs = regtest_chain()
    store = ReceiverStore(tmp_path / "rx.sqlite", "regtest")
    store.replace_headers(0, list(hs[:1000]))
    store.replace_headers(1000, list(hs[1000:2500]))
    assert kept_runs(store) == [(0, 2016, True), (2016, 484, True)]
    store.replace_headers(2100, [hs[5]])  # does not follow header 2099
    assert kept_runs(store) == [(0, 2016, True), (2016, 85, False)]
    store.replace_headers(2100, list(hs[2100:4532]))  # follows, but the start of its run is not sealed
    assert kept_runs(store) == [(0, 2016, True), (2016, 2016, False), (4032, 500, True)]
    assert store.headers() == hs
    store.replace_headers(2016, list(hs[2016:2100]))  # from the start of a run: nothing unsealed before it
    assert kept_runs(store) == [(0, 2016, True), (2016, 84, True)]
    store._db.execute("DELETE FROM header_runs WHERE first_height = 2016")  # as if behind the receiver's back
    store.replace_headers(2050, list(hs[2050:2100]))
    assert kept_runs(store) == [(0, 2016, True)] and "headers from height 2016 not kept" in store.warnings[-1]


def move_state(tmp_path, how: str):
    """The kept chain's state file as someone else hands it over: copied without its key file, or
    left by a receiver from before header seals (schema 3)."""
    kept_state(tmp_path / "own" / "rx.sqlite", regtest_chain())
    path = tmp_path / "moved" / "rx.sqlite"
    path.parent.mkdir()
    shutil.copy(tmp_path / "own" / "rx.sqlite", path)
    if how == "schema 3":
        shutil.copy(tmp_path / "own" / "rx.sqlite.key", tmp_path / "moved" / "rx.sqlite.key")
        as_schema_3(path)
    return path


def as_schema_3(path) -> None:
    """The state file as schema 3 kept it: a header a row (``headers``), no seals."""
    db = sqlite3.connect(path)
    runs = db.execute("SELECT first_height, headers FROM header_runs ORDER BY first_height").fetchall()
    db.execute("DROP TABLE header_runs")
    db.execute("CREATE TABLE headers (height INTEGER PRIMARY KEY, header BLOB NOT NULL)")
    db.executemany("INSERT INTO headers VALUES (?, ?)",
                   [(first + i, raw[i * 80:(i + 1) * 80]) for first, raw in runs for i in range(len(raw) // 80)])
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    db.commit()
    db.close()


@pytest.mark.parametrize("how", ["without its key", "schema 3"])
def test_a_state_file_this_receiver_did_not_seal_is_checked_once_then_sealed(tmp_path, checks, how):
    path = move_state(tmp_path, how)
    checks.clear()
    chain, store = reload(path)
    assert len(checks) == KEPT and chain.height == KEPT - 1
    assert any(f"{KEPT} kept headers were not sealed" in w for w in store.warnings), store.warnings
    store.close()
    checks.clear()
    again, store = reload(path)
    assert checks == [] and store.warnings == [] and again.hash_at(-1) == block_hash(regtest_chain()[-1])


def test_a_schema_3_state_file_is_upgraded_into_unsealed_runs_checked_once_then_sealed(tmp_path, checks):
    path = move_state(tmp_path, "schema 3")
    store = ReceiverStore(path, "regtest")
    runs = "SELECT first_height, length(headers), seal IS NOT NULL FROM header_runs ORDER BY first_height"
    assert store._db.execute(runs).fetchall() == [(0, 2016 * 80, 0), (2016, 2016 * 80, 0), (4032, 500 * 80, 0)]
    assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("4",)
    assert store._db.execute("SELECT name FROM sqlite_master WHERE name = 'headers'").fetchall() == []
    assert store.warnings == [] and store.headers() == regtest_chain()
    checks.clear()
    chain = HeaderChain("regtest", store.headers(), store.replace_headers)
    assert len(checks) == KEPT and chain.hash_at(-1) == block_hash(regtest_chain()[-1])  # not trusted: no seal
    store.close()
    checks.clear()
    again, store = reload(path)
    assert checks == [] and store.warnings == [] and again.height == KEPT - 1
    assert store._db.execute(runs).fetchall() == [(0, 2016 * 80, 1), (2016, 2016 * 80, 1), (4032, 500 * 80, 1)]


@pytest.mark.parametrize("damage, kept", [
    ("DELETE FROM headers WHERE height = 3000", 3000),
    ("UPDATE headers SET header = x'00' WHERE height = 2016", 2016),
    ("UPDATE headers SET header = 'text' WHERE height = 4100", 4100),
    ("DELETE FROM headers WHERE height = 0", 0),
])
def test_a_schema_3_state_file_keeps_its_header_rows_up_to_the_first_gap_or_damaged_row(tmp_path, damage, kept):
    path = move_state(tmp_path, "schema 3")
    db = sqlite3.connect(path)
    db.execute(damage)
    stored = db.execute("SELECT COUNT(*) FROM headers").fetchone()[0]
    db.commit()
    db.close()
    store = ReceiverStore(path, "regtest")
    assert store.warnings == [f"{path}: {stored - kept} headers after height {kept - 1} dropped (a gap or a damaged row)"]
    assert store.headers() == regtest_chain()[:kept]
    chain = HeaderChain("regtest", store.headers(), store.replace_headers)
    assert chain.height == kept - 1


def tampered(path, height: int, header: bytes) -> None:
    """``header`` in place of the kept one at ``height``, its run's seal left as it was."""
    first, at = height - height % 2016, height % 2016 * 80
    db = sqlite3.connect(path)
    (raw,) = db.execute("SELECT headers FROM header_runs WHERE first_height = ?", (first,)).fetchone()
    db.execute("UPDATE header_runs SET headers = ? WHERE first_height = ?", (raw[:at] + header + raw[at + 80:], first))
    db.commit()
    db.close()


@pytest.mark.parametrize("height", [3000, 2016, KEPT - 1])
def test_a_header_changed_in_the_state_file_is_checked_not_trusted(tmp_path, checks, height):
    hs = regtest_chain()
    kept_state(tmp_path / "rx.sqlite", hs)
    other = mine(hs[height][4:36], 1_800_000_000, tag=7)  # proof of work, follows its parent, another header
    tampered(tmp_path / "rx.sqlite", height, other)
    store = ReceiverStore(tmp_path / "rx.sqlite", "regtest")
    checks.clear()
    if height == KEPT - 1:  # the tip: nothing names it, so its run checked again is valid, with it
        chain = HeaderChain("regtest", store.headers())
        assert chain.hash_at(height) == block_hash(other) and len(checks) == KEPT - 2 * 2016
        return
    with pytest.raises(HeaderRejected, match=f"kept headers: header {height + 1}: does not follow"):
        HeaderChain("regtest", store.headers())
    assert len(checks) == height % 2016 + 1  # its run, checked up to the header after it


def unmined(prev: bytes, time: int) -> bytes:
    """A header above regtest's target: what anyone can make, at no cost."""
    for nonce in range(1 << 20):
        header = struct.pack("<I32s32sIII", 4, prev, bytes(32), time, 0x207FFFFF, nonce)
        if int.from_bytes(block_hash(header), "little") > set_compact(0x207FFFFF).value:
            return header
    raise AssertionError("every nonce passed")


def test_a_chain_forged_without_proof_of_work_is_refused_whoever_sealed_it(tmp_path):
    hs = regtest_chain()
    forged = [unmined(block_hash(hs[2015]), 1_800_000_000)]
    for i in range(1, 10):
        forged.append(unmined(block_hash(forged[-1]), 1_800_000_000 + i))
    elsewhere = tmp_path / "forger" / "rx.sqlite"
    store = ReceiverStore(elsewhere, "regtest")
    store.replace_headers(0, list(hs[:2016]) + forged)  # sealed, with the forger's key
    store.close()
    path = tmp_path / "rx.sqlite"
    shutil.copy(elsewhere, path)
    store = ReceiverStore(path, "regtest")
    with pytest.raises(HeaderRejected, match="header 2016: hash above its target"):
        HeaderChain("regtest", store.headers())
    with_the_forgers_key = ReceiverStore(elsewhere, "regtest")  # the key file beside a state file is trusted
    assert HeaderChain("regtest", with_the_forgers_key.headers()).height == 2025


def test_sealed_runs_of_two_branches_do_not_combine_into_a_chain_nobody_checked(tmp_path, checks):
    hs = regtest_chain()
    branch = hs[:2016] + tuple(mine_chain(block_hash(hs[2015]), 1_800_000_000, 2016, tag=5))
    kept_state(tmp_path / "a.sqlite", hs)
    shutil.copy(tmp_path / "a.sqlite.key", tmp_path / "b.sqlite.key")  # one receiver's two state files
    kept_state(tmp_path / "b.sqlite", branch)
    db = sqlite3.connect(tmp_path / "a.sqlite")
    db.execute("ATTACH ? AS b", (str(tmp_path / "b.sqlite"),))
    db.execute("INSERT OR REPLACE INTO header_runs SELECT * FROM b.header_runs WHERE first_height = 2016")  # its seal too
    db.commit()
    db.close()
    checks.clear()
    store = ReceiverStore(tmp_path / "a.sqlite", "regtest")
    with pytest.raises(HeaderRejected, match="kept headers: header 4032 does not follow the header chain"):
        HeaderChain("regtest", store.headers())
    assert checks == []  # each run's seal verified: it is the link between them that fails


def test_a_kept_chain_is_checked_to_link_up_inside_a_run_too():
    hs = regtest_chain()
    with pytest.raises(HeaderRejected, match="kept headers: header 2: does not follow the header before it"):
        HeaderChain("regtest", [hs[0], hs[1], hs[3]])  # each with proof of work and a later time


def test_a_kept_chain_longer_than_a_headers_object_reloads(monkeypatch):
    monkeypatch.setattr("chaincast.fec.wire.headers.MAX_COUNT", 2016)  # main: 930,000 headers, 50,000 a run
    hs = regtest_chain()
    assert HeaderChain("regtest", list(hs)).hash_at(-1) == block_hash(hs[-1])


def test_the_kept_chain_costs_bytes_not_python_objects_per_header():
    hs = regtest_chain()
    half, full = HeaderChain("regtest", hs[:KEPT // 2]), HeaderChain("regtest", hs)
    for chain in (half, full):
        chain.height_of(bytes(32))  # its hash index is built on first use
    assert (full.nbytes - half.nbytes) / (KEPT - KEPT // 2) < 64  # 32 hash, 4 + 4 time and bits, 6 index, slack
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        chain = HeaderChain("regtest", hs)
        chain.height_of(bytes(32))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held / KEPT < 64, f"{held / KEPT:.0f} bytes a header"
    main = HeaderChain("main")
    assert main.add_run(HeadersRun(0, bytes.fromhex(MAIN_GENESIS_HEADER))).added == 1
    assert main.hash_at(0) == CHAIN_RULES["main"].genesis_hash and len(main._hashes) == 28  # its top 4 bytes are 0
