"""A forger's transmitter: packets with valid CRCs, in link frames and PL frames of the genuine
profile, spliced between the broadcaster's frames of a real recording.

The forger knows everything on the air (object ids, transfer lengths, symbol sizes, the profile),
so these frames are exactly what anyone with a transmitter can add to the broadcast.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from chaincast.fec.fountain import FountainEncoder
from chaincast.fec.wire.objects import BroadcastObject
from chaincast.fec.wire.packet import Packet
from chaincast.fec.wire.profile import Profile, modcod_by_name
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.txside.packetizer import Packetizer, block_objects, link_frames
from chaincast.txside.recording import SigmfWriter
from chaincast.txside.uplink import Uplink


def genuine_objects(blocks: list[bytes]) -> list[BroadcastObject]:
    return block_objects(blocks)


def transfer_of(obj: BroadcastObject, symbol_size: int) -> tuple[int, int]:
    """(transfer length, symbol size) the uplink uses for ``obj`` (``symbol_size``: its limit)."""
    encoder = FountainEncoder(obj.encode(), symbol_size)
    return encoder.transfer_length, encoder.symbol_size


def bad_block_number(obj: BroadcastObject, transfer_length: int, symbol_size: int) -> list[Packet]:
    """A symbol of the genuine object whose source block number (5) is beyond its one block:
    raptorq panics on it."""
    return [Packet(obj.object_type, obj.object_id, transfer_length, symbol_size, 5 << 24, bytes(symbol_size))]


def huge_object(rng: random.Random, transfer_length: int = 1 << 30, symbol_size: int = 8, count: int = 4) -> list[Packet]:
    """Symbols of one object that declares ``transfer_length`` bytes."""
    object_id = rng.randbytes(32)
    return [Packet(1, object_id, transfer_length, symbol_size, i, rng.randbytes(symbol_size)) for i in range(count)]


def squatter(obj: BroadcastObject, transfer_length: int, symbol_size: int, rng: random.Random) -> list[Packet]:
    """A packet under the genuine block's id with another transfer length, to be heard first."""
    return [Packet(obj.object_type, obj.object_id, transfer_length + 8, symbol_size, 0, rng.randbytes(symbol_size))]


def garbage_symbol(obj: BroadcastObject, transfer_length: int, symbol_size: int, symbol_id: int,
                   rng: random.Random) -> list[Packet]:
    """Random data of the genuine object's exact shape."""
    return [Packet(obj.object_type, obj.object_id, transfer_length, symbol_size, symbol_id, rng.randbytes(symbol_size))]


def forged_fields(packets: Iterable[Packet], data_bytes: int) -> list[bytes]:
    return list(link_frames((p.pack() for p in packets), data_bytes))


def pass_fields(blocks: list[bytes], data_bytes: int, passes: int) -> list[list[bytes]]:
    """The uplink's link-frame data fields for ``blocks``, one list per carousel pass (as ``tx --passes``)."""
    packetizer = Packetizer(block_objects(blocks), data_bytes)
    return [list(link_frames(packetizer.pass_packets(p), data_bytes)) for p in range(passes)]


def write_spliced_broadcast(genuine: list[list[bytes]], profile: Profile, out: str | Path,
                            forged: dict[tuple[int, int], list[bytes]]) -> None:
    """A SigMF recording of the genuine passes (``pass_fields``) with the forger's link-frame data
    fields ``forged[(p, i)]`` sent just before frame ``i`` of pass ``p``."""
    uplink = Uplink(profile, modcod_by_name(profile.modcod))

    def fields() -> Iterator[bytes]:
        for p, frames in enumerate(genuine):
            for i, field in enumerate(frames):
                yield from forged.get((p, i), [])
                yield field

    info = RecordingInfo(profile.sample_rate_hz, "cf32_le", None, profile.symbol_rate_hz, profile.name)
    with SigmfWriter(out, info) as writer:
        for chunk in uplink.iq(fields(), pad_s=0.002):
            writer.write(chunk)
