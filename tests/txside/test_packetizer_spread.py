"""The uplink spreads each object's symbols over its pass, so a blockage burst costs an object at
most a symbol or two (issue 5: 30% of air time blanked in 20 ms bursts)."""

import os

from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.fec.wire.packet import Packet
from chaincast.txside.packetizer import SPREAD_WINDOW, Packetizer


def test_a_pass_sends_every_symbol_once_with_each_objects_symbols_far_apart():
    rng_sizes = [200 + 37 * i % 5000 for i in range(300)]  # most objects 1 symbol, some many
    objects = [BroadcastObject(ObjectType.BLOCK, os.urandom(32), os.urandom(size)) for size in rng_sizes]
    packetizer = Packetizer(objects, data_bytes=4000)
    for pass_index in (0, 1):
        packets = [Packet.unpack(raw) for raw in packetizer.pass_packets(pass_index)]
        expected = {(o.object_id, s.symbol_id) for o, e in packetizer._objects for s in e.pass_symbols(pass_index)}
        assert {(p.object_id, p.symbol_id) for p in packets} == expected and len(packets) == len(expected)
        positions: dict[bytes, list[int]] = {}
        for i, p in enumerate(packets):
            positions.setdefault(p.object_id, []).append(i)
        for obj in objects[:SPREAD_WINDOW]:  # the first window: one symbol of each of its objects per turn
            gaps = [b - a for a, b in zip(positions[obj.object_id], positions[obj.object_id][1:])]
            assert min(gaps) >= 10, gaps  # never back to back: other objects' symbols lie between
        first_turn = packets[:SPREAD_WINDOW]
        assert len({p.object_id for p in first_turn}) == SPREAD_WINDOW
