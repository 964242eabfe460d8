"""The uplink service's chain objects: the chain index and headers runs round-trip through their
strict unpackers, which reject every malformed input with WireError."""

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincast.fec.wire import WireError
from chaincast.fec.wire.bitcoin import sha256d
from chaincast.fec.wire.chainindex import BlockEntry, ChainIndex, ObjectEntry, OnAir
from chaincast.fec.wire.headers import HeadersRun

hashes = st.binary(min_size=32, max_size=32)
u32 = st.integers(0, 2**32 - 1)
statuses = st.sampled_from(list(OnAir))
indexes = st.builds(
    ChainIndex,
    sequence=u32,
    time_ms=st.integers(0, 2**64 - 1),
    genesis_hash=hashes,
    tip_height=u32,
    tip_hash=hashes,
    headers_first=u32,
    headers_last=u32,
    backfill_first=u32,
    backfill_last=u32,
    blocks=st.lists(st.builds(BlockEntry, u32, hashes, statuses), max_size=20).map(tuple),
    objects=st.lists(st.builds(ObjectEntry, st.integers(0, 255), hashes, u32, statuses), max_size=5).map(tuple),
)


@given(indexes)
def test_chain_index_round_trip(index):
    raw = index.pack()
    assert ChainIndex.unpack(raw) == index
    assert len(raw) == 102 + 37 * len(index.blocks) + 38 * len(index.objects)


@given(indexes, st.data())
def test_chain_index_rejects_truncation_and_trailing_bytes(index, data):
    raw = index.pack()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(WireError):
        ChainIndex.unpack(raw[:cut])
    with pytest.raises(WireError):
        ChainIndex.unpack(raw + data.draw(st.binary(min_size=1, max_size=40)))


def test_chain_index_rejects_unknown_version_flags_and_status():
    index = ChainIndex(1, 2, bytes(32), 5, b"\x01" * 32, blocks=(BlockEntry(5, b"\x01" * 32, OnAir.NEW),))
    raw = bytearray(index.pack())
    for position, value in ((0, 2), (1, 1), (102 + 36, 9)):  # version, flags, the block entry's status
        bad = bytearray(raw)
        bad[position] = value
        with pytest.raises(WireError):
            ChainIndex.unpack(bytes(bad))
    with pytest.raises(WireError):  # a count that promises more entries than there are
        ChainIndex.unpack(bytes(raw[:98]) + struct.pack(">HH", 2, 0) + bytes(raw[102:]))


def test_chain_index_out_of_range_fields_are_wire_errors():
    with pytest.raises(WireError):
        ChainIndex(2**32, 0, bytes(32), 0, bytes(32)).pack()
    with pytest.raises(WireError):
        ChainIndex(0, 0, bytes(31), 0, bytes(32))


def linked_headers(count: int, seed: int = 0) -> bytes:
    out, prev = [], bytes(32)
    for i in range(count):
        header = struct.pack("<i32s32sIII", 4, prev, hashlib.sha256(bytes([seed, i % 256])).digest(), 1_600_000_000 + i, 0x207FFFFF, i)
        prev = sha256d(header)
        out.append(header)
    return b"".join(out)


@given(st.integers(1, 40), u32)
def test_headers_run_round_trip(count, first):
    first = min(first, 2**32 - count)
    run = HeadersRun(first, linked_headers(count))
    assert HeadersRun.unpack(run.pack()) == run
    assert run.last_height == first + count - 1
    assert run.header(run.last_height) == run.headers[-80:]
    assert run.object_id() == hashlib.sha256(run.pack()).digest()


def test_headers_run_from_the_real_regtest_chain(regtest_blocks):
    run = HeadersRun(0, b"".join(raw[:80] for raw in regtest_blocks))
    assert HeadersRun.unpack(run.pack()).count == len(regtest_blocks)


def test_headers_run_rejects_malformed_input():
    raw = HeadersRun(7, linked_headers(3)).pack()
    for bad in (raw[:9], raw[:-1], raw + b"\0", b"\x02" + raw[1:], raw[:1] + b"\x01" + raw[2:],
                raw[:6] + struct.pack(">I", 4) + raw[10:], raw[:6] + struct.pack(">I", 0) + raw[10:]):
        with pytest.raises(WireError):
            HeadersRun.unpack(bad)
    broken = bytearray(raw)
    broken[10 + 80 + 4] ^= 1  # the second header's previous-block hash
    with pytest.raises(WireError, match="does not follow"):
        HeadersRun.unpack(bytes(broken))
    with pytest.raises(WireError):
        HeadersRun(0, bytes(79))
