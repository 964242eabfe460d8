"""The PLS field: 8 bits that every physical-layer frame header carries.

Bit layout (bit 7 = most significant, transmitted first)::

    bits 7..2  modcod id (0..63), see chaincast.fec.wire.profile.MODCODS_BY_PLS_ID
    bit  1     short frame (1: 90 slots of 90 symbols; 0: 360 slots)
    bit  0     pilots (1: a 36-symbol pilot block after every 16 slots)

The modem (chaincast.sdr.plframe) protects these 8 bits with a first-order Reed-Muller code
RM(1,7) (128 coded bits, minimum distance 64) and needs only ``slots`` and ``pilots`` from them
to cut a frame out of the symbol stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaincast.fec.wire.profile import NORMAL_FRAME_SLOTS, SHORT_FRAME_SLOTS


class PlsError(ValueError):
    pass


@dataclass(frozen=True)
class Pls:
    modcod_id: int
    short_frame: bool
    pilots: bool

    def __post_init__(self) -> None:
        if not 0 <= self.modcod_id < 64:
            raise PlsError(f"modcod id {self.modcod_id} out of range 0..63")

    @property
    def slots(self) -> int:
        return SHORT_FRAME_SLOTS if self.short_frame else NORMAL_FRAME_SLOTS

    def pack(self) -> int:
        return (self.modcod_id << 2) | (int(self.short_frame) << 1) | int(self.pilots)

    @classmethod
    def unpack(cls, value: int) -> "Pls":
        if not 0 <= value < 256:
            raise PlsError(f"PLS value {value} is not 8 bits")
        return cls(modcod_id=value >> 2, short_frame=bool(value & 2), pilots=bool(value & 1))
