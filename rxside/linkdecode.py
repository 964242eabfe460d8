"""PL frames -> link frames -> packets: demapping, descrambling, inner and outer decoding, CRCs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chaincast.fec.framecodec import FrameCodec
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.linkframe import LinkFrame
from chaincast.fec.wire.packet import Packet
from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import MODCODS_BY_PLS_ID
from chaincast.sdr import modem, scrambler


@dataclass
class LinkStats:
    frames_ok: int = 0
    frames_failed: int = 0  # found and header decoded, but the link frame did not check
    frames_unknown_modcod: int = 0
    corrected_bytes: int = 0
    packets_ok: int = 0
    packets_bad: int = 0
    esn0_db: list[float] = field(default_factory=list)


class LinkDecoder:
    def __init__(self) -> None:
        self.stats = LinkStats()
        self._codecs: dict[int, tuple[FrameCodec, np.ndarray]] = {}

    def _codec(self, pls_value: int) -> tuple[FrameCodec, np.ndarray] | None:
        pls = Pls.unpack(pls_value)
        modcod = MODCODS_BY_PLS_ID.get(pls.modcod_id)
        if modcod is None or modcod.short_frame != pls.short_frame:
            return None
        if pls.modcod_id not in self._codecs:
            signs = 1.0 - 2.0 * scrambler.prbs_bits(modcod.coded_bits).astype(np.float32)
            self._codecs[pls.modcod_id] = (FrameCodec(modcod), signs)
        return self._codecs[pls.modcod_id]

    def decode(self, pls_value: int, payload: np.ndarray, noise_var: float) -> list[Packet]:
        """One PL frame's payload symbols -> the packets whose CRC checks."""
        entry = self._codec(pls_value)
        if entry is None:
            self.stats.frames_unknown_modcod += 1
            return []
        codec, signs = entry
        llr = modem.qpsk_llr(payload, max(noise_var, 1e-6)) * signs
        result = codec.decode(llr.astype(np.float32))
        try:
            frame = LinkFrame.unpack(result.data)
        except WireError:
            self.stats.frames_failed += 1
            return []
        self.stats.frames_ok += 1
        self.stats.corrected_bytes += result.corrected_bytes
        packets = []
        for raw in frame.packets:
            try:
                packets.append(Packet.unpack(raw))
                self.stats.packets_ok += 1
            except WireError:
                self.stats.packets_bad += 1
        return packets
