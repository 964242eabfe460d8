"""The receive chain for one IQ stream: demodulate, decode, assemble, validate, deliver."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.kernel import ChainDelivery, block_hash
from chaincast.rxside.linkdecode import LinkDecoder
from chaincast.sdr.rx import Demodulator


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
    objects_complete: int
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

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Receiver:
    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, delivery: ChainDelivery,
                 on_frame=None, search_hz: float = 0.0):
        """``on_frame(FrameRecord)``: called for every decoded PL frame (see ``LinkDecoder``);
        ``search_hz``: carrier scan range (see ``Demodulator``)."""
        self.sample_rate_hz = sample_rate_hz
        self.demodulator = Demodulator(sample_rate_hz, symbol_rate_hz, rolloff, search_hz=search_hz)
        self.link = LinkDecoder(on_frame=on_frame)
        self.assembler = ObjectAssembler()
        self.delivery = delivery
        self.samples = 0
        self._esn0: list[float] = []
        self._cfo: list[float] = []
        self.blocks_bad_id = 0

    def feed(self, iq: np.ndarray) -> None:
        self.samples += len(iq)
        self._frames(self.demodulator.process(iq))

    def finish(self) -> ReceiveReport:
        self._frames(self.demodulator.flush())
        self._packets(self.link.flush())
        return self.report()

    def _frames(self, frames: Iterable) -> None:
        for frame in frames:
            self._esn0.append(frame.esn0_db)
            self._cfo.append(frame.cfo_hz)
            meta = {"time_s": round(frame.start_sample / self.sample_rate_hz, 6), "start_sample": frame.start_sample,
                    "esn0_db": round(frame.esn0_db, 2), "cfo_hz": round(frame.cfo_hz, 1), "locked": frame.locked}
            self._packets(self.link.push(frame.pls_value, frame.payload, frame.noise_var, meta, frame.phase_walk_var))

    def _packets(self, packets: Iterable) -> None:
        for pkt in packets:
            obj = self.assembler.add(pkt)
            if obj is not None:
                self._deliver(obj)

    def _deliver(self, obj: BroadcastObject) -> None:
        if obj.object_type != ObjectType.BLOCK:
            return
        if block_hash(obj.payload) != obj.object_id:  # the id must be what the header hashes to
            self.blocks_bad_id += 1
            self.delivery.stats.blocks_rejected += 1
        elif self.delivery.submit(obj.payload) != "rejected":
            return
        self.assembler.reopen(obj.object_type, obj.object_id)

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
            objects_complete=asm.objects_complete,
            objects_corrupt=asm.objects_corrupt,
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
        )
