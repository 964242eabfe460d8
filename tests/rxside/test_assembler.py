import os

from chaincast.fec.fountain import FountainEncoder
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.fec.wire.packet import Packet
from chaincast.rxside.assembler import ObjectAssembler


def packets_of(obj: BroadcastObject, symbol_size: int, pass_index: int = 0) -> list[Packet]:
    transfer = obj.encode()
    enc = FountainEncoder(transfer, symbol_size)
    return [Packet(obj.object_type, obj.object_id, len(transfer), symbol_size, s.symbol_id, s.data) for s in enc.pass_symbols(pass_index)]


def test_object_completes_once_and_later_packets_are_duplicates():
    obj = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(5000))
    asm = ObjectAssembler()
    done = [o for o in map(asm.add, packets_of(obj, 512)) if o is not None]
    assert done == [obj]
    assert asm.stats.objects_complete == 1 and asm.stats.packets_duplicate > 0


def test_forged_symbols_with_valid_crcs_never_yield_an_object():
    obj = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(3000))
    pkts = packets_of(obj, 512)
    forged = [Packet(p.object_type, p.object_id, p.transfer_length, p.symbol_size, p.symbol_id, os.urandom(p.symbol_size)) for p in pkts]
    asm = ObjectAssembler()
    assert all(asm.add(p) is None for p in forged)
    assert asm.stats.objects_corrupt >= 1
    # a rebuild that mixes forged and genuine symbols is caught too; the assembler starts over,
    # so genuine symbols of later passes still rebuild the object
    later = packets_of(obj, 512, pass_index=1) + packets_of(obj, 512, pass_index=2)
    rebuilt = [o for o in map(asm.add, later) if o is not None]
    assert rebuilt == [obj]


def test_packets_disagreeing_on_object_size_are_counted_and_skipped():
    obj = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(3000))
    first, second = packets_of(obj, 512)[:2]
    liar = Packet(second.object_type, second.object_id, second.transfer_length + 8, second.symbol_size, second.symbol_id, second.symbol)
    asm = ObjectAssembler()
    asm.add(first)
    assert asm.add(liar) is None and asm.stats.packets_inconsistent == 1


def test_an_object_only_complete_by_combining_two_passes_is_rebuilt():
    """Issue 5: half of pass 0 and half of pass 1 arrive; neither alone is enough."""
    obj = BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(20_000))
    first, second = packets_of(obj, 1024, pass_index=0)[::2], packets_of(obj, 1024, pass_index=1)[1::2]
    assert all(ObjectAssembler().add(p) is None for p in first)
    assert all(ObjectAssembler().add(p) is None for p in second)
    asm = ObjectAssembler()
    done = [o for o in map(asm.add, first + second) if o is not None]
    assert done == [obj] and asm.stats.objects_combined == 1
