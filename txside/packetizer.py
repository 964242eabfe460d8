"""Objects -> RaptorQ packets for each carousel pass -> link-frame data fields."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from chaincast.fec.fountain import FountainEncoder, choose_symbol_size
from chaincast.fec.wire.bitcoin import block_hash
from chaincast.fec.wire import linkframe, packet
from chaincast.fec.wire.bundle import bundle_id, pack_bundle
from chaincast.fec.wire.linkframe import LinkFrame
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.fec.wire.packet import Packet


SPREAD_WINDOW = 256  # objects whose symbols are interleaved within a pass
BUNDLE_BLOCKS_BELOW = 16_000  # bytes: smaller blocks are bundled with their neighbours
BUNDLE_BYTES = 64_000  # a bundle closes before it would pass this size


def block_object(raw_block: bytes) -> BroadcastObject:
    """A block's object id is its hash (double SHA-256 of the 80-byte header, internal order)."""
    return BroadcastObject(ObjectType.BLOCK, block_hash(raw_block), raw_block)


def block_objects(blocks: Iterable[bytes], bundle_below: int = BUNDLE_BLOCKS_BELOW,
                  bundle_bytes: int = BUNDLE_BYTES) -> list[BroadcastObject]:
    """Blocks in chain order -> objects: each run of consecutive blocks under ``bundle_below``
    bytes goes out in bundles of up to ``bundle_bytes`` (``fec.wire.bundle``; a run of one stays a
    block object), larger blocks as block objects. ``bundle_below=0``: no bundles."""
    objects: list[BroadcastObject] = []
    run: list[bytes] = []
    run_bytes = 3  # the bundle header

    def close_run() -> None:
        nonlocal run_bytes
        run_bytes = 3
        if len(run) == 1:
            objects.append(block_object(run[0]))
        elif run:
            payload = pack_bundle(run)
            objects.append(BroadcastObject(ObjectType.BLOCK_BUNDLE, bundle_id(payload), payload))
        run.clear()

    for raw in blocks:
        if len(raw) >= bundle_below:
            close_run()
            objects.append(block_object(raw))
            continue
        if run and run_bytes + 4 + len(raw) > bundle_bytes:
            close_run()
        run.append(raw)
        run_bytes += 4 + len(raw)
    close_run()
    return objects


def max_symbol_size(data_bytes: int) -> int:
    """Largest symbol whose packet fits one link frame of ``data_bytes``."""
    room = linkframe.capacity(data_bytes) - packet.HEADER_BYTES
    return room - room % packet.SYMBOL_ALIGN


class Packetizer:
    """Keeps one fountain encoder per object so every pass sends symbols no pass sent before."""

    def __init__(self, objects: Iterable[BroadcastObject], data_bytes: int):
        self.data_bytes = data_bytes
        self._symbol_limit = max_symbol_size(data_bytes)
        self._objects: list[tuple[BroadcastObject, FountainEncoder]] = []
        for obj in objects:
            transfer = obj.encode()
            encoder = FountainEncoder(transfer, choose_symbol_size(len(transfer), self._symbol_limit))
            self._objects.append((obj, encoder))

    def __len__(self) -> int:
        return len(self._objects)

    def pass_packets(self, pass_index: int) -> Iterator[bytes]:
        """The packets of carousel pass ``pass_index``. The symbols of each ``SPREAD_WINDOW``
        consecutive objects go out round-robin (one symbol of each object in turn), so that a
        blockage of a few frames costs every object a symbol or two rather than the whole pass of
        it; the window bounds how many objects a receiver has in progress at once."""
        for first in range(0, len(self._objects), SPREAD_WINDOW):
            turns = [(obj, encoder, deque(encoder.pass_symbols(pass_index)))
                     for obj, encoder in self._objects[first:first + SPREAD_WINDOW]]
            while turns:
                for obj, encoder, symbols in turns:
                    symbol = symbols.popleft()
                    yield Packet(
                        object_type=obj.object_type,
                        object_id=obj.object_id,
                        transfer_length=encoder.transfer_length,
                        symbol_size=encoder.symbol_size,
                        symbol_id=symbol.symbol_id,
                        symbol=symbol.data,
                    ).pack()
                turns = [turn for turn in turns if turn[2]]


def link_frames(packets: Iterable[bytes], data_bytes: int) -> Iterator[bytes]:
    """Greedily fill link-frame data fields with whole packets, in order."""
    room = linkframe.capacity(data_bytes)
    pending: list[bytes] = []
    used = 0
    for pkt in packets:
        if len(pkt) > room:
            raise ValueError(f"packet of {len(pkt)} bytes cannot fit a {data_bytes}-byte link frame")
        if used + len(pkt) > room:
            yield LinkFrame(tuple(pending)).pack(data_bytes)
            pending, used = [], 0
        pending.append(pkt)
        used += len(pkt)
    if pending:
        yield LinkFrame(tuple(pending)).pack(data_bytes)
