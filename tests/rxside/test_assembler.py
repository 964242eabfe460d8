"""Object assembly against a forger: forged packets are refused, kept apart or outvoted, never fatal."""

import os
import random

import pytest

from chaincast.fec.fountain import MAX_SOURCE_SYMBOLS, FountainDecoder, FountainEncoder
from chaincast.fec.wire.objects import BroadcastObject, ObjectType, object_id_of
from chaincast.fec.wire.packet import Packet
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.store import VARIANT_ROW_OVERHEAD, symbol_cost


def make_object(payload: bytes, object_type: int = ObjectType.BLOCK) -> BroadcastObject:
    return BroadcastObject(object_type, object_id_of(object_type, payload), payload)


def packets_of(obj: BroadcastObject, symbol_size: int, pass_index: int = 0) -> list[Packet]:
    transfer = obj.encode()
    enc = FountainEncoder(transfer, symbol_size)
    return [Packet(obj.object_type, obj.object_id, len(transfer), symbol_size, s.symbol_id, s.data) for s in enc.pass_symbols(pass_index)]


def garbage_like(pkt: Packet, rng: random.Random, symbol_id: int | None = None) -> Packet:
    """A packet a forger can make: the genuine header fields, random symbol data."""
    return Packet(pkt.object_type, pkt.object_id, pkt.transfer_length, pkt.symbol_size,
                  pkt.symbol_id if symbol_id is None else symbol_id, rng.randbytes(pkt.symbol_size))


def rebuilt(asm: ObjectAssembler, packets) -> list[BroadcastObject]:
    return [o for o in map(asm.add, packets) if o is not None]


def test_object_completes_once_and_later_packets_are_duplicates():
    obj = make_object(os.urandom(5000))
    asm = ObjectAssembler()
    assert rebuilt(asm, packets_of(obj, 512)) == [obj]
    assert asm.stats.objects_complete == 1 and asm.stats.packets_duplicate > 0
    assert asm.stored_bytes == 0  # a rebuilt object's symbols are let go


def test_forged_symbols_with_valid_crcs_never_yield_an_object_and_do_not_stop_later_passes():
    obj = make_object(os.urandom(3000))
    rng = random.Random(1)
    forged = [garbage_like(p, rng) for p in packets_of(obj, 512)]  # the whole of pass 0, same symbol ids
    asm = ObjectAssembler()
    assert rebuilt(asm, forged) == []
    assert asm.stats.objects_corrupt >= 1
    # the forged symbols stay (they may be mixed with genuine ones); subsets of the genuine
    # symbols of later passes still rebuild the object
    later = packets_of(obj, 512, pass_index=1) + packets_of(obj, 512, pass_index=2)
    assert rebuilt(asm, later) == [obj]
    assert asm.stats.subset_attempts >= 1


def test_a_forged_packet_sent_first_under_a_genuine_id_with_other_sizes_squats_nothing():
    obj = make_object(os.urandom(3000))
    genuine = packets_of(obj, 512)
    liar = Packet(obj.object_type, obj.object_id, genuine[0].transfer_length + 8, 512, 0, os.urandom(512))
    asm = ObjectAssembler()
    assert asm.add(liar) is None
    assert rebuilt(asm, genuine) == [obj]
    assert asm.stored_bytes == 0  # the liar's variant went with the genuine one's completion


def test_a_self_consistent_forgery_under_a_genuine_id_is_refused_and_the_genuine_object_still_completes():
    obj = make_object(os.urandom(3000))
    forgery = BroadcastObject(obj.object_type, obj.object_id, os.urandom(3000))  # valid digest, wrong id
    asm = ObjectAssembler()
    assert rebuilt(asm, packets_of(forgery, 512)) == []
    assert asm.stats.objects_corrupt >= 1
    assert rebuilt(asm, packets_of(obj, 512, 1) + packets_of(obj, 512, 2)) == [obj]


def test_an_object_only_complete_by_combining_two_passes_is_rebuilt():
    obj = make_object(os.urandom(20_000))
    first, second = packets_of(obj, 1024, pass_index=0)[::2], packets_of(obj, 1024, pass_index=1)[1::2]
    assert rebuilt(ObjectAssembler(), first) == []
    assert rebuilt(ObjectAssembler(), second) == []
    asm = ObjectAssembler()
    assert rebuilt(asm, first + second) == [obj] and asm.stats.objects_combined == 1


@pytest.mark.parametrize("declared, why", [
    (dict(symbol_id=5 << 24), "source block"),  # raptorq panicked on a block number beyond the object's
    (dict(transfer_length=1 << 30, symbol_size=8), "object size"),  # 2^30 bytes: took 3.2 GB
    (dict(object_type=99), "object type"),
    (dict(transfer_length=10_000_000), "object size"),  # above the 4 MB a block can be
    (dict(transfer_length=4_000_032, symbol_size=8), "symbol size"),  # 500,004 source symbols: several blocks
    (dict(transfer_length=100, symbol_size=1000), "symbol size"),  # a symbol larger than its object
])
def test_declarations_no_genuine_object_has_are_refused_before_any_decoder_exists(declared, why):
    fields = dict(object_type=ObjectType.BLOCK, object_id=bytes(32), transfer_length=104, symbol_size=104, symbol_id=0)
    fields |= declared
    pkt = Packet(**fields, symbol=bytes(fields["symbol_size"]))
    asm = ObjectAssembler()
    assert asm.add(pkt) is None and asm.add(pkt) is None
    assert asm.stats.packets_refused == 2 and asm.stats.refused_why == {why: 2}
    assert asm.stored_bytes == 0


def test_a_packet_declaring_the_largest_block_costs_one_symbol_not_the_block():
    k = 4_000_032 // 72
    assert k <= MAX_SOURCE_SYMBOLS
    asm = ObjectAssembler()
    for i in range(100):
        asm.add(Packet(ObjectType.BLOCK, os.urandom(32), 4_000_032, 72, i, os.urandom(72)))
    assert asm.stored_bytes == 100 * (VARIANT_ROW_OVERHEAD + symbol_cost(72))
    assert asm._decoder_bytes == 0  # no RaptorQ decoder until an object holds K symbols


@pytest.mark.parametrize("garbage_id", ["fresh", "squat"])
def test_a_garbage_symbol_ahead_of_each_pass_does_not_stop_the_object(garbage_id):
    obj = make_object(random.Random(2).randbytes(60_000))
    rng = random.Random(3)
    asm = ObjectAssembler()
    done_after = None
    for pass_index in range(6):
        genuine = packets_of(obj, 1000, pass_index)
        # fresh: a symbol id the broadcaster never sends; squat: the id of the pass's first symbol,
        # so the genuine one that follows is taken for a duplicate
        symbol_id = 0xFFFFFF - pass_index if garbage_id == "fresh" else genuine[0].symbol_id
        if rebuilt(asm, [garbage_like(genuine[0], rng, symbol_id), *genuine]):
            done_after = pass_index
            break
    assert done_after is not None and done_after <= 2, (done_after, asm.stats)
    assert asm.stats.objects_corrupt >= 1  # the garbage did reach a rebuild


def test_forged_objects_beyond_the_budget_are_pruned_and_the_genuine_one_completes():
    obj = make_object(os.urandom(40_000))
    genuine = packets_of(obj, 1000)
    budget = 64 * (VARIANT_ROW_OVERHEAD + symbol_cost(1000))
    asm = ObjectAssembler(memory_budget=budget)
    peak = 0
    for i, pkt in enumerate(genuine):
        for _ in range(20):  # 20 forged packets, each of a never-completing object, per genuine one
            asm.add(Packet(ObjectType.BLOCK, os.urandom(32), 400_032, 1000, 0, os.urandom(1000)))
        done = asm.add(pkt)
        peak = max(peak, asm.stored_bytes)
        if done is not None:
            break
    assert done == obj and peak <= budget
    assert asm.stats.variants_pruned > 0


def test_announced_objects_are_pruned_last():
    objs = [make_object(os.urandom(10_000)) for _ in range(3)]
    firsts = [packets_of(obj, 1000)[0] for obj in objs]
    asm = ObjectAssembler(memory_budget=3 * (VARIANT_ROW_OVERHEAD + symbol_cost(1000)))
    asm.announce([(ObjectType.BLOCK, objs[0].object_id, None)])
    for pkt in firsts:
        asm.add(pkt)
    asm.add(Packet(ObjectType.BLOCK, os.urandom(32), 400_032, 1000, 0, os.urandom(1000)))  # one too many
    kept = {key[1] for key in asm._variants}
    assert objs[0].object_id in kept and objs[1].object_id not in kept  # the oldest unannounced went


def test_a_decoder_panic_is_a_failed_rebuild_not_a_crash():
    class PanicException(BaseException):  # what pyo3 raises for a Rust panic
        pass

    class Raising:  # stands in for raptorq's decoder, which no checked input makes panic
        def __init__(self, error):
            self.error = error

        def decode(self, _packet):
            raise self.error

    obj = make_object(os.urandom(3000))
    first = packets_of(obj, 512)[0]
    decoder = FountainDecoder(first.transfer_length, 512)
    decoder._decoder = Raising(PanicException("index out of bounds"))
    assert decoder.add(first.symbol_id, first.symbol) is None and decoder.broken
    decoder = FountainDecoder(first.transfer_length, 512)
    decoder._decoder = Raising(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):  # only the panic is caught
        decoder.add(first.symbol_id, first.symbol)


def test_a_variant_alone_larger_than_the_budget_is_dropped_not_kept_over_it():
    """Found by the assembler fuzz target: pruning spared the variant being added, so one variant
    with more symbols than the budget holds stayed over it."""
    budget = VARIANT_ROW_OVERHEAD + 10 * symbol_cost(64)
    asm = ObjectAssembler(memory_budget=budget)
    obj = make_object(os.urandom(64 * 40))
    for pkt in packets_of(obj, 64)[:-30][::-1]:  # repair symbols first: no rebuild before the budget is passed
        asm.add(pkt)
        assert asm.stored_bytes <= budget
    assert asm.stats.variants_pruned >= 1
