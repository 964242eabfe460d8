"""The PLS field: 8 bits that every physical-layer frame header carries.

Bit layout (bit 7 = most significant, transmitted first)::

    bits 7..2  modcod id (0..63), see chaincast.fec.wire.profile.MODCODS_ON_AIR
    bit  1     short frame (1: 16200 coded bits; 0: 64800), with the modcod id naming the MODCOD
    bit  0     pilots (1: a 36-symbol pilot block after every 16 slots)

The payload length in slots follows from the MODCOD (``profile.frame_slots``: QPSK 360 / 90,
8PSK 240 / 60), so a PLS naming an unknown MODCOD cannot be cut out of the stream. The modem
(chaincast.sdr.plframe) protects these 8 bits with a first-order Reed-Muller code RM(1,7)
(128 coded bits, minimum distance 64) and needs ``slots``, ``bits_per_symbol`` and ``pilots``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.profile import Modcod, modcod_on_air


class PlsError(WireError):
    """A PLS value outside 8 bits, or one naming no MODCOD where a MODCOD is needed."""


@dataclass(frozen=True)
class Pls:
    modcod_id: int
    short_frame: bool
    pilots: bool

    def __post_init__(self) -> None:
        if not 0 <= self.modcod_id < 64:
            raise PlsError(f"modcod id {self.modcod_id} out of range 0..63")

    @property
    def known(self) -> bool:
        return modcod_on_air(self.modcod_id, self.short_frame) is not None

    @property
    def modcod(self) -> Modcod:
        modcod = modcod_on_air(self.modcod_id, self.short_frame)
        if modcod is None:
            size = "short" if self.short_frame else "normal"
            raise PlsError(f"PLS names unknown MODCOD id {self.modcod_id} ({size} frame)")
        return modcod

    @property
    def slots(self) -> int:
        return self.modcod.slots

    @property
    def bits_per_symbol(self) -> int:
        return self.modcod.bits_per_symbol

    def pack(self) -> int:
        return (self.modcod_id << 2) | (int(self.short_frame) << 1) | int(self.pilots)

    @classmethod
    def unpack(cls, value: int) -> "Pls":
        if not 0 <= value < 256:
            raise PlsError(f"PLS value {value} is not 8 bits")
        return cls(modcod_id=value >> 2, short_frame=bool(value & 2), pilots=bool(value & 1))
