"""Packets -> objects: one RaptorQ decoder per object in progress, bounded in number.

With a ``ReceiverStore`` every symbol is also written to disk: an object whose decoder was evicted,
or that was in progress when the receiver stopped, resumes from its stored symbols when its next
packet arrives, and an object already rebuilt is recognised as such after a restart.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from chaincast.fec.fountain import FountainDecoder
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.objects import BroadcastObject
from chaincast.fec.wire.packet import Packet
from chaincast.rxside.store import ReceiverStore


@dataclass
class AssemblerStats:
    objects_complete: int = 0
    objects_corrupt: int = 0  # rebuilt but the SHA-256 trailer did not match (forged symbols)
    packets_inconsistent: int = 0  # disagree with earlier packets of the same object
    packets_duplicate: int = 0  # for objects already complete
    objects_evicted: int = 0
    objects_resumed: int = 0  # decoders restarted from stored symbols
    objects_combined: int = 0  # rebuilt from the symbols of two passes or more (one alone had not sufficed)


class ObjectAssembler:
    def __init__(self, max_in_progress: int = 4096, store: ReceiverStore | None = None):
        self.max_in_progress = max_in_progress
        self.store = store
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
            if self.store is not None and self.store.state_of(*key) is not None:  # rebuilt in an earlier run
                self._complete.add(key)
                self.stats.packets_duplicate += 1
                return None
            decoder, transfer = self._new_decoder(key, pkt)
            if transfer is not None:  # the stored symbols were enough (stopped before it was rebuilt)
                return self._finish(key, transfer)
        elif (decoder.transfer_length, decoder.symbol_size) != (pkt.transfer_length, pkt.symbol_size):
            self.stats.packets_inconsistent += 1
            return None
        self._decoders.move_to_end(key)
        if self.store is not None:
            self.store.add_packet(pkt)
        transfer = decoder.add(pkt.symbol_id, pkt.symbol)
        return None if transfer is None else self._finish(key, transfer)

    def _new_decoder(self, key: tuple[int, bytes], pkt: Packet) -> tuple[FountainDecoder, bytes | None]:
        """A decoder for the object, fed with its stored symbols; and the transfer if they sufficed."""
        decoder = FountainDecoder(pkt.transfer_length, pkt.symbol_size)
        self._decoders[key] = decoder
        if len(self._decoders) > self.max_in_progress:  # drop the stalest partial object (its symbols stay stored)
            self._decoders.popitem(last=False)
            self.stats.objects_evicted += 1
        if self.store is not None:
            stored = [(sid, sym) for sid, length, size, sym in self.store.symbols_of(*key)
                      if (length, size) == (pkt.transfer_length, pkt.symbol_size)]
            self.stats.objects_resumed += bool(stored)
            for symbol_id, symbol in stored:
                transfer = decoder.add(symbol_id, symbol)
                if transfer is not None:
                    return decoder, transfer
        return decoder, None

    def _finish(self, key: tuple[int, bytes], transfer: bytes) -> BroadcastObject | None:
        decoder = self._decoders.pop(key)
        try:
            obj = BroadcastObject.decode(*key, transfer)
        except WireError:
            self.stats.objects_corrupt += 1  # start over: later passes bring fresh symbols
            if self.store is not None:
                self.store.forget_symbols(*key)
            return None
        self._complete.add(key)
        self.stats.objects_complete += 1
        self.stats.objects_combined += len(decoder.passes_heard()) > 1
        if self.store is not None:
            self.store.object_complete(*key, obj.payload)
        return obj

    def reopen(self, object_type: int, object_id: bytes) -> None:
        """Accept packets for this object again: what was rebuilt was rejected downstream (for
        example a mutated block that shares its header, and so its id, with the genuine one)."""
        self._complete.discard((object_type, object_id))
        if self.store is not None:
            self.store.forget_object(object_type, object_id)
