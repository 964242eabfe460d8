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
import time
from pathlib import Path

from coincurve import PrivateKey

from chaincast.fec.wire.envelope import MAX_PAYLOAD_BYTES, Envelope, EnvelopeBody, EnvelopeKind, sanitise_name
from chaincast.fec.wire.objects import BroadcastObject, ObjectType

MESSAGE_CONTENT_TYPE = "text/plain; charset=utf-8"


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or does not hold a valid secret key (one line for the user)."""


def generate_key_file(path: str | Path) -> str:
    """A new random secret key in a new file at ``path`` (never overwritten; mode 0600).
    Returns the x-only public key as hex, for the receivers' ``--broadcaster-key``."""
    key = PrivateKey()  # 32 bytes from the operating system's CSPRNG (os.urandom)
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
    except ValueError:
        raise KeyFileError(f"{path}: not a key file (64 hex digits of a secp256k1 secret key)") from None


def public_key_hex(key: PrivateKey) -> str:
    """The BIP-340 x-only public key of ``key``, as 64 hex digits."""
    return key.public_key_xonly.format().hex()


def sign(body: EnvelopeBody, key: PrivateKey) -> Envelope:
    """BIP-340 Schnorr signature over the body's tagged digest (fresh auxiliary randomness)."""
    return Envelope(body, key.sign_schnorr(body.signing_digest()))


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
