import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincast.fec.wire import WireError
from chaincast.fec.wire.linkframe import LinkFrame, capacity
from chaincast.fec.wire.objects import BroadcastObject, ObjectType, object_id_of
from chaincast.fec.wire.packet import HEADER_BYTES, Packet
from chaincast.fec.wire.plheader import Pls

packets = st.builds(
    Packet,
    object_type=st.integers(0, 255),
    object_id=st.binary(min_size=32, max_size=32),
    transfer_length=st.integers(1, 1 << 30),
    symbol_size=st.just(16),
    symbol_id=st.integers(0, 2**32 - 1),
    symbol=st.binary(min_size=16, max_size=16),
)


@given(packets)
def test_packet_round_trip(pkt):
    raw = pkt.pack()
    assert len(raw) == HEADER_BYTES + 16
    assert Packet.unpack(raw) == pkt


@given(packets, st.integers(0, HEADER_BYTES + 15), st.integers(1, 255))
def test_any_corrupted_byte_is_caught(pkt, position, flip):
    raw = bytearray(pkt.pack())
    raw[position] ^= flip
    with pytest.raises(WireError):
        Packet.unpack(bytes(raw))


def sample_packet(size=16) -> Packet:
    return Packet(ObjectType.BLOCK, os.urandom(32), 1000, size, 7, os.urandom(size))


def test_packet_rejects_truncation_trailing_bytes_and_unknown_version():
    raw = sample_packet().pack()
    with pytest.raises(WireError):
        Packet.unpack(raw[:-1])
    with pytest.raises(WireError):
        Packet.unpack(raw + b"\0")
    with pytest.raises(WireError):
        Packet.unpack(bytes([2]) + raw[1:])
    with pytest.raises(WireError):
        Packet.unpack(raw[:10])


def test_packet_symbol_size_must_be_aligned():
    with pytest.raises(WireError):
        Packet(ObjectType.BLOCK, bytes(32), 100, 12, 0, bytes(12))


def test_link_frame_round_trip_and_filler():
    pkts = tuple(sample_packet(size).pack() for size in (16, 64, 8))
    field = LinkFrame(pkts).pack(880)
    assert len(field) == 880
    assert LinkFrame.unpack(field).packets == pkts
    assert LinkFrame.unpack(LinkFrame(()).pack(880)).packets == ()


def test_link_frame_rejects_bad_crc_overflow_and_nonzero_padding():
    field = bytearray(LinkFrame((sample_packet().pack(),)).pack(880))
    bad = bytearray(field)
    bad[500] ^= 1
    with pytest.raises(WireError):
        LinkFrame.unpack(bytes(bad))
    with pytest.raises(WireError):
        LinkFrame((os.urandom(capacity(880) + 1),)).pack(880)
    # a length field that points past the end, with a CRC recomputed to match
    from chaincast.fec.crc import crc32c

    forged = bytearray(field)
    forged[2:4] = struct.pack(">H", 900)
    forged[-4:] = struct.pack(">I", crc32c(bytes(forged[:-4])))
    with pytest.raises(WireError):
        LinkFrame.unpack(bytes(forged))


def test_object_digest_detects_tampering():
    payload = bytes(range(80)) + b"block bytes"
    obj = BroadcastObject(ObjectType.BLOCK, object_id_of(ObjectType.BLOCK, payload), payload)
    transfer = bytearray(obj.encode())
    assert BroadcastObject.decode(obj.object_type, obj.object_id, bytes(transfer)) == obj
    transfer[0] ^= 1
    with pytest.raises(WireError):
        BroadcastObject.decode(obj.object_type, obj.object_id, bytes(transfer))


@given(st.integers(0, 63), st.booleans(), st.booleans())
def test_pls_round_trip(modcod_id, short, pilots):
    pls = Pls(modcod_id, short, pilots)
    assert 0 <= pls.pack() < 256 and Pls.unpack(pls.pack()) == pls


def test_pls_knows_the_frame_length_of_each_modulation_and_refuses_unknown_modcods():
    from chaincast.fec.wire.plheader import PlsError
    from chaincast.fec.wire.profile import MODCODS

    qpsk, psk8 = MODCODS["qpsk-3/5"], MODCODS["8psk-3/5"]
    assert Pls(qpsk.pls_id, False, True).slots == 360 and Pls(qpsk.pls_id, True, True).slots == 90
    assert Pls(psk8.pls_id, False, True).slots == 240 and Pls(psk8.pls_id, True, False).slots == 60
    assert Pls(psk8.pls_id, False, True).bits_per_symbol == 3
    unknown = Pls(63, False, True)
    assert not unknown.known
    with pytest.raises(PlsError):
        unknown.slots
    # the placeholder code exists only as a short frame
    assert Pls(MODCODS["qpsk-cc1/2"].pls_id, True, True).known and not Pls(MODCODS["qpsk-cc1/2"].pls_id, False, True).known


def test_an_object_whose_id_is_not_its_payloads_is_refused_even_with_a_valid_digest():
    payload = bytes(range(80)) + b"block bytes"
    for object_type, wrong_id in ((ObjectType.BLOCK, bytes(32)), (ObjectType.FILE, object_id_of(ObjectType.BLOCK, payload))):
        forged = BroadcastObject(object_type, wrong_id, payload)
        with pytest.raises(WireError, match="id does not match"):
            BroadcastObject.decode(object_type, wrong_id, forged.encode())
    with pytest.raises(WireError, match="shorter than a block header"):
        BroadcastObject.decode(ObjectType.BLOCK, bytes(32), BroadcastObject(ObjectType.BLOCK, bytes(32), b"short").encode())
