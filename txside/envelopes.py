"""Files and messages for the air: envelopes (``chaincast.fec.wire.envelope``) signed with the
broadcaster's key, as FILE objects any scheduler can put on the air.

The broadcaster's key file holds a secp256k1 secret key as 64 hex digits and a newline (mode 0600);
receivers are configured with its BIP-340 x-only public key (32 bytes, 64 hex digits), which
``chaincast tx keygen`` prints.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import secrets
import time
from pathlib import Path

from embit.base import EmbitError
from embit.ec import PrivateKey
from embit.util import secp256k1

from chaincast.fec.wire.envelope import MAX_PAYLOAD_BYTES, Envelope, EnvelopeBody, EnvelopeKind, sanitise_name
from chaincast.fec.wire.objects import BroadcastObject, ObjectType

MESSAGE_CONTENT_TYPE = "text/plain; charset=utf-8"


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or does not hold a valid secret key (one line for the user)."""


def require_libsecp256k1() -> None:
    """Refuse to touch the broadcaster's secret key unless embit runs on its bundled libsecp256k1:
    when that library does not load, embit falls back, silently, to a pure-Python secp256k1 that is
    slow and not constant-time (its timing can leak the key)."""
    if secp256k1.schnorrsig_sign.__module__ != "embit.util.ctypes_secp256k1":
        raise RuntimeError("embit is not using libsecp256k1 (its pure-Python fallback is not safe for a signing key)")


def new_private_key() -> PrivateKey:
    """A random secret key: 32 bytes from the operating system's CSPRNG, drawn again in the
    ~2^-128 case of a value that is not a valid scalar."""
    require_libsecp256k1()
    while True:
        try:
            return PrivateKey(secrets.token_bytes(32))
        except EmbitError:
            continue


def generate_key_file(path: str | Path) -> str:
    """A new random secret key in a new file at ``path`` (never overwritten; mode 0600).
    Returns the x-only public key as hex, for the receivers' ``--broadcaster-key``."""
    key = new_private_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: exists; not overwriting a key") from None
    with os.fdopen(fd, "w") as out:
        out.write(key.secret.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return public_key_hex(key)


def load_key(path: str | Path) -> PrivateKey:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as bad:
        raise KeyFileError(f"{path}: cannot read the key file ({bad})") from None
    try:
        secret = bytes.fromhex(text)
        if len(secret) != 32:
            raise ValueError
        return PrivateKey(secret)  # refuses zero and values not below the group order
    except (ValueError, EmbitError):
        raise KeyFileError(f"{path}: not a key file (64 hex digits of a secp256k1 secret key)") from None


def public_key_hex(key: PrivateKey) -> str:
    """The BIP-340 x-only public key of ``key``, as 64 hex digits."""
    return key.xonly().hex()


def schnorr_sign(key: PrivateKey, digest: bytes, aux_rand: bytes | None = None) -> bytes:
    """BIP-340 signature (64 bytes) of a 32-byte ``digest``; ``aux_rand``: the 32 bytes of
    auxiliary randomness BIP-340 mixes into the nonce, fresh from the CSPRNG unless given."""
    require_libsecp256k1()
    if len(digest) != 32:
        raise ValueError("a BIP-340 signature here signs a 32-byte digest")
    aux = secrets.token_bytes(32) if aux_rand is None else aux_rand
    if len(aux) != 32:
        raise ValueError("aux_rand must be 32 bytes")
    return secp256k1.schnorrsig_sign(digest, key.secret, None, aux)


def sign(body: EnvelopeBody, key: PrivateKey) -> Envelope:
    """BIP-340 Schnorr signature over the body's tagged digest (fresh auxiliary randomness)."""
    return Envelope(body, schnorr_sign(key, body.signing_digest()))


def file_envelope(path: str | Path, key: PrivateKey, *, name: str | None = None, content_type: str | None = None,
                  timestamp_s: int | None = None) -> Envelope:
    """A file, signed. The name on the air is ``name`` or the file's own, made safe
    (``sanitise_name``); the content type is guessed from the name when not given."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{path}: {size} bytes, above the {MAX_PAYLOAD_BYTES}-byte limit of a file on the air")
    air_name = sanitise_name(name if name is not None else path.name)
    if content_type is None:
        content_type = mimetypes.guess_type(air_name, strict=True)[0] or ""
    body = EnvelopeBody(EnvelopeKind.FILE, air_name, content_type, _now(timestamp_s), path.read_bytes())
    return sign(body, key)


def message_envelope(text: str, key: PrivateKey, *, name: str | None = None, timestamp_s: int | None = None) -> Envelope:
    """A text message, signed; named ``message-YYYYMMDDTHHMMSSZ.txt`` (UTC) unless ``name`` is given."""
    stamp = _now(timestamp_s)
    air_name = sanitise_name(name) if name is not None else time.strftime("message-%Y%m%dT%H%M%SZ.txt", time.gmtime(stamp))
    return sign(EnvelopeBody(EnvelopeKind.MESSAGE, air_name, MESSAGE_CONTENT_TYPE, stamp, text.encode("utf-8")), key)


def envelope_object(envelope: Envelope | bytes) -> BroadcastObject:
    """The object that carries an envelope (signed here, or pre-signed bytes, which must parse).
    Its id is the SHA-256 of the envelope's bytes, so the same envelope sent again is the same
    object to a receiver, and two different envelopes never share an id."""
    packed = envelope.pack() if isinstance(envelope, Envelope) else Envelope.unpack(envelope).pack()
    return BroadcastObject(ObjectType.FILE, hashlib.sha256(packed).digest(), packed)


def file_object(path: str | Path, key: PrivateKey, **options) -> BroadcastObject:
    """(file, key) -> the object to schedule: ``envelope_object(file_envelope(path, key, **options))``."""
    return envelope_object(file_envelope(path, key, **options))


def _now(timestamp_s: int | None) -> int:
    return int(time.time()) if timestamp_s is None else timestamp_s
