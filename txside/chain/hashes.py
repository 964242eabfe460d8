"""Hash functions of Bitcoin consensus for the uplink's chain code. ``sha256d`` is the shared one
(``chaincast.fec.wire.bitcoin``, with the rest of the consensus primitives both sides use)."""

import hashlib

from chaincast.fec.wire.bitcoin import sha256d

__all__ = ["hash160", "sha256", "sha256d", "tagged_hash"]


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160(SHA-256(data)): P2WPKH witness programs (BIP 141)."""
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


_TAG_CACHE: dict[str, bytes] = {}


def tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP 340 tagged hash: SHA256(SHA256(tag) || SHA256(tag) || data)."""
    prefix = _TAG_CACHE.get(tag)
    if prefix is None:
        tag_hash = hashlib.sha256(tag.encode()).digest()
        prefix = _TAG_CACHE[tag] = tag_hash + tag_hash
    return hashlib.sha256(prefix + data).digest()
