"""The envelope wire format (fec.wire.envelope): layout, round trip, strict unpacking, safe names.
Signatures are the two sides' business (tests/txside/test_envelopes.py, tests/rxside/test_inbox.py);
here the signature is any 64 bytes."""

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincast.fec.wire import WireError
from chaincast.fec.wire.envelope import (
    HEAD_BYTES, MAX_CONTENT_TYPE_BYTES, MAX_ENVELOPE_BYTES, MAX_MESSAGE_BYTES, MAX_NAME_BYTES, MAX_PAYLOAD_BYTES,
    SIGNATURE_BYTES, Envelope, EnvelopeBody, EnvelopeKind, name_problem, sanitise_name, tagged_hash,
)

SIG = bytes(range(64))


def sample(kind=EnvelopeKind.FILE, name="report.pdf", content_type="application/pdf", timestamp_s=1_700_000_000,
           payload=b"%PDF-1.4 hello") -> Envelope:
    return Envelope(EnvelopeBody(kind, name, content_type, timestamp_s, payload), SIG)


def test_layout_is_the_documented_one():
    raw = sample().pack()
    expected = (bytes([1, 1, 10, 15]) + struct.pack(">Q", 1_700_000_000) + struct.pack(">I", 14)
                + b"report.pdf" + b"application/pdf" + b"%PDF-1.4 hello" + SIG)
    assert raw == expected
    assert HEAD_BYTES == 16


def test_signing_digest_is_the_bip340_tagged_hash_of_the_body():
    body = sample().body
    tag = hashlib.sha256(b"chaincast/envelope").digest()
    assert body.signing_digest() == hashlib.sha256(tag + tag + body.pack()).digest()
    # BIP-340's own tag, as a check of tagged_hash itself: SHA256("BIP0340/challenge") twice, then data
    challenge = hashlib.sha256(b"BIP0340/challenge").digest()
    assert tagged_hash(b"BIP0340/challenge", b"x") == hashlib.sha256(challenge + challenge + b"x").digest()
    # every field is covered: changing any one changes the digest
    for changed in (sample(name="report2.pdf"), sample(content_type=""), sample(timestamp_s=1),
                    sample(payload=b"%PDF-1.4 hellO"), sample(kind=EnvelopeKind.MESSAGE)):
        assert changed.body.signing_digest() != body.signing_digest()


safe_names = st.text(min_size=0, max_size=300).map(sanitise_name)
bodies = st.one_of(
    st.builds(EnvelopeBody, st.just(EnvelopeKind.FILE), safe_names,
              st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=MAX_CONTENT_TYPE_BYTES),
              st.integers(0, 2**64 - 1), st.binary(max_size=3000)),
    st.builds(EnvelopeBody, st.just(EnvelopeKind.MESSAGE), safe_names, st.just("text/plain; charset=utf-8"),
              st.integers(0, 2**64 - 1), st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass"))
              .filter(lambda b: _utf8(b))),
)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@given(bodies, st.binary(min_size=64, max_size=64))
def test_round_trip(body, signature):
    envelope = Envelope(body, signature)
    raw = envelope.pack()
    assert len(raw) == HEAD_BYTES + len(body.name.encode()) + len(body.content_type) + len(body.payload) + SIGNATURE_BYTES
    assert Envelope.unpack(raw) == envelope


def test_every_truncation_and_any_trailing_byte_is_refused():
    raw = sample().pack()
    for cut in range(len(raw)):
        with pytest.raises(WireError):
            Envelope.unpack(raw[:cut])
    for extra in (b"\0", b"x" * 64):
        with pytest.raises(WireError):
            Envelope.unpack(raw + extra)


def test_every_single_bit_flip_is_refused_or_gives_another_envelope():
    """A flipped bit either breaks the format (WireError) or yields an envelope that differs from
    the original (so its signature, checked by the receiver, no longer matches); nothing else."""
    original = sample()
    raw = original.pack()
    refused = set()
    for position in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[position] ^= 1 << bit
            try:
                parsed = Envelope.unpack(bytes(flipped))
            except WireError:
                refused.add((position, bit))
                continue
            assert parsed != original
            assert parsed.pack() == bytes(flipped)
    # version, kind and the three lengths: any flip breaks the format (only the timestamp may take any value)
    assert {(p, b) for p in (0, 1, 2, 3, 12, 13, 14, 15) for b in range(8)} <= refused


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_wire_error(data):
    for candidate in (data, bytes([1, 1]) + data, bytes([1, 2]) + data):
        try:
            Envelope.unpack(candidate)
        except WireError:
            pass


@settings(max_examples=200)
@given(st.integers(0, 200), st.binary(min_size=1, max_size=8))
def test_corrupted_length_fields_only_ever_raise_wire_error_or_parse(offset, junk):
    raw = bytearray(sample().pack())
    raw[2 + offset % 14: 2 + offset % 14 + len(junk)] = junk  # overwrite lengths / timestamp
    try:
        Envelope.unpack(bytes(raw))
    except WireError:
        pass


def test_unknown_version_and_kind_are_refused():
    raw = sample().pack()
    with pytest.raises(WireError):
        Envelope.unpack(bytes([2]) + raw[1:])
    for kind in (0, 3, 255):
        with pytest.raises(WireError):
            Envelope.unpack(raw[:1] + bytes([kind]) + raw[2:])


def test_oversized_input_and_length_fields_are_refused():
    with pytest.raises(WireError):
        Envelope.unpack(bytes(MAX_ENVELOPE_BYTES + 1))
    raw = sample().pack()
    too_long_name = raw[:2] + bytes([MAX_NAME_BYTES + 1]) + raw[3:]
    too_long_type = raw[:3] + bytes([MAX_CONTENT_TYPE_BYTES + 1]) + raw[4:]
    too_long_payload = raw[:12] + struct.pack(">I", MAX_PAYLOAD_BYTES + 1) + raw[16:]
    for bad in (too_long_name, too_long_type, too_long_payload):
        with pytest.raises(WireError):
            Envelope.unpack(bad)
    with pytest.raises(WireError):
        EnvelopeBody(EnvelopeKind.FILE, "big.bin", "", 0, bytes(MAX_PAYLOAD_BYTES + 1))
    EnvelopeBody(EnvelopeKind.FILE, "big.bin", "", 0, bytes(MAX_MESSAGE_BYTES + 1))  # a file may be larger than a message
    with pytest.raises(WireError):
        EnvelopeBody(EnvelopeKind.MESSAGE, "m.txt", "", 0, bytes(MAX_MESSAGE_BYTES + 1))


def test_a_message_must_be_utf8_text():
    with pytest.raises(WireError):
        EnvelopeBody(EnvelopeKind.MESSAGE, "m.txt", "text/plain", 0, b"\xff\xfe")
    EnvelopeBody(EnvelopeKind.FILE, "m.bin", "", 0, b"\xff\xfe")  # a file may hold any bytes


def test_signature_must_be_64_bytes():
    body = sample().body
    for size in (0, 63, 65):
        with pytest.raises(WireError):
            Envelope(body, bytes(size))


UNSAFE_NAMES = [
    "", ".", "..", "../etc/passwd", "a/../../b", "/etc/passwd", "dir/file", "a\\b", "..\\..\\x", "C:x", "a:b",
    ".bashrc", "a..b", "nul\x00byte", "line\nbreak", "tab\there", "\x7fdel", "rtl\u202etxt.exe", "zero\u200bwidth",
    " leading", "trailing ", "trailing\u00a0", "x" * (MAX_NAME_BYTES + 1), "\u00e9" * (MAX_NAME_BYTES // 2 + 1),
    "lone\ud800surrogate", "private\ue000use", 'quote"', "star*", "what?", "pipe|", "<angle>",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_names_are_refused_when_built_and_when_unpacked(name):
    assert name_problem(name) is not None
    with pytest.raises(WireError):
        EnvelopeBody(EnvelopeKind.FILE, name, "", 0, b"data")
    # the same name in otherwise well-formed bytes (as a hostile sender would put it on the air)
    encoded = name.encode("utf-8", "surrogatepass")[:255]
    raw = (bytes([1, 1, len(encoded), 0]) + struct.pack(">QI", 0, 4) + encoded + b"data" + SIG)
    with pytest.raises(WireError):
        Envelope.unpack(raw)


@pytest.mark.parametrize("name", ["report.pdf", "a b.txt", "Bitcoin \u2013 a peer-to-peer electronic cash system.pdf",
                                  "\u65e5\u672c\u8a9e.txt", "x" * MAX_NAME_BYTES, "no-extension", "v1.2.3.tar.gz"])
def test_ordinary_names_are_accepted_and_kept_by_sanitise(name):
    assert name_problem(name) is None
    assert sanitise_name(name) == name


@given(st.text(max_size=400))
def test_sanitise_always_gives_a_safe_name(raw):
    assert name_problem(sanitise_name(raw)) is None


def test_sanitise_examples():
    assert sanitise_name("../../etc/passwd") == "_._etc_passwd"
    assert sanitise_name(".hidden") == "hidden"
    assert sanitise_name("") == "file"
    assert sanitise_name("a\u202eb.txt") == "a_b.txt"
    long = sanitise_name("y" * 500 + ".tar.gz")
    assert long.endswith(".gz") and len(long.encode()) <= MAX_NAME_BYTES


@pytest.mark.parametrize("content_type", ["text/plain\r\nX-Injected: 1", "caf\u00e9/latte", "a\x00b", "t" * (MAX_CONTENT_TYPE_BYTES + 1)])
def test_content_type_must_be_short_printable_ascii(content_type):
    with pytest.raises(WireError):
        EnvelopeBody(EnvelopeKind.FILE, "a.bin", content_type, 0, b"")
    encoded = content_type.encode("utf-8")[:255]
    raw = bytes([1, 1, 5, len(encoded)]) + struct.pack(">QI", 0, 0) + b"a.bin" + encoded + SIG
    with pytest.raises(WireError):
        Envelope.unpack(raw)
