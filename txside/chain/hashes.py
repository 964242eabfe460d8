"""Hash functions used by Bitcoin consensus."""

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256d(data: bytes) -> bytes:
    """Double SHA-256: block hashes, txids, merkle nodes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


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
