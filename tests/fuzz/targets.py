"""Fuzz targets: one function per parser of untrusted input, each taking arbitrary bytes.

A target may raise only the exceptions it is registered with (the parser's documented one:
``WireError`` for the wire formats, ``ReceiverError`` for opening a recording). Any other
exception, a hang or an oversized allocation is a crash. So is :class:`Violation`: the parser
accepted the input but what it returned breaks the format's own rules (it does not pack back to
the same bytes, a field is outside its documented range).

Anyone with a transmitter can send frames whose CRCs check, so every target of a checksummed
format also feeds the input with its checksums made valid: the fuzzer then reaches the fields
behind the checksum instead of stopping at it.

The same functions run under atheris (``tests/fuzz/run.py``, ``make fuzz``) and for a bounded
number of hypothesis examples in ``make test`` (``tests/fuzz/test_targets.py``). Adding a target
is one line, here or in a module ``tests/fuzz/<area>_targets.py`` (imported at the end of this one)::

    register("assembler", feed_assembler, seeds=seeds.link_fields)
    register("state-file", load_state_file, expected=(StateError,), seeds=state_file_seeds)

or ``@target("name", seeds=...)`` on the function. ``seeds`` returns real encodings (a list of
bytes) that start the fuzzer's corpus and the hypothesis mutations.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chaincast.fec.crc import crc32c
from chaincast.fec.wire.bitcoin import sha256d
from chaincast.fec.wire.bundle import pack_bundle, unpack_bundle
from chaincast.fec.wire.chainindex import ChainIndex
from chaincast.fec.wire.envelope import Envelope
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.headers import HEADER_BYTES as BLOCK_HEADER_BYTES
from chaincast.fec.wire.headers import FIXED_BYTES as HEADERS_HEAD_BYTES
from chaincast.fec.wire.headers import HeadersRun
from chaincast.fec.wire.linkframe import OVERHEAD_BYTES, LinkFrame
from chaincast.fec.wire.objects import BroadcastObject, ObjectType, object_id_of
from chaincast.fec.wire.packet import HEADER_BYTES, Packet
from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.recording import BYTES_PER_SAMPLE, RecordingInfo, parse_sigmf_meta
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.source import FileSource
from chaincast.sdr.plframe import PLS_SYMBOLS, decode_pls, frame_symbols
from tests.fuzz import seeds


class Violation(Exception):
    """The parser accepted its input but broke a rule of the format (a crash, like any other)."""


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], object]
    expected: tuple[type[BaseException], ...]
    seeds: Callable[[], Sequence[bytes]]
    dictionary: tuple[bytes, ...] = ()  # tokens for libFuzzer's -dict (keywords of a text format)

    def check(self, data: bytes) -> None:
        """Run on ``data``; the expected exceptions are normal results, anything else propagates."""
        try:
            self.run(data)
        except self.expected:
            pass


TARGETS: dict[str, Target] = {}


def register(name: str, run: Callable[[bytes], object], *, expected: tuple[type[BaseException], ...] = (WireError,),
             seeds: Callable[[], Sequence[bytes]] = lambda: [b""], dictionary: Sequence[bytes] = ()) -> Target:
    if name in TARGETS:
        raise ValueError(f"fuzz target {name!r} is registered twice")
    TARGETS[name] = entry = Target(name, run, expected, seeds, tuple(dictionary))
    return entry


def target(name: str, **options) -> Callable[[Callable[[bytes], object]], Callable[[bytes], object]]:
    """Decorator form of :func:`register`."""
    def decorate(run: Callable[[bytes], object]) -> Callable[[bytes], object]:
        register(name, run, **options)
        return run
    return decorate


def _parsed(parse: Callable, *args):
    """``parse(*args)``, or None where it raised WireError (the format's normal rejection)."""
    try:
        return parse(*args)
    except WireError:
        return None


def _same(what: str, got: bytes, want: bytes) -> None:
    if got != want:
        raise Violation(f"{what}: accepted {len(want)} bytes that pack back to {len(got)} other bytes")


# ------------------------------------------------------------------------------- checksum forging

def forge_packet(data: bytes) -> bytes:
    """``data`` with its packet CRC-32C made valid (as far as it is long enough to hold one)."""
    if len(data) < HEADER_BYTES:
        return data
    out = bytearray(data)
    out[44:48] = crc32c(bytes(out[:44]) + bytes(out[HEADER_BYTES:])).to_bytes(4, "big")
    return bytes(out)


def forge_link_frame(data: bytes) -> bytes:
    """``data`` with the CRC of every packet its length field frames, and its own CRC, made valid."""
    if len(data) < OVERHEAD_BYTES:
        return data
    out = bytearray(data)
    end = min(4 + int.from_bytes(out[2:4], "big"), len(out) - 4)
    offset = 4
    while offset + HEADER_BYTES <= end:
        size = HEADER_BYTES + int.from_bytes(out[offset + 38 : offset + 40], "big")
        if offset + size > end:
            break
        out[offset : offset + size] = forge_packet(bytes(out[offset : offset + size]))
        offset += size
    out[-4:] = crc32c(bytes(out[:-4])).to_bytes(4, "big")
    return bytes(out)


def forge_headers_run(data: bytes) -> bytes:
    """``data`` with each header's previous-block hash set to the hash of the header before it."""
    out = bytearray(data)
    for at in range(HEADERS_HEAD_BYTES + BLOCK_HEADER_BYTES, len(out) - BLOCK_HEADER_BYTES + 1, BLOCK_HEADER_BYTES):
        prev = bytes(out[at - BLOCK_HEADER_BYTES : at])
        out[at + 4 : at + 36] = sha256d(prev)
    return bytes(out)


# ------------------------------------------------------------------------------- wire formats

def _check_packet(pkt: Packet, raw: bytes) -> None:
    _same("packet", pkt.pack(), raw)
    if Packet.size_at(raw) != len(raw) or pkt.size != len(raw):
        raise Violation("packet size disagrees with its length")


@target("packet", seeds=seeds.packets)
def packet(data: bytes) -> None:
    for raw in (data, forge_packet(data)):
        pkt = _parsed(Packet.unpack, raw)
        if pkt is not None:
            _check_packet(pkt, raw)


@target("packet-size-at", seeds=seeds.packet_offsets)
def packet_size_at(data: bytes) -> None:
    """Input: a signed 16-bit offset, then the buffer the packet is framed in."""
    offset, buffer = int.from_bytes(data[:2], "big", signed=True), data[2:]
    size = Packet.size_at(buffer, offset)
    if not (0 <= offset and offset + HEADER_BYTES <= len(buffer) and HEADER_BYTES <= size <= HEADER_BYTES + 0xFFFF):
        raise Violation(f"size_at({len(buffer)}-byte buffer, offset {offset}) framed a packet of {size} bytes")


@target("link-frame", seeds=seeds.link_fields)
def link_frame(data: bytes) -> None:
    """What the receiver's link decoder does with a data field: split it, parse every packet."""
    for field in (data, forge_link_frame(data)):
        frame = _parsed(LinkFrame.unpack, field)
        if frame is None:
            continue
        if sum(map(len, frame.packets)) > len(field) - OVERHEAD_BYTES:
            raise Violation("link frame split into more packet bytes than it holds")
        _same("link frame", LinkFrame(frame.packets).pack(len(field)), field)
        for raw in frame.packets:
            pkt = _parsed(Packet.unpack, raw)
            if pkt is not None:
                _check_packet(pkt, raw)


@target("pls", seeds=seeds.pls_inputs)
def pls(data: bytes) -> None:
    """Input: a signed 16-bit PLS value, then up to 128 float32 soft bits of a received PLS field."""
    value = int.from_bytes(data[:2], "big", signed=True)
    soft = np.zeros(PLS_SYMBOLS, np.float32)
    raw = data[2 : 2 + 4 * PLS_SYMBOLS]
    raw = raw[: len(raw) - len(raw) % 4]
    soft[: len(raw) // 4] = np.frombuffer(raw, "<f4")
    # the demodulator hands finite symbols only (FileSource zeroes NaN and inf, clips the rest)
    soft = np.nan_to_num(soft, nan=0.0, posinf=0.0, neginf=0.0)
    decoded, metric = decode_pls(soft)
    if not 0 <= decoded < 256 or not 0.0 <= metric <= 1.0 + 1e-9:
        raise Violation(f"decode_pls gave value {decoded}, metric {metric}")
    for candidate in (decoded, value):
        header = Pls.unpack(candidate)
        if header.pack() != candidate:
            raise Violation(f"PLS {candidate} packs back to {header.pack()}")
        if header.known:
            modcod = header.modcod
            if header.slots != modcod.slots or frame_symbols(header.slots, header.pilots) <= 0:
                raise Violation(f"PLS {candidate}: inconsistent frame length")


@target("bundle", seeds=seeds.bundles)
def bundle(data: bytes) -> None:
    blocks = unpack_bundle(data)
    _same("bundle", pack_bundle(blocks), data)


@target("chain-index", seeds=seeds.chain_indexes)
def chain_index(data: bytes) -> None:
    index = ChainIndex.unpack(data)
    _same("chain index", index.pack(), data)


@target("headers", seeds=seeds.headers_runs)
def headers(data: bytes) -> None:
    for raw in (data, forge_headers_run(data)):
        run = _parsed(HeadersRun.unpack, raw)
        if run is None:
            continue
        _same("headers run", run.pack(), raw)
        if len(run.header(run.first_height)) != BLOCK_HEADER_BYTES or len(run.header(run.last_height)) != BLOCK_HEADER_BYTES:
            raise Violation("headers run: first or last header is not 80 bytes")


@target("envelope", seeds=seeds.envelopes)
def envelope(data: bytes) -> None:
    parsed = Envelope.unpack(data)
    _same("envelope", parsed.pack(), data)
    parsed.body.signing_digest()  # what the receiver verifies the signature against


_PAYLOAD_PARSERS: dict[int, Callable[[bytes], object]] = {
    ObjectType.FILE: Envelope.unpack,
    ObjectType.BLOCK_BUNDLE: unpack_bundle,
    ObjectType.CHAIN_INDEX: ChainIndex.unpack,
    ObjectType.HEADERS: HeadersRun.unpack,
}


@target("object", seeds=seeds.object_inputs)
def broadcast_object(data: bytes) -> None:
    """Input: object type (1 byte), object id (32 bytes), transfer data. A rebuilt object is
    checked against its digest, then its payload goes to its type's parser (as in the receiver)."""
    object_type, object_id, transfer = data[0] if data else 0, data[1:33], data[33:]
    forged_payload = transfer[:-32] if len(transfer) >= 32 else transfer
    forged = (object_type, object_id_of(object_type, forged_payload), forged_payload + hashlib.sha256(forged_payload).digest())
    for otype, oid, raw in ((object_type, object_id, transfer), forged):
        obj = _parsed(BroadcastObject.decode, otype, oid, raw)
        if obj is None:
            continue
        _same("object", obj.encode(), raw)
        parse = _PAYLOAD_PARSERS.get(obj.object_type)
        if parse is not None:
            _parsed(parse, obj.payload)


# ------------------------------------------------------------------------------- recordings

def _check_recording_info(info: RecordingInfo) -> None:
    """What the receiver computes with: a finite positive sample rate, a known datatype, finite
    frequency and symbol rate (positive) when given, a profile name that is a string."""
    ok = (type(info.sample_rate_hz) is float and math.isfinite(info.sample_rate_hz) and info.sample_rate_hz > 0
          and type(info.datatype) is str and info.datatype in BYTES_PER_SAMPLE
          and (info.frequency_hz is None or (type(info.frequency_hz) is float and math.isfinite(info.frequency_hz)))
          and (info.symbol_rate_hz is None or (type(info.symbol_rate_hz) is float
                                               and math.isfinite(info.symbol_rate_hz) and info.symbol_rate_hz > 0))
          and (info.profile is None or type(info.profile) is str))
    if not ok:
        raise Violation(f"metadata accepted with unusable fields: {info!r}")


SIGMF_TOKENS = (
    b'"global"', b'"captures"', b'"annotations"', b'"core:datatype"', b'"core:sample_rate"', b'"core:frequency"',
    b'"core:num_channels"', b'"core:extensions"', b'"chaincast:symbol_rate"', b'"chaincast:profile"', b'"cu8"',
    b'"cf32_le"', b'"default"', b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-0.0", b"true", b"null", b"[]", b"{}",
    b'":', b",", b'"\\ud800"', b'"\\u0000"',
    b"[" * 64, b"9" * 64,  # libFuzzer takes tokens of up to 64 bytes
)


@target("sigmf-meta", seeds=seeds.sigmf_metas, dictionary=SIGMF_TOKENS)
def sigmf_meta(data: bytes) -> None:
    _check_recording_info(parse_sigmf_meta(data.decode("utf-8", errors="replace")))


_scratch: tempfile.TemporaryDirectory | None = None
DATA_FILE_BYTES = 64  # 8 cf32 or 32 cu8 samples


def _recording_base() -> Path:
    global _scratch
    if _scratch is None:
        _scratch = tempfile.TemporaryDirectory(prefix="chaincast-fuzz-")
        Path(_scratch.name, "rec.sigmf-data").write_bytes(bytes(range(DATA_FILE_BYTES)))
    return Path(_scratch.name, "rec")


@target("file-source", expected=(ReceiverError,), seeds=seeds.sigmf_metas, dictionary=SIGMF_TOKENS)
def file_source(data: bytes) -> None:
    """Open a SigMF recording whose metadata file holds ``data``, and read it, as ``chaincast rx`` does."""
    meta = _recording_base().with_suffix(".sigmf-meta")
    meta.write_bytes(data)
    source = FileSource(meta, chunk_samples=16)
    _check_recording_info(source.info)
    samples = sum(len(chunk) for chunk in source.chunks())
    if samples != source.total_samples or not math.isfinite(source.duration_s) or not source.key:
        raise Violation(f"read {samples} of {source.total_samples} samples, duration {source.duration_s}")



# Targets kept in their own module (tests/fuzz/<area>_targets.py, calling ``register``) are
# imported here, so the runner and the hypothesis tests see them without a further change.
for _module in sorted(Path(__file__).parent.glob("*_targets.py")):
    importlib.import_module(f"tests.fuzz.{_module.stem}")
