"""The uplink's air-time scheduler: shares, pre-emption by new blocks, fresh repair symbols on
every pass, and the chain index and headers objects it puts on the air (rebuilt from the packets
of the link frames it makes, and read back through their strict unpackers)."""

import os
from collections import Counter

import pytest

from chaincast.fec.fountain import FountainDecoder
from chaincast.fec.wire.bitcoin import block_hash
from chaincast.fec.wire.bundle import unpack_bundle
from chaincast.fec.wire.chainindex import ChainIndex, OnAir
from chaincast.fec.wire.headers import HeadersRun
from chaincast.fec.wire.linkframe import LinkFrame
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.fec.wire.packet import Packet
from chaincast.fec.wire.profile import modcod_by_name
from chaincast.txside.scheduler import ChainBlock, ScheduleConfig, Scheduler, Share, TipChange
from tests.txside.node_double import REGTEST_GENESIS

DATA_BYTES = modcod_by_name("qpsk-3/5").data_bytes
FRAME_S = 0.033384


@pytest.fixture(scope="module")
def chain(regtest_blocks):
    raws = [REGTEST_GENESIS] + regtest_blocks
    return [ChainBlock(h, block_hash(raw), raw[:80], raw) for h, raw in enumerate(raws)]


def big_block(prev: bytes, size: int, seed: int) -> bytes:
    """Bytes shaped like a block (80-byte header whose previous hash is ``prev``); the scheduler
    only hashes the header, so the body may be anything."""
    return bytes(4) + prev + os.urandom(size)


def scheduler_for(chain, *, recent=100, headers_upto=None, **config) -> Scheduler:
    s = Scheduler(DATA_BYTES, FRAME_S, chain[0].block_hash, ScheduleConfig(**config), epoch_ms=lambda: 1234)
    tip = chain[-1].height if headers_upto is None else headers_upto
    s.set_chain(chain[tip - recent + 1 : tip + 1], 0, b"".join(b.header for b in chain[: tip + 1]))
    return s


def packets_of(frame) -> list[Packet]:
    """Read the frame back through the wire format, as a receiver would."""
    return [Packet.unpack(raw) for raw in LinkFrame.unpack(frame.field).packets]


def feed_backfill(s: Scheduler, chain, state: dict) -> None:
    while s.backfill_room():
        block = chain[state["next"] % len(chain)]
        s.offer_backfill(block.height, block.raw, state["next"] // len(chain))
        state["next"] += 1


def test_shared_classes_get_their_shares_of_the_packet_bytes(chain):
    s = scheduler_for(chain, carousel_share=0.5, headers_share=0.2, backfill_share=0.3, headers_per_object=8)
    state = {"next": 0}
    by_class = Counter()
    for _ in range(600):
        feed_backfill(s, chain, state)
        frame = s.next_frame()
        for p in frame.packets:
            by_class[p.share] += p.size
        assert sum(p.size for p in frame.packets) == sum(p.size for p in packets_of(frame))
    shared = sum(by_class[c] for c in (Share.CAROUSEL, Share.HEADERS, Share.BACKFILL))
    fractions = {c: by_class[c] / shared for c in (Share.CAROUSEL, Share.HEADERS, Share.BACKFILL)}
    assert fractions[Share.CAROUSEL] == pytest.approx(0.5, abs=0.02)
    assert fractions[Share.HEADERS] == pytest.approx(0.2, abs=0.02)
    assert fractions[Share.BACKFILL] == pytest.approx(0.3, abs=0.02)
    assert by_class[Share.INDEX] / sum(by_class.values()) < 0.05


def test_an_idle_class_gives_its_air_time_to_the_others_and_earns_no_credit(chain):
    s = scheduler_for(chain, carousel_share=0.5, headers_share=0.2, backfill_share=0.3, headers_per_object=8)
    by_class = Counter()
    for _ in range(300):  # no backfill offered
        for p in s.next_frame().packets:
            by_class[p.share] += p.size
    assert by_class[Share.BACKFILL] == 0
    assert by_class[Share.CAROUSEL] / (by_class[Share.CAROUSEL] + by_class[Share.HEADERS]) == pytest.approx(5 / 7, abs=0.02)
    state = {"next": 0}
    later = Counter()
    for _ in range(60):  # backfill arrives: it gets its share from now on, not the air time it missed
        feed_backfill(s, chain, state)
        for p in s.next_frame().packets:
            later[p.share] += p.size
    shared = later[Share.CAROUSEL] + later[Share.HEADERS] + later[Share.BACKFILL]
    assert later[Share.BACKFILL] / shared == pytest.approx(0.3, abs=0.05)


def test_a_new_block_pre_empts_everything_in_the_next_frame(chain):
    s = scheduler_for(chain, backfill_share=0.3, new_block_passes=2)
    state = {"next": 0}
    for _ in range(40):
        feed_backfill(s, chain, state)
        s.next_frame()
    raw = big_block(chain[-1].block_hash, 30_000, 1)
    new = ChainBlock(chain[-1].height + 1, block_hash(raw), raw[:80], raw)
    assert s.apply(TipChange((new,))) == [new]
    frames = []
    for _ in range(50):
        feed_backfill(s, chain, state)
        frames.append(s.next_frame())
        if not s.queued_new_packets():
            break
    assert not s.queued_new_packets()
    first = packets_of(frames[0])
    assert first[0].object_id == new.block_hash  # the very next frame leads with it
    for frame in frames[:-1]:  # until its passes are out, nothing else comes in between
        assert {p.share for p in frame.packets} <= {Share.NEW}, [p.share for p in frame.packets]
    sent = [p for f in frames for p in packets_of(f) if p.object_id == new.block_hash]
    k = -(-(len(raw) + 32) // sent[0].symbol_size)
    assert len(sent) == 2 * (k + max(2, -(-k * 5 // 100)))  # two passes (pass 0 + 1), all of them
    decoder = FountainDecoder(sent[0].transfer_length, sent[0].symbol_size)
    rebuilt = [decoder.add(p.symbol_id, p.symbol) for p in sent[:k + 1]]
    assert BroadcastObject.decode(1, new.block_hash, next(r for r in rebuilt if r)).payload == raw
    # the chain index goes out right after, naming the new tip
    index = next(o for o in rebuilt_objects(s, 3) if o.object_type == ObjectType.CHAIN_INDEX)
    assert ChainIndex.unpack(index.payload).tip_hash == new.block_hash


def rebuilt_objects(s: Scheduler, frames: int, start_frames=()) -> list[BroadcastObject]:
    decoders, done = {}, []
    for frame in list(start_frames) + [s.next_frame() for _ in range(frames)]:
        for p in packets_of(frame):
            key = (p.object_type, p.object_id)
            if key in {(o.object_type, o.object_id) for o in done}:
                continue
            decoder = decoders.setdefault(key, FountainDecoder(p.transfer_length, p.symbol_size))
            transfer = decoder.add(p.symbol_id, p.symbol)
            if transfer is not None:
                done.append(BroadcastObject.decode(p.object_type, p.object_id, transfer))
    return done


def test_every_carousel_pass_sends_repair_symbols_no_pass_sent_before(chain):
    blocks = []
    prev = chain[-1].block_hash
    for i in range(6):  # objects of several symbols each
        raw = big_block(prev, 25_000, i)
        blocks.append(ChainBlock(chain[-1].height + 1 + i, block_hash(raw), raw[:80], raw))
        prev = blocks[-1].block_hash
    s = Scheduler(DATA_BYTES, FRAME_S, chain[0].block_hash, ScheduleConfig(headers_share=0, backfill_share=0, fresh_passes=4))
    s.set_chain(blocks, blocks[0].height, b"".join(b.header for b in blocks))
    target = blocks[2]
    sent = [p for _ in range(200) for p in packets_of(s.next_frame())
            if p.object_type == ObjectType.BLOCK and p.object_id == target.block_hash]
    k = -(-(len(target.raw) + 32) // sent[0].symbol_size)
    h = 2  # repair symbols beyond K per pass (fountain.repair_overhead for this K)
    passes = [sent[: k + h]] + [sent[k + h + i * (k + h) : k + h + (i + 1) * (k + h)] for i in range(3)]
    assert all(len(one) == k + h for one in passes)
    ids = [{p.symbol_id for p in one} for one in passes]
    assert all(not (ids[i] & ids[j]) for i in range(4) for j in range(i + 1, 4))  # never a symbol twice
    # half of pass 1 and half of pass 2 are each too few alone, and rebuild the block together
    assert k >= 5
    half1, half2 = passes[1][: (k + 2) // 2], passes[2][: (k + 2) // 2]
    assert rebuild(half1) is None and rebuild(half2) is None
    assert rebuild(half1 + half2) == target.raw


def rebuild(packets: list[Packet]) -> bytes | None:
    decoder = FountainDecoder(packets[0].transfer_length, packets[0].symbol_size)
    for p in packets:
        out = decoder.add(p.symbol_id, p.symbol)
        if out is not None:
            return out[:-32]
    return None


def test_new_block_passes_continue_in_the_carousel_with_fresh_symbols(chain):
    s = scheduler_for(chain, recent=20, headers_share=0, backfill_share=0, new_block_passes=1)
    raw = big_block(chain[-1].block_hash, 9_000, 7)
    new = ChainBlock(chain[-1].height + 1, block_hash(raw), raw[:80], raw)
    s.apply(TipChange((new,)))
    seen: dict[Share, list[int]] = {Share.NEW: [], Share.CAROUSEL: []}
    for _ in range(60):
        for p in s.next_frame().packets:
            if p.object_id == new.block_hash:
                seen[p.share].append(p.symbol_id)
    assert seen[Share.NEW] and seen[Share.CAROUSEL]
    assert not set(seen[Share.NEW]) & set(seen[Share.CAROUSEL])
    assert len(set(seen[Share.CAROUSEL])) == len(seen[Share.CAROUSEL])


def test_chain_index_repeats_on_time_and_lists_what_is_on_the_air(chain):
    s = scheduler_for(chain, recent=30, index_interval_s=1.0, headers_per_object=50)
    state = {"next": 0}
    index_frames, indexes, headers_runs = [], [], []  # frames where an index object starts
    decoders, done = {}, set()
    for _ in range(200):
        feed_backfill(s, chain, state)
        frame = s.next_frame()
        for p in packets_of(frame):
            if p.object_type == ObjectType.CHAIN_INDEX and p.object_id not in decoders:
                index_frames.append(frame.index)
            if p.object_type in (ObjectType.CHAIN_INDEX, ObjectType.HEADERS) and p.object_id not in done:
                d = decoders.setdefault(p.object_id, FountainDecoder(p.transfer_length, p.symbol_size))
                out = d.add(p.symbol_id, p.symbol)
                if out is not None:
                    done.add(p.object_id)
                    obj = BroadcastObject.decode(p.object_type, p.object_id, out)
                    if p.object_type == ObjectType.CHAIN_INDEX:
                        indexes.append(ChainIndex.unpack(obj.payload))
                    else:
                        headers_runs.append(HeadersRun.unpack(obj.payload))
    every = round(1.0 / FRAME_S)
    assert index_frames[:4] == [0, every, 2 * every, 3 * every]
    index = indexes[-1]
    assert index.genesis_hash == chain[0].block_hash
    assert (index.tip_height, index.tip_hash) == (chain[-1].height, chain[-1].block_hash)
    recent = [(b.height, b.block_hash) for b in index.blocks if b.status == OnAir.CAROUSEL]
    assert recent == [(b.height, b.block_hash) for b in reversed(chain[-30:])]
    assert 0 <= index.backfill_first <= index.backfill_last <= chain[-1].height
    assert (index.headers_first, index.headers_last) == (0, chain[-1].height)
    assert [o.object_type for o in index.objects] == [ObjectType.HEADERS]
    assert [o.object_id for o in index.objects][0] in decoders
    assert sorted(index.sequence for index in indexes) == list(range(1, len(indexes) + 1))
    # the headers runs cover the chain from genesis in runs of 50, and match it
    runs = {run.first_height: run for run in headers_runs}
    assert sorted(runs) == list(range(0, chain[-1].height + 1, 50))
    for run in runs.values():
        assert run.headers == b"".join(b.header for b in chain[run.first_height : run.last_height + 1])


def test_a_reorg_takes_the_stale_blocks_off_the_air(chain):
    s = scheduler_for(chain[:150], recent=40, headers_share=0, backfill_share=0, new_block_passes=2)
    stale_raw = big_block(chain[149].block_hash, 20_000, 3)
    stale = ChainBlock(150, block_hash(stale_raw), stale_raw[:80], stale_raw)
    s.apply(TipChange((stale,)))
    s.next_frame()  # part of it is out
    s.apply(TipChange((chain[150], chain[151]), disconnected=(stale.block_hash,)))
    later = [p for _ in range(60) for p in s.next_frame().packets]
    assert stale.block_hash not in {p.object_id for p in later}
    assert later[0].object_id == chain[150].block_hash and later[0].share is Share.NEW
    assert (s.tip_height, s.tip_hash) == (151, chain[151].block_hash)
    assert s.headers_range == (0, 151)


def test_the_backfill_sends_runs_of_small_blocks_as_bundles(chain):
    s = scheduler_for(chain, recent=20, carousel_share=0.1, headers_share=0, backfill_share=0.9, bundle_bytes=8000)
    for block in chain[1:101]:
        s.offer_backfill(block.height, block.raw)
    objects = rebuilt_objects(s, 40)
    bundles = [o for o in objects if o.object_type == ObjectType.BLOCK_BUNDLE]
    assert len(bundles) > 1
    carried = [raw for bundle in bundles for raw in unpack_bundle(bundle.payload)]
    carried += [o.payload for o in objects if o.object_type == ObjectType.BLOCK and o.object_id not in s._carousel]
    assert sorted(carried) == sorted(b.raw for b in chain[1:101])  # every block once, none lost
