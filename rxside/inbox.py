"""Signed files and messages -> the inbox folder.

A FILE object is saved only when its id is the SHA-256 of its bytes, it parses as an envelope
(``chaincast.fec.wire.envelope``, strict: the name is a plain, safe file name), and its BIP-340
signature verifies against the broadcaster's x-only public key the receiver was configured with.
Everything else is dropped and counted: malformed, unsigned or badly signed, signed by another key,
or any envelope at all when no key is configured (nothing tells the receiver whom to trust).

Saving is atomic and never overwrites: the bytes go to a hidden temporary file in the inbox, are
flushed to disk, then hard-linked under the envelope's name (``link`` fails rather than replace an
existing file), or under ``stem-1.ext``, ``stem-2.ext``, ... when that name is taken by other bytes.
An envelope whose bytes are already in the inbox under its name or one of those (handed over again
after a restart, or sent again by the broadcaster) is not saved twice.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from embit.base import EmbitError
from embit.ec import PublicKey, SchnorrSig

from chaincast.fec.wire.envelope import SIGNATURE_BYTES, Envelope
from chaincast.fec.wire.errors import WireError

TEMP_PREFIX = ".chaincast-incoming-"
MAX_SUFFIX = 9999  # names tried: NAME, then stem-1.ext .. stem-9999.ext


def _x_only_key(key: bytes) -> PublicKey:
    """The point of a 32-byte BIP-340 x-only key (its even-Y lift); ValueError if there is none."""
    if len(key) != 32:
        raise ValueError(f"broadcaster key must be 32 bytes (64 hex digits), got {len(key)}")
    try:
        return PublicKey.from_xonly(key)
    except EmbitError:
        raise ValueError(f"{key.hex()} is not the x coordinate of a point on secp256k1") from None


def parse_broadcaster_key(text: str) -> bytes:
    """A BIP-340 x-only public key given as 64 hex digits -> its 32 bytes (ValueError if it is
    not one: wrong length, not hex, or not the x coordinate of a point on secp256k1)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"broadcaster key {text!r} is not hex") from None
    _x_only_key(key)
    return key


def schnorr_verify(key: PublicKey, digest: bytes, signature: bytes) -> bool:
    """BIP-340 verification (libsecp256k1 through embit) of a 64-byte signature of a 32-byte digest.
    The lengths are checked here: embit only ``assert``s them."""
    if len(digest) != 32 or len(signature) != SIGNATURE_BYTES:
        return False
    return key.schnorr_verify(SchnorrSig(bytes(signature)), digest)


@dataclass
class InboxStats:
    files_saved: int = 0
    files_rejected: int = 0  # dropped: the sum of ``rejected_why``
    files_known: int = 0  # verified, and its bytes were already in the inbox
    files_unsaved: int = 0  # verified, but writing failed (disk full, permissions): a later pass may bring it again
    rejected_why: Counter = field(default_factory=Counter)  # "malformed", "bad_id", "signature", "no_key"


class Inbox:
    """``Inbox(directory, broadcaster_key)``: ``broadcaster_key`` is the 32-byte x-only public key
    (``parse_broadcaster_key``), or None to count and drop every envelope."""

    def __init__(self, directory: str | Path, broadcaster_key: bytes | None):
        self.directory = Path(directory)
        self._key = _x_only_key(broadcaster_key) if broadcaster_key is not None else None
        self.stats = InboxStats()
        self.saved: list[Path] = []
        if self._key is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            for stale in self.directory.glob(TEMP_PREFIX + "*"):  # left by a receiver killed while saving
                stale.unlink(missing_ok=True)

    def accept(self, object_id: bytes, payload: bytes) -> bool:
        """Verify and save one rebuilt FILE object. Returns True when the receiver is done with it
        (saved, already there, or rejected for good), False when it should be rebuilt again from
        later passes (its id did not match its bytes, so a genuine object may share that id; or it
        could not be written)."""
        if sha256(payload).digest() != object_id:
            return self._reject("bad_id", final=False)
        try:
            envelope = Envelope.unpack(payload)
        except WireError:
            return self._reject("malformed")
        if self._key is None:
            return self._reject("no_key")
        if not schnorr_verify(self._key, envelope.body.signing_digest(), envelope.signature):
            return self._reject("signature")
        try:
            path = self._save(envelope.body.name, envelope.body.payload)
        except OSError:
            self.stats.files_unsaved += 1
            return False
        if path is None:
            self.stats.files_known += 1
        else:
            self.stats.files_saved += 1
            self.saved.append(path)
        return True

    def _reject(self, why: str, final: bool = True) -> bool:
        self.stats.files_rejected += 1
        self.stats.rejected_why[why] += 1
        return final

    def _candidates(self, name: str):
        yield self.directory / name
        stem, dot, ext = name.rpartition(".")
        stem, ext = (stem, dot + ext) if stem else (name, "")
        for n in range(1, MAX_SUFFIX + 1):
            yield self.directory / f"{stem}-{n}{ext}"

    def _save(self, name: str, data: bytes) -> Path | None:
        """Write ``data`` under the first free name; None if an identical file is already there."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the user's umask applies
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            for path in self._candidates(name):
                if _same_bytes(path, data):
                    return None
                if os.path.lexists(path):
                    continue
                try:
                    _link_no_replace(temp, path)
                except FileExistsError:  # taken meanwhile: look at it again on the next round
                    if _same_bytes(path, data):
                        return None
                    continue
                _fsync_dir(self.directory)
                return path
            raise OSError(errno.EEXIST, f"{MAX_SUFFIX + 1} names taken", name)
        finally:
            temp.unlink(missing_ok=True)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _link_no_replace(source: Path, target: Path) -> None:
    """Give ``source``'s inode the name ``target`` atomically, failing if ``target`` exists. Where
    the file system has no hard links, reserve the name exclusively and rename over the reservation."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError as bad:
        if bad.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.replace(source, target)


def _fsync_dir(directory: Path) -> None:
    """Make the new name durable (best effort: some file systems refuse fsync on a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
