"""Air-time scheduler of the uplink service: which packets go into each link frame.

Pure logic (no clock, no sockets): the service hands it chain changes and asks for one link-frame
data field at a time. Its time is air time, ``frame index x frame_duration_s``.

Traffic classes (``Share``), in order of precedence within each frame:

1. ``NEW``: the symbols of blocks that just arrived (``new_block_passes`` passes, pass 0 first).
   They pre-empt everything: the first frame built after ``apply`` starts with them.
2. ``INDEX``: the chain index (``chaincast.fec.wire.chainindex``), every ``index_interval_s`` of
   air time and once more right after a new tip's first symbols have gone.
3. The shared classes, weighted by their shares with start-time fair queueing on packet bytes
   (a class with nothing to send gives its air time to the others and earns no credit for it; one
   whose next packet does not fit the rest of a frame keeps its credit for the next frame):
   ``CAROUSEL``, the most recent ``carousel_blocks`` blocks, pass after pass; ``HEADERS``, runs of
   ``headers_per_object`` headers (``chaincast.fec.wire.headers``), aligned to multiples of it,
   cycled oldest first; ``BACKFILL``, older blocks the service feeds in (full history), runs of
   small ones in bundles (``block_objects``: one object, one packet header per symbol, instead of
   a few symbols of repair overhead per tiny block).

Every object keeps its fountain encoder state between passes (``_Sender``), so each pass of it,
whichever class sends it, carries repair symbols no earlier pass sent (up to ``fresh_passes``
passes after pass 0; then the repair passes repeat, because the ``raptorq`` binding can only
generate repair symbols from the first one on, and pass p costs p times the object in CPU and
memory). Within a carousel or backfill pass the symbols of consecutive objects go out
round-robin (as ``Packetizer.pass_packets``), in windows bounded by object count and bytes.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from chaincast.fec.fountain import FountainEncoder, choose_symbol_size
from chaincast.fec.wire import linkframe
from chaincast.fec.wire.bitcoin import block_hash
from chaincast.fec.wire.bundle import MAX_BUNDLE_BYTES
from chaincast.fec.wire.chainindex import NO_HEIGHT, BlockEntry, ChainIndex, ObjectEntry, OnAir
from chaincast.fec.wire.headers import HEADER_BYTES, HeadersRun
from chaincast.fec.wire.headers import MAX_COUNT as MAX_RUN_HEADERS
from chaincast.fec.wire.linkframe import LinkFrame
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.fec.wire.packet import Packet
from chaincast.txside.packetizer import BUNDLE_BLOCKS_BELOW, BUNDLE_BYTES, SPREAD_WINDOW, block_object, block_objects, max_symbol_size

NEW_AT_MOST = 6
"""A change that connects more blocks than this sends only the last ones as new (the others join
the carousel): a node catching up must not hold the air for minutes."""


class Share(str, Enum):
    NEW = "new"
    INDEX = "index"
    CAROUSEL = "carousel"
    HEADERS = "headers"
    BACKFILL = "backfill"


SHARED_CLASSES = (Share.CAROUSEL, Share.HEADERS, Share.BACKFILL)


@dataclass(frozen=True)
class ChainBlock:
    height: int
    block_hash: bytes  # internal byte order
    header: bytes  # 80 bytes
    raw: bytes | None = None  # the whole block, when the uplink will send it


@dataclass(frozen=True)
class TipChange:
    """What the node's best chain did: ``disconnected`` blocks (highest first) left it,
    ``connected`` blocks (ascending) joined it. ``resync``: the uplink lost track (a jump deeper
    than it follows); ``connected`` is then the new recent chain, nothing is sent as new, and
    ``headers`` (from ``headers_first``) replaces the headers from there on."""

    connected: tuple[ChainBlock, ...]
    disconnected: tuple[bytes, ...] = ()
    notified_at: float = 0.0  # monotonic time the notification (ZMQ message or poll) arrived
    source: str = ""
    resync: bool = False
    headers_first: int | None = None
    headers: bytes = b""


@dataclass(frozen=True)
class ScheduleConfig:
    carousel_blocks: int = 144
    carousel_share: float = 0.6
    headers_share: float = 0.1
    backfill_share: float = 0.3
    index_interval_s: float = 5.0
    new_block_passes: int = 2
    fresh_passes: int = 16
    headers_per_object: int = 2016
    spread_window: int = SPREAD_WINDOW
    spread_bytes: int = 4 << 20
    bundle_below: int = BUNDLE_BLOCKS_BELOW  # backfill: consecutive blocks under this size travel as bundles
    bundle_bytes: int = BUNDLE_BYTES  # (``Packetizer``'s bundles, ``fec.wire.bundle``); 0: no bundles

    def __post_init__(self) -> None:
        if self.carousel_blocks < 1 or self.new_block_passes < 1 or self.fresh_passes < 1:
            raise ValueError("carousel_blocks, new_block_passes and fresh_passes must be at least 1")
        if min(self.carousel_share, self.headers_share, self.backfill_share) < 0 or self.carousel_share <= 0:
            raise ValueError("shares must be non-negative and the carousel's positive")
        if self.index_interval_s <= 0 or self.headers_per_object < 1 or self.spread_window < 1:
            raise ValueError("index_interval_s, headers_per_object and spread_window must be positive")
        if self.headers_per_object > MAX_RUN_HEADERS or self.bundle_bytes > MAX_BUNDLE_BYTES:
            raise ValueError(f"headers_per_object is at most {MAX_RUN_HEADERS} and bundle_bytes at most "
                             f"{MAX_BUNDLE_BYTES}: receivers refuse larger objects")

    def share(self, cls: Share) -> float:
        return {Share.CAROUSEL: self.carousel_share, Share.HEADERS: self.headers_share,
                Share.BACKFILL: self.backfill_share}[cls]


@dataclass(frozen=True)
class FramePacket:
    share: Share
    object_type: int
    object_id: bytes
    symbol_id: int
    size: int  # packet bytes (header + symbol)


@dataclass(frozen=True)
class ScheduledFrame:
    index: int
    air_time_s: float  # start of the frame on the air, from the first frame
    field: bytes  # the link-frame data field
    packets: tuple[FramePacket, ...]

    def bytes_by_share(self) -> dict[Share, int]:
        out: dict[Share, int] = {}
        for p in self.packets:
            out[p.share] = out.get(p.share, 0) + p.size
        return out


class _Sender:
    """One object's fountain encoder and the number of passes it has had."""

    def __init__(self, obj: BroadcastObject, symbol_limit: int, fresh_passes: int):
        transfer = obj.encode()
        self.obj = obj
        self.encoder = FountainEncoder(transfer, choose_symbol_size(len(transfer), symbol_limit))
        self.fresh_passes = fresh_passes
        self.passes_sent = 0

    def take_pass(self) -> list[tuple[int, bytes]]:
        """(symbol id, packed packet) of this object's next pass."""
        p = self.passes_sent
        self.passes_sent += 1
        index = 0 if p == 0 else 1 + (p - 1) % self.fresh_passes
        enc = self.encoder
        return [(s.symbol_id, Packet(self.obj.object_type, self.obj.object_id, enc.transfer_length, enc.symbol_size,
                                     s.symbol_id, s.data).pack())
                for s in enc.pass_symbols(index)]


_Item = tuple[FramePacket, bytes]


class _Lane:
    """A queue of packets of one class, refilled on demand by ``refill`` (None: nothing to send)."""

    def __init__(self, share: Share, refill: Callable[[], Iterable[_Item] | None] | None = None):
        self.share = share
        self.items: deque[_Item] = deque()
        self._refill = refill
        self.finish_tag = 0.0  # start-time fair queueing: the virtual time this class has used
        self.idle = True  # had nothing to send when last asked: earns no credit for that time

    def peek(self) -> _Item | None:
        if not self.items and self._refill is not None:
            more = self._refill()
            if more:
                self.items.extend(more)
        return self.items[0] if self.items else None

    def pop(self) -> _Item:
        return self.items.popleft()

    def push_sender_pass(self, sender: _Sender) -> None:
        self.items.extend(_items(self.share, sender))

    def drop_object(self, object_id: bytes) -> None:
        self.items = deque(item for item in self.items if item[0].object_id != object_id)

    def object_ids(self) -> list[bytes]:
        return list(dict.fromkeys(item[0].object_id for item in self.items))


def _items(share: Share, sender: _Sender) -> list[_Item]:
    obj = sender.obj
    return [(FramePacket(share, obj.object_type, obj.object_id, sid, len(pkt)), pkt) for sid, pkt in sender.take_pass()]


def _round_robin(share: Share, senders: list[_Sender]) -> list[_Item]:
    """One pass of each sender, their symbols interleaved one object at a time."""
    turns = [deque(_items(share, s)) for s in senders]
    out = []
    while turns:
        for turn in turns:
            out.append(turn.popleft())
        turns = [turn for turn in turns if turn]
    return out


class Scheduler:
    """``data_bytes``: link-frame data field size (the MODCOD's); ``frame_duration_s``: air time of
    one PL frame; ``genesis_hash``: named in every chain index; ``epoch_ms``: the clock stamped on
    chain indexes (milliseconds since the Unix epoch)."""

    def __init__(self, data_bytes: int, frame_duration_s: float, genesis_hash: bytes,
                 config: ScheduleConfig = ScheduleConfig(), epoch_ms: Callable[[], int] | None = None):
        self.data_bytes = data_bytes
        self.frame_duration_s = frame_duration_s
        self.genesis_hash = genesis_hash
        self.config = config
        self._epoch_ms = epoch_ms or (lambda: int(time.time() * 1000))
        self._symbol_limit = max_symbol_size(data_bytes)
        self._room = linkframe.capacity(data_bytes)
        self.frame_index = 0
        # the chain: recent blocks (oldest first) with their senders, and the headers
        self._carousel: OrderedDict[bytes, tuple[int, _Sender]] = OrderedDict()
        self._headers_first = 0
        self._headers = bytearray()
        self.tip_height = -1
        self.tip_hash = bytes(32)
        # lanes
        self.new = _Lane(Share.NEW)
        self.index = _Lane(Share.INDEX)
        self.lanes = {Share.CAROUSEL: _Lane(Share.CAROUSEL, self._carousel_window),
                      Share.HEADERS: _Lane(Share.HEADERS, self._next_headers_run),
                      Share.BACKFILL: _Lane(Share.BACKFILL, self._backfill_window)}
        self._carousel_pass: list[bytes] = []  # hashes still to send in this carousel pass
        self._carousel_passes = 0
        self._headers_next = 0  # index of the next headers run in the cycle
        self._headers_cycle = 0
        self._headers_on_air: ObjectEntry | None = None
        self._backfill_pending: list[tuple[int, bytes, int]] = []  # (height, raw block, cycle)
        self._backfill_on_air: list[tuple[int, bytes]] = []
        self._virtual_time = 0.0
        self._index_sequence = 0
        self._index_every = max(1, round(config.index_interval_s / frame_duration_s))
        self._next_index_frame = 0
        self._index_after_new = False
        self.bytes_sent = {share: 0 for share in Share}

    # ------------------------------------------------------------------ the chain

    def set_chain(self, recent: Iterable[ChainBlock], headers_first: int, headers: bytes) -> None:
        """The starting point: the recent blocks (ascending, with ``raw``) and the headers."""
        self._carousel.clear()
        self._carousel_pass = []
        self._headers_first, self._headers = headers_first, bytearray(headers)
        for block in recent:
            self._add_to_carousel(block)
        self._set_tip()

    def apply(self, change: TipChange) -> list[ChainBlock]:
        """A change of the node's best chain; returns the blocks queued as new."""
        for gone in change.disconnected:
            self._carousel.pop(gone, None)
            for lane in (self.new, *self.lanes.values()):
                lane.drop_object(gone)
        if change.resync:
            self._carousel.clear()
            self._carousel_pass = []
            if change.headers_first is not None:
                self._splice_headers(change.headers_first, change.headers)
        new: list[ChainBlock] = []
        with_raw = [b for b in change.connected if b.raw is not None]
        newest = set() if change.resync else {b.block_hash for b in with_raw[-NEW_AT_MOST:]}
        for block in change.connected:
            self._splice_headers(block.height, block.header)
            if block.raw is None:
                continue
            sender = self._add_to_carousel(block)
            if block.block_hash in newest:
                for _ in range(self.config.new_block_passes):
                    self.new.push_sender_pass(sender)
                new.append(block)
        self._set_tip()
        if new:
            self._index_after_new = True
        return new

    def _splice_headers(self, first: int, headers: bytes) -> None:
        if first < self._headers_first:
            headers = headers[(self._headers_first - first) * HEADER_BYTES :]
            first = self._headers_first
        have = len(self._headers) // HEADER_BYTES
        if first - self._headers_first > have:
            raise ValueError(f"headers from height {first} leave a gap after height {self._headers_first + have - 1}")
        del self._headers[(first - self._headers_first) * HEADER_BYTES :]
        self._headers += headers

    def _add_to_carousel(self, block: ChainBlock) -> _Sender:
        if block.block_hash in self._carousel:
            return self._carousel[block.block_hash][1]
        sender = _Sender(block_object(block.raw), self._symbol_limit, self.config.fresh_passes)
        self._carousel[block.block_hash] = (block.height, sender)
        while len(self._carousel) > self.config.carousel_blocks:
            self._carousel.popitem(last=False)
        return sender

    def _set_tip(self) -> None:
        count = len(self._headers) // HEADER_BYTES
        if count:
            self.tip_height = self._headers_first + count - 1
            self.tip_hash = block_hash(bytes(self._headers[-HEADER_BYTES:]))
        elif self._carousel:
            self.tip_hash, (self.tip_height, _) = next(reversed(self._carousel.items()))

    @property
    def carousel_heights(self) -> list[int]:
        return [height for height, _ in self._carousel.values()]

    @property
    def headers_range(self) -> tuple[int, int]:
        return self._headers_first, self._headers_first + len(self._headers) // HEADER_BYTES - 1

    # ------------------------------------------------------------------ backfill

    def backfill_room(self) -> bool:
        """Whether the backfill class would take another block now (``offer_backfill``)."""
        if self.config.backfill_share <= 0:
            return False
        pending_bytes = sum(len(raw) for _, raw, _ in self._backfill_pending)
        return len(self._backfill_pending) < self.config.spread_window and pending_bytes < self.config.spread_bytes

    def offer_backfill(self, height: int, raw: bytes, cycle: int = 0) -> None:
        """An older block for the backfill, in ascending height order; ``cycle`` counts how often
        the backfill went round the history, and picks the pass (fresh repair symbols each time)."""
        self._backfill_pending.append((height, raw, cycle))

    def _backfill_window(self) -> list[_Item] | None:
        if not self._backfill_pending:
            self._backfill_on_air = []
            return None
        window, self._backfill_pending = self._backfill_pending, []
        self._backfill_on_air = [(height, block_hash(raw)) for height, raw, _ in window]
        senders = []
        for cycle, run in itertools.groupby(window, key=lambda entry: entry[2]):  # a window may wrap round
            for obj in block_objects([raw for _, raw, _ in run], self.config.bundle_below, self.config.bundle_bytes):
                sender = _Sender(obj, self._symbol_limit, self.config.fresh_passes)
                sender.passes_sent = cycle
                senders.append(sender)
        return _round_robin(Share.BACKFILL, senders)

    # ------------------------------------------------------------------ carousel and headers

    def _carousel_window(self) -> list[_Item] | None:
        if not self._carousel:
            return None
        if not self._carousel_pass:
            self._carousel_pass = list(self._carousel)
            self._carousel_passes += 1
        window, used = [], 0
        while self._carousel_pass and len(window) < self.config.spread_window and used < self.config.spread_bytes:
            entry = self._carousel.get(self._carousel_pass.pop(0))
            if entry is not None:  # gone in a reorg or evicted since the pass began
                window.append(entry[1])
                used += entry[1].encoder.transfer_length
        return _round_robin(Share.CAROUSEL, window) if window else self._carousel_window()

    def _headers_run(self, run_index: int) -> HeadersRun:
        per = self.config.headers_per_object
        first = max(run_index * per, self._headers_first)
        last = min((run_index + 1) * per - 1, self.headers_range[1])
        start = (first - self._headers_first) * HEADER_BYTES
        return HeadersRun(first, bytes(self._headers[start : start + (last - first + 1) * HEADER_BYTES]))

    def _next_headers_run(self) -> list[_Item] | None:
        first, last = self.headers_range
        if last < first or self.config.headers_share <= 0:
            self._headers_on_air = None
            return None
        per = self.config.headers_per_object
        runs = range(first // per, last // per + 1)
        if self._headers_next not in runs:
            if self._headers_next > runs[-1]:
                self._headers_cycle += 1
            self._headers_next = runs[0]
        run = self._headers_run(self._headers_next)
        self._headers_next += 1
        obj = BroadcastObject(ObjectType.HEADERS, run.object_id(), run.pack())
        sender = _Sender(obj, self._symbol_limit, self.config.fresh_passes)
        sender.passes_sent = self._headers_cycle
        self._headers_on_air = ObjectEntry(ObjectType.HEADERS, obj.object_id, sender.encoder.transfer_length, OnAir.HEADERS)
        return _items(Share.HEADERS, sender)

    # ------------------------------------------------------------------ the chain index

    def chain_index(self) -> ChainIndex:
        new_ids = set(self.new.object_ids())
        blocks = [BlockEntry(height, h, OnAir.NEW if h in new_ids else OnAir.CAROUSEL)
                  for h, (height, _) in reversed(self._carousel.items())]
        objects = [self._headers_on_air] if self._headers_on_air is not None else []
        h_first, h_last = self.headers_range
        if h_last < h_first:
            h_first = h_last = NO_HEIGHT
        heights = [height for height, _ in self._backfill_on_air]
        b_first, b_last = (min(heights), max(heights)) if heights else (NO_HEIGHT, NO_HEIGHT)
        self._index_sequence += 1
        return ChainIndex(self._index_sequence, self._epoch_ms(), self.genesis_hash, max(self.tip_height, 0),
                          self.tip_hash, h_first, h_last, b_first, b_last, tuple(blocks), tuple(objects))

    def _queue_index(self) -> None:
        index = self.chain_index()
        payload = index.pack()
        sender = _Sender(BroadcastObject(ObjectType.CHAIN_INDEX, index.object_id(), payload), self._symbol_limit, 1)
        self.index.push_sender_pass(sender)

    # ------------------------------------------------------------------ frames

    def next_frame(self) -> ScheduledFrame:
        """The next link frame's data field and what it carries."""
        room = self._room
        chosen: list[_Item] = []

        def take(lane: _Lane) -> bool:
            nonlocal room
            item = lane.peek()
            if item is None or len(item[1]) > room:
                return False
            chosen.append(lane.pop())
            room -= len(item[1])
            self.bytes_sent[lane.share] += len(item[1])
            return True

        while take(self.new):
            pass
        if self.new.peek() is None:
            if self.frame_index >= self._next_index_frame or self._index_after_new:
                self._queue_index()
                self._next_index_frame = self.frame_index + self._index_every
                self._index_after_new = False
            while take(self.index):
                pass
        while True:
            candidates = []
            for cls in SHARED_CLASSES:
                lane = self.lanes[cls]
                share = self.config.share(cls)
                if share <= 0:
                    continue
                item = lane.peek()
                if item is None:
                    lane.idle = True
                elif len(item[1]) <= room:  # a class whose packet waits for the next frame keeps its credit
                    start = max(lane.finish_tag, self._virtual_time) if lane.idle else lane.finish_tag
                    candidates.append((start, cls, lane, share, len(item[1])))
            if not candidates:
                break
            start, _, lane, share, size = min(candidates, key=lambda c: c[0])
            take(lane)
            lane.idle = False
            self._virtual_time = max(self._virtual_time, start)
            lane.finish_tag = start + size / share
        frame = ScheduledFrame(self.frame_index, self.frame_index * self.frame_duration_s,
                               LinkFrame(tuple(pkt for _, pkt in chosen)).pack(self.data_bytes),
                               tuple(meta for meta, _ in chosen))
        self.frame_index += 1
        return frame

    def queued_new_packets(self) -> int:
        return len(self.new.items)
