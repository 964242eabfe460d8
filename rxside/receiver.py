"""The receive chain for one IQ stream: demodulate, decode, assemble, validate, deliver.

With a ``ReceiverStore`` the chain survives being killed: packets and rebuilt objects are committed
once per fed chunk together with the input sample from which a restart must read again, objects
rebuilt but not yet durable in the node are handed to it again at start, and the node is made to
flush (``ChainDelivery.checkpoint``) before objects are marked durable in the store.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from chaincast.fec.wire.bundle import unpack_bundle
from chaincast.fec.wire.chainindex import ChainIndex
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.headers import HeadersRun
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.headerchain import HeaderChain, HeaderRejected
from chaincast.rxside.inbox import Inbox
from chaincast.rxside.kernel import ChainDelivery, block_hash
from chaincast.rxside.linkdecode import LinkDecoder
from chaincast.rxside.pipeline import demodulator_for
from chaincast.rxside.store import ReceiverStore
from chaincast.sdr.rx import Demodulator

CHECKPOINT_S = 5.0  # wall seconds between node flushes while blocks arrive (a flush costs ~50 ms)
LIVE_COMMIT_S = 1.0  # wall seconds between state commits on a live source (a file commits per chunk)
RECENT_FRAMES = 512  # frames kept for the live status (about 15 s of QPSK 3/5 at 1 Mbaud)
MEDIAN_FRAMES = 4096  # the report's Es/N0 and CFO medians are over the latest this many frames


@dataclass(frozen=True)
class ReceiveReport:
    frames_found: int
    header_failures: int
    lock_acquisitions: int  # frames found out of lock: the first, and each after a loss of lock
    frames_ok: int
    frames_failed: int
    corrected_bytes: int
    ldpc_failures: int
    frames_resynced: int
    ldpc_mean_iterations: float | None
    packets_ok: int
    packets_bad: int
    payload_efficiency: float | None  # object-data bytes / link-frame data bytes, over the frames that checked
    objects_complete: int
    objects_combined: int  # rebuilt from symbols of two carousel passes or more
    objects_corrupt: int
    blocks_validated: int
    blocks_rejected: int
    blocks_known: int  # already in the datadir (or the genesis block)
    blocks_waiting: int
    tip_height: int
    tip_hash: str
    esn0_db: float | None
    cfo_hz: float | None
    samples: int
    duration_s: float
    resumed_from_s: float  # where this run started reading (a restarted receiver skips what it committed)
    objects_redelivered: int  # rebuilt before a stop, not yet durable in the node: handed over again
    headers_height: int = -1  # the checked header chain's last height (headers-first; -1: no headers yet)
    headers_rejected: int = 0  # header runs refused (malformed, no proof of work, wrong difficulty, less work)
    headers_rejected_why: str = ""  # the last reason
    broadcast_tip_height: int = -1  # the uplink's tip, from its latest chain index (-1: none heard; advisory, unsigned)
    index_wrong_chain: int = 0  # chain indexes naming another chain's genesis block (is --chain right?)
    files_saved: int = 0  # signed files and messages verified and saved in the inbox
    files_rejected: int = 0  # envelopes dropped (see files_rejected_why); with no broadcaster key, all of them
    files_known: int = 0  # verified, already in the inbox with the same bytes
    files_rejected_why: dict = field(default_factory=dict)  # "malformed", "bad_id", "signature", "no_key"
    packets_refused: int = 0  # declared an object no genuine broadcast sends (too large, unknown type, ...)
    variants_pruned: int = 0  # partial objects dropped to keep the symbol budget
    symbols_stored_bytes: int = 0  # symbols held against the budget (state file, else memory)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Receiver:
    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, delivery: ChainDelivery,
                 on_frame=None, search_hz: float = 0.0, store: ReceiverStore | None = None, source_key: str = "",
                 first_sample: int = 0, inbox: Inbox | None = None, symbol_budget_bytes: int | None = None,
                 cores: int = 1):
        """``on_frame(FrameRecord)``: called for every decoded PL frame (see ``LinkDecoder``);
        ``search_hz``: carrier scan range (see ``Demodulator``); ``store``: the state to keep and
        resume, with the input named ``source_key`` read from sample ``first_sample`` on;
        ``inbox``: where signed files and messages are verified and saved (None: not looked at);
        ``symbol_budget_bytes``: bytes of partial objects' symbols kept (in the store, else in
        memory; None: the assembler's default); ``cores``: more than 1 runs the demodulator on a
        thread of its own beside the decoding (``chaincast.rxside.pipeline``)."""
        self.sample_rate_hz = sample_rate_hz
        self.demodulator = demodulator_for(
            cores, lambda: Demodulator(sample_rate_hz, symbol_rate_hz, rolloff, search_hz=search_hz))
        self.recent_frames: deque = deque(maxlen=RECENT_FRAMES)  # FrameRecord, newest last
        self._on_frame = on_frame
        self.link = LinkDecoder(on_frame=self._frame_decoded)
        self.store = store
        self.source_key = source_key
        budget = {} if symbol_budget_bytes is None else {"disk_budget": symbol_budget_bytes, "memory_budget": symbol_budget_bytes}
        self.assembler = ObjectAssembler(store=store, **budget)
        self.delivery = delivery
        self.inbox = inbox
        self.first_sample = first_sample
        self.samples = 0  # fed in this run
        self.live = not source_key  # no position to resume from: commit by time, not per chunk
        self.samples_skipped = 0  # live input lost before it was fed (dropped, or a source reopened)
        self.discontinuities = 0
        self._stream_origin = 0  # input sample (fed + skipped) at which the demodulator's stream started
        self._last_commit = time.monotonic()
        self._esn0: deque[float] = deque(maxlen=MEDIAN_FRAMES)
        self._cfo: deque[float] = deque(maxlen=MEDIAN_FRAMES)
        self.blocks_bad_id = 0
        self.bundles_malformed = 0
        self._bundle_waiting: dict[tuple[int, bytes], set[bytes]] = {}  # bundle -> its blocks waiting for a parent
        self.objects_redelivered = 0
        self.headers_rejected = 0
        self.headers_rejected_why = ""
        on_change = store.replace_headers if store is not None else None
        try:
            self.headers = HeaderChain(delivery.chain, store.headers() if store is not None else [], on_change)
        except HeaderRejected as bad:  # a damaged state file: start the header chain over
            self.headers = HeaderChain(delivery.chain, on_change=on_change)
            store.replace_headers(0, [])
            self.headers_rejected, self.headers_rejected_why = 1, str(bad)
        self._headers_waiting: dict[HeadersRun, tuple[int, bytes]] = {}  # runs that do not attach yet -> key
        self._index: ChainIndex | None = None  # the latest chain index of our chain
        self.index_wrong_chain = 0
        delivery.height_hint = self.headers.height_of  # the reorder buffer keeps the blocks nearest the tip
        self._given: list[tuple[int, bytes]] = []  # handed to the node since its last flush
        self._last_checkpoint = time.monotonic()
        if store is not None:
            for object_type, object_id, payload in store.pending_objects():  # rebuilt before a stop
                self.objects_redelivered += 1
                self._deliver(BroadcastObject(object_type, object_id, payload))

    @property
    def latest_index(self) -> ChainIndex | None:
        """The newest chain index of our chain heard (advisory: unsigned)."""
        return self._index

    def feed(self, iq: np.ndarray) -> None:
        self.samples += len(iq)
        self._frames(self.demodulator.process(iq))
        if self.store is not None and (not self.live or time.monotonic() - self._last_commit >= LIVE_COMMIT_S):
            self._commit(self._safe_resume_sample())

    def _safe_resume_sample(self) -> int:
        """Where a restart must read again: no frame that is not yet in the store started before."""
        queued = [meta["start_sample"] for meta in self.link.queued_meta()]
        safe = min([self.first_sample + self.samples - self.demodulator.latency_samples, *queued])
        return max(safe, self.first_sample)

    def discontinuity(self, skipped_samples: int = 0) -> None:
        """The next samples do not follow the last ones (a live source dropped ``skipped_samples``
        or was reopened): the frames held are finished and the demodulator acquires again."""
        self._frames(self.demodulator.flush())
        self.demodulator.restart()
        self.samples_skipped += skipped_samples
        self.discontinuities += 1
        self._stream_origin = self.samples + self.samples_skipped

    def finish(self, interrupted: bool = False) -> ReceiveReport:
        """End of input: the frames held are decoded and the state committed. ``interrupted``: a
        recording stopped before its end resumes, next time, from the last position whose frames
        are all in the store (its end otherwise)."""
        resume = self._safe_resume_sample() if interrupted else self.first_sample + self.samples
        self._frames(self.demodulator.flush())
        self._packets(self.link.flush())
        if hasattr(self.demodulator, "close"):  # its thread: nothing more will come
            self.demodulator.close()
        if self.store is not None:
            self._checkpoint()
            self._commit(resume)
        return self.report()

    def _commit(self, resume_sample: int) -> None:
        if self._given and time.monotonic() - self._last_checkpoint > CHECKPOINT_S:
            self._checkpoint()
        if not self.live:
            self.store.set_resume_sample(self.source_key, resume_sample)
        self.store.commit()
        self._last_commit = time.monotonic()

    def _frame_decoded(self, record) -> None:
        self.recent_frames.append(record)
        if self._on_frame is not None:
            self._on_frame(record)

    def _checkpoint(self) -> None:
        """Make the node flush, then record what it now holds durably."""
        self.delivery.checkpoint()
        self.store.mark_durable(self._given)
        self._given = []
        self._last_checkpoint = time.monotonic()

    def _frames(self, frames: Iterable) -> None:
        for frame in frames:
            self._esn0.append(frame.esn0_db)
            self._cfo.append(frame.cfo_hz)
            start = self.first_sample + self._stream_origin + frame.start_sample
            meta = {"time_s": round(start / self.sample_rate_hz, 6), "start_sample": start,
                    "esn0_db": round(frame.esn0_db, 2), "cfo_hz": round(frame.cfo_hz, 1), "locked": frame.locked,
                    "erased": round(frame.erased_fraction, 3), "headerless": frame.headerless}
            self._packets(self.link.push(frame.pls_value, frame.payload, frame.noise_var, meta, frame.phase_walk_var))

    def _packets(self, packets: Iterable) -> None:
        for pkt in packets:
            obj = self.assembler.add(pkt)
            if obj is not None:
                self._deliver(obj)

    def _deliver(self, obj: BroadcastObject) -> None:
        key = (obj.object_type, obj.object_id)
        if obj.object_type == ObjectType.FILE and self.inbox is not None:
            if self.inbox.accept(obj.object_id, obj.payload):
                self._given.append(key)  # saved and flushed, or dropped for good
            else:
                self.assembler.reopen(obj.object_type, obj.object_id)
            return
        if obj.object_type == ObjectType.BLOCK_BUNDLE:
            self._deliver_bundle(key, obj.payload)
            return
        if obj.object_type == ObjectType.HEADERS:
            self._deliver_headers(key, obj.payload)
            return
        if obj.object_type == ObjectType.CHAIN_INDEX:
            self._take_index(obj.payload)
        if obj.object_type != ObjectType.BLOCK:
            self._given.append(key)
            return
        if block_hash(obj.payload) != obj.object_id:  # the id must be what the header hashes to
            self.blocks_bad_id += 1
            self.delivery.stats.blocks_rejected += 1
        else:
            outcome = self.delivery.submit(obj.payload)
            if outcome == "duplicate":
                self._given.append(key)
            self._take_connected()
            if outcome != "rejected":
                return  # "waiting" stays pending in the store: handed over again after a restart
        self.assembler.reopen(obj.object_type, obj.object_id)

    def _deliver_bundle(self, key: tuple[int, bytes], payload: bytes) -> None:
        """Each block of a bundle is submitted on its own; the bundle is done (durable after the
        next flush) once none of its blocks waits for a parent. A malformed bundle whose digest
        matched came so from the broadcaster: counted and dropped, not rebuilt again."""
        try:
            blocks = unpack_bundle(payload)
        except WireError:
            self.bundles_malformed += 1
            self._given.append(key)
            return
        waiting = set()
        for raw in blocks:
            if self.delivery.submit(raw) == "waiting":
                waiting.add(block_hash(raw))
        if waiting:
            self._bundle_waiting[key] = waiting
        else:
            self._given.append(key)
        self._take_connected()

    def _take_index(self, payload: bytes) -> None:
        """Keep the newest chain index of our chain (by its sequence): what the uplink has."""
        try:
            index = ChainIndex.unpack(payload)
        except WireError:
            return  # its digest matched: the broadcaster's own mistake, nothing to act on
        if index.genesis_hash != self.headers.rules.genesis_hash:
            self.index_wrong_chain += 1
            return
        if self._index is None or index.sequence > self._index.sequence:
            self._index = index
        self.assembler.announce([(ObjectType.BLOCK, entry.block_hash, None) for entry in index.blocks]
                                + [(entry.object_type, entry.object_id, entry.transfer_length) for entry in index.objects])

    def _deliver_headers(self, key: tuple[int, bytes], payload: bytes) -> None:
        """A run that does not attach yet stays pending in the store (handed over again after a
        restart) until an earlier run lets it attach."""
        try:
            run = HeadersRun.unpack(payload)
        except WireError as bad:
            outcome_rejected = str(bad)
        else:
            outcome = self.headers.add_run(run)
            outcome_rejected = outcome.rejected
            if outcome.waiting:
                self._headers_waiting[run] = key
                return
        if outcome_rejected:
            self.headers_rejected += 1
            self.headers_rejected_why = outcome_rejected
        self._given.append(key)
        for waiting, waiting_key in list(self._headers_waiting.items()):
            if not self.headers.is_waiting(waiting):
                del self._headers_waiting[waiting]
                self._given.append(waiting_key)

    def _take_connected(self) -> None:
        for h in self.delivery.take_connected():
            self._given.append((ObjectType.BLOCK, h))
            self._bundle_block_done(h)
        for h in self.delivery.take_dropped():
            # pushed out of the full reorder buffer: rebuilt from a later pass, not kept pending
            self.assembler.reopen(ObjectType.BLOCK, h)
            for key, waiting in list(self._bundle_waiting.items()):
                if h in waiting:
                    del self._bundle_waiting[key]
                    self.assembler.reopen(*key)
        for h in self.delivery.take_rejected_waiting():
            # a block object is rebuilt from fresh symbols (the bytes may have been a forgery
            # sharing the genuine header); a bundle's block came with the bundle's digest, so the
            # bundle is done with it
            self.assembler.reopen(ObjectType.BLOCK, h)
            self._bundle_block_done(h)

    def _bundle_block_done(self, h: bytes) -> None:
        for key, waiting in list(self._bundle_waiting.items()):
            waiting.discard(h)
            if not waiting:
                del self._bundle_waiting[key]
                self._given.append(key)

    def report(self) -> ReceiveReport:
        demod, link, asm, dlv = self.demodulator.stats, self.link.stats, self.assembler.stats, self.delivery.stats
        height, tip_hash = self.delivery.tip()
        return ReceiveReport(
            frames_found=demod.frames_found,
            header_failures=demod.header_failures,
            lock_acquisitions=demod.acquisitions,
            frames_ok=link.frames_ok,
            frames_failed=link.frames_failed + link.frames_unknown_modcod,
            corrected_bytes=link.corrected_bytes,
            ldpc_failures=link.ldpc_failures,
            frames_resynced=link.frames_resynced,
            ldpc_mean_iterations=round(link.ldpc_iterations / link.ldpc_frames, 2) if link.ldpc_frames else None,
            packets_ok=link.packets_ok,
            packets_bad=link.packets_bad,
            payload_efficiency=round(link.symbol_bytes / link.data_bytes, 4) if link.data_bytes else None,
            objects_complete=asm.objects_complete,
            objects_combined=asm.objects_combined,
            objects_corrupt=asm.objects_corrupt + self.bundles_malformed,  # digest failed, or a malformed bundle
            blocks_validated=dlv.blocks_validated,
            blocks_rejected=dlv.blocks_rejected,
            blocks_known=dlv.blocks_duplicate,
            blocks_waiting=dlv.blocks_waiting,
            tip_height=height,
            tip_hash=tip_hash,
            esn0_db=round(float(np.median(self._esn0)), 2) if self._esn0 else None,
            cfo_hz=round(float(np.median(self._cfo)), 1) if self._cfo else None,
            samples=self.samples,
            duration_s=round(self.samples / self.sample_rate_hz, 3),
            resumed_from_s=round(self.first_sample / self.sample_rate_hz, 3),
            objects_redelivered=self.objects_redelivered,
            headers_height=self.headers.height,
            headers_rejected=self.headers_rejected,
            headers_rejected_why=self.headers_rejected_why,
            broadcast_tip_height=self._index.tip_height if self._index is not None else -1,
            index_wrong_chain=self.index_wrong_chain,
            packets_refused=asm.packets_refused,
            variants_pruned=asm.variants_pruned,
            symbols_stored_bytes=self.assembler.stored_bytes,
            **(self._inbox_report() if self.inbox is not None else {}),
        )

    def _inbox_report(self) -> dict:
        stats = self.inbox.stats
        return {"files_saved": stats.files_saved, "files_rejected": stats.files_rejected, "files_known": stats.files_known,
                "files_rejected_why": dict(stats.rejected_why)}
