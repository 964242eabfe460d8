"""Block bundles: layout, strict unpacking, and the uplink's grouping of small blocks."""

import os
import struct

import pytest

from chaincast.fec.wire.bundle import BUNDLE_VERSION, bundle_id, pack_bundle, unpack_bundle
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.objects import ObjectType
from chaincast.txside.packetizer import block_objects


def blocks_of(*sizes: int) -> list[bytes]:
    return [os.urandom(n) for n in sizes]


def test_layout_and_round_trip():
    blocks = blocks_of(80, 215, 1000)
    payload = pack_bundle(blocks)
    assert payload[:3] == struct.pack(">BH", BUNDLE_VERSION, 3)
    assert payload[3:15] == struct.pack(">3I", 80, 215, 1000) and payload[15:] == b"".join(blocks)
    assert unpack_bundle(payload) == blocks


def test_every_truncation_and_trailing_byte_and_bad_field_is_refused():
    payload = pack_bundle(blocks_of(100, 200))
    for cut in range(len(payload)):
        with pytest.raises(WireError):
            unpack_bundle(payload[:cut])
    with pytest.raises(WireError):
        unpack_bundle(payload + b"\x00")
    for bad in (b"\x02" + payload[1:], payload[:1] + b"\x00\x00" + payload[3:],  # version, zero count
                payload[:3] + struct.pack(">I", 79) + payload[7:]):  # a "block" shorter than a header
        with pytest.raises(WireError):
            unpack_bundle(bad)
    with pytest.raises(WireError):
        pack_bundle([])


def test_small_blocks_are_bundled_in_order_and_large_ones_travel_alone():
    blocks = blocks_of(300, 300, 300, 20_000, 300, 500, 400)
    objects = block_objects(blocks, bundle_below=16_000, bundle_bytes=1000)
    kinds = [o.object_type for o in objects]
    assert kinds == [ObjectType.BLOCK_BUNDLE, ObjectType.BLOCK, ObjectType.BLOCK_BUNDLE, ObjectType.BLOCK]
    assert unpack_bundle(objects[0].payload) == blocks[:3] and objects[0].object_id == bundle_id(objects[0].payload)
    assert objects[1].payload == blocks[3]  # large: alone
    assert unpack_bundle(objects[2].payload) == blocks[4:6]  # 300 + 500 + 400 would pass 1000 bytes
    assert objects[3].payload == blocks[6]  # a run of one stays a block
    assert all(len(o.payload) <= 1000 for o in objects if o.object_type == ObjectType.BLOCK_BUNDLE)
    assert [o.object_type for o in block_objects(blocks, bundle_below=0)] == [ObjectType.BLOCK] * 7
