"""Envelope: a file or a text message, signed by the broadcaster (the payload of a FILE object).

Layout (big-endian), the body followed by a 64-byte signature::

    offset     size  field
    0          1     version            (ENVELOPE_VERSION)
    1          1     kind               (EnvelopeKind: 1 file, 2 message)
    2          1     name length N      (1 .. MAX_NAME_BYTES)
    3          1     content-type len C (0 .. MAX_CONTENT_TYPE_BYTES; 0: not stated)
    4          8     timestamp          (Unix time in seconds, when the broadcaster signed it)
    12         4     payload length L   (0 .. MAX_PAYLOAD_BYTES; a message: at most MAX_MESSAGE_BYTES)
    16         N     name               (UTF-8, a plain file name: see ``check_name``)
    16+N       C     content type       (printable ASCII, e.g. "text/plain; charset=utf-8")
    16+N+C     L     payload            (the file's bytes; a message: UTF-8 text)
    16+N+C+L   64    signature          (BIP-340 Schnorr, by the broadcaster's x-only public key,
                                         over ``signing_digest(body)``)

The signed message is the BIP-340 tagged hash (BIP-340, "Specification", ``hash_name(x)``) of the
whole body, bytes 0 .. 16+N+C+L-1, with the tag ``SIGNING_TAG``: a signature made for any other
purpose (a Bitcoin transaction, another protocol's tagged message) can never verify as an envelope.
This module only packs, unpacks and hashes; signing lives in the uplink (chaincast.txside) and
verification in the receiver (chaincast.rxside), which bring the secp256k1 library.
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
from dataclasses import dataclass
from enum import IntEnum

from chaincast.fec.wire.errors import WireError

ENVELOPE_VERSION = 1
SIGNING_TAG = b"chaincast/envelope"
SIGNATURE_BYTES = 64
_HEAD = struct.Struct(">BBBBQI")
HEAD_BYTES = _HEAD.size
assert HEAD_BYTES == 16  # import-time check of the layout above, not of input

MAX_NAME_BYTES = 200  # below the usual 255-byte file-name limit, leaving room for a "-N" suffix
MAX_CONTENT_TYPE_BYTES = 127
MAX_PAYLOAD_BYTES = 1 << 24  # 16 MiB: about two minutes of air time at the default MODCOD
MAX_MESSAGE_BYTES = 1 << 16
MAX_ENVELOPE_BYTES = HEAD_BYTES + MAX_NAME_BYTES + MAX_CONTENT_TYPE_BYTES + MAX_PAYLOAD_BYTES + SIGNATURE_BYTES

# Not allowed anywhere in a name: path separators, and what Windows refuses in file names.
_FORBIDDEN_CHARS = frozenset('/\\:<>"|?*')
# Unicode categories refused in a name: controls, format characters (bidirectional overrides that
# disguise an extension), surrogates, private use, unassigned, line and paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class EnvelopeKind(IntEnum):
    FILE = 1
    MESSAGE = 2


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    """BIP-340's tagged hash: SHA-256(SHA-256(tag) || SHA-256(tag) || data)."""
    tag_hash = hashlib.sha256(tag).digest()
    return hashlib.sha256(tag_hash + tag_hash + data).digest()


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a safe plain file name, or None if it is one. A safe name is 1 to
    ``MAX_NAME_BYTES`` bytes of UTF-8, has no path separator and no character Windows forbids, no
    control, format or unassigned character, does not start with a dot (so it is neither ``.`` nor
    ``..`` nor hidden), holds no ``..``, and neither starts nor ends with white space."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if not 1 <= size <= MAX_NAME_BYTES:
        return f"name of {size} bytes (1 to {MAX_NAME_BYTES} allowed)"
    if name.startswith(".") or ".." in name:
        return "name starts with a dot or holds '..'"
    if name != name.strip():
        return "name starts or ends with white space"
    for char in name:
        if char in _FORBIDDEN_CHARS or unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return f"name holds the character U+{ord(char):04X}"
    return None


def sanitise_name(raw: str, fallback: str = "file") -> str:
    """A safe name (``name_problem`` is None) made from any string, for the sender: forbidden
    characters become ``_``, leading dots and outer white space go, ``..`` becomes ``.``, and a
    name too long is cut (its extension kept when short) at a character boundary."""
    chars = ["_" if c in _FORBIDDEN_CHARS or unicodedata.category(c) in _FORBIDDEN_CATEGORIES else c for c in raw]
    name = "".join(chars)
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip()
    while name.startswith("."):
        name = name[1:].strip()
    if not name:
        name = fallback
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        suffix = dot + ext if stem and len((dot + ext).encode("utf-8")) <= 16 else ""
        stem = name[: len(name) - len(suffix)]
        room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip()
        while stem.endswith("."):
            stem = stem[:-1].rstrip()
        name = (stem or fallback) + suffix
    return name


@dataclass(frozen=True)
class EnvelopeBody:
    """What the broadcaster signs: everything in the envelope but the signature."""

    kind: int
    name: str
    content_type: str
    timestamp_s: int  # Unix time in seconds
    payload: bytes

    def __post_init__(self) -> None:
        if self.kind not in EnvelopeKind._value2member_map_:
            raise WireError(f"unknown envelope kind {self.kind}")
        problem = name_problem(self.name)
        if problem is not None:
            raise WireError(problem)
        if len(self.content_type) > MAX_CONTENT_TYPE_BYTES or not all(" " <= c <= "~" for c in self.content_type):
            raise WireError(f"content type must be at most {MAX_CONTENT_TYPE_BYTES} printable ASCII characters")
        if not 0 <= self.timestamp_s < 1 << 64:
            raise WireError(f"timestamp {self.timestamp_s} out of range")
        limit = MAX_MESSAGE_BYTES if self.kind == EnvelopeKind.MESSAGE else MAX_PAYLOAD_BYTES
        if len(self.payload) > limit:
            raise WireError(f"payload of {len(self.payload)} bytes exceeds {limit}")
        if self.kind == EnvelopeKind.MESSAGE:
            try:
                bytes(self.payload).decode("utf-8")
            except UnicodeDecodeError:
                raise WireError("message text is not valid UTF-8") from None

    def pack(self) -> bytes:
        name = self.name.encode("utf-8")
        content_type = self.content_type.encode("ascii")
        head = _HEAD.pack(ENVELOPE_VERSION, self.kind, len(name), len(content_type), self.timestamp_s, len(self.payload))
        return head + name + content_type + bytes(self.payload)

    def signing_digest(self) -> bytes:
        """The 32-byte message the broadcaster signs (BIP-340 Schnorr)."""
        return tagged_hash(SIGNING_TAG, self.pack())


@dataclass(frozen=True)
class Envelope:
    body: EnvelopeBody
    signature: bytes  # 64 bytes, BIP-340 Schnorr; checked by the receiver, not here

    def __post_init__(self) -> None:
        if len(self.signature) != SIGNATURE_BYTES:
            raise WireError(f"signature must be {SIGNATURE_BYTES} bytes, got {len(self.signature)}")

    def pack(self) -> bytes:
        return self.body.pack() + bytes(self.signature)

    @classmethod
    def unpack(cls, data: bytes) -> "Envelope":
        """Strict: any short, long, oversized or inconsistent input raises ``WireError``."""
        data = bytes(data)
        if len(data) > MAX_ENVELOPE_BYTES:
            raise WireError(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}")
        if len(data) < HEAD_BYTES + SIGNATURE_BYTES:
            raise WireError(f"envelope of {len(data)} bytes is shorter than its fixed fields")
        version, kind, name_len, type_len, timestamp_s, payload_len = _HEAD.unpack_from(data)
        if version != ENVELOPE_VERSION:
            raise WireError(f"unknown envelope version {version}")
        if name_len > MAX_NAME_BYTES or type_len > MAX_CONTENT_TYPE_BYTES or payload_len > MAX_PAYLOAD_BYTES:
            raise WireError("envelope field length out of range")
        body_end = HEAD_BYTES + name_len + type_len + payload_len
        if len(data) != body_end + SIGNATURE_BYTES:
            raise WireError(f"envelope is {len(data)} bytes, its header says {body_end + SIGNATURE_BYTES}")
        name_end, type_end = HEAD_BYTES + name_len, HEAD_BYTES + name_len + type_len
        try:
            name = data[HEAD_BYTES:name_end].decode("utf-8")
            content_type = data[name_end:type_end].decode("ascii")
        except UnicodeDecodeError:
            raise WireError("envelope name or content type is not valid text") from None
        body = EnvelopeBody(kind, name, content_type, timestamp_s, data[type_end:body_end])
        return cls(body, data[body_end:])
