"""Packets -> objects: one RaptorQ decoder per object in progress, bounded in number."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from chaincast.fec.fountain import FountainDecoder
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.objects import BroadcastObject
from chaincast.fec.wire.packet import Packet


@dataclass
class AssemblerStats:
    objects_complete: int = 0
    objects_corrupt: int = 0  # rebuilt but the SHA-256 trailer did not match (forged symbols)
    packets_inconsistent: int = 0  # disagree with earlier packets of the same object
    packets_duplicate: int = 0  # for objects already complete
    objects_evicted: int = 0


class ObjectAssembler:
    def __init__(self, max_in_progress: int = 4096):
        self.max_in_progress = max_in_progress
        self.stats = AssemblerStats()
        self._decoders: OrderedDict[tuple[int, bytes], FountainDecoder] = OrderedDict()
        self._complete: set[tuple[int, bytes]] = set()

    def add(self, pkt: Packet) -> BroadcastObject | None:
        key = (pkt.object_type, pkt.object_id)
        if key in self._complete:
            self.stats.packets_duplicate += 1
            return None
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = FountainDecoder(pkt.transfer_length, pkt.symbol_size)
            self._decoders[key] = decoder
            if len(self._decoders) > self.max_in_progress:  # drop the stalest partial object
                self._decoders.popitem(last=False)
                self.stats.objects_evicted += 1
        elif (decoder.transfer_length, decoder.symbol_size) != (pkt.transfer_length, pkt.symbol_size):
            self.stats.packets_inconsistent += 1
            return None
        self._decoders.move_to_end(key)
        transfer = decoder.add(pkt.symbol_id, pkt.symbol)
        if transfer is None:
            return None
        del self._decoders[key]
        try:
            obj = BroadcastObject.decode(pkt.object_type, pkt.object_id, transfer)
        except WireError:
            self.stats.objects_corrupt += 1  # start over: later passes bring fresh symbols
            return None
        self._complete.add(key)
        self.stats.objects_complete += 1
        return obj

    def reopen(self, object_type: int, object_id: bytes) -> None:
        """Accept packets for this object again: what was rebuilt was rejected downstream (for
        example a mutated block that shares its header, and so its id, with the genuine one)."""
        self._complete.discard((object_type, object_id))
