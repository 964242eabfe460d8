"""Deterministic wallet keys and signing (libsecp256k1 through coincurve).

* ECDSA: RFC 6979 deterministic nonces, low-S DER (libsecp256k1 always normalises S, which
  BIP 146 / policy requires); the sighash type byte is appended by the caller.
* Taproot key path (BIP 341 / BIP 86): internal key P (x-only, even Y), tweak
  t = hash_TapTweak(P) with no script tree, output key Q = P + t*G. The signing secret is
  (d or n-d so that d*G has even Y) + t.
* Schnorr (BIP 340) signatures use no auxiliary randomness, so chains are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from coincurve import PrivateKey, PublicKeyXOnly

from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.hashes import sha256, tagged_hash
from chaincast.txside.chain.script import p2tr_script, p2wpkh_script

# Order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def taproot_tweak(internal_key: bytes, merkle_root: bytes = b"") -> bytes:
    """BIP 341 tweak t = hash_TapTweak(P || merkle_root); BIP 86 (key path only) has no merkle root."""
    if len(internal_key) != 32:
        raise ChainDataError("taproot internal key must be 32 bytes (x-only)")
    return tagged_hash("TapTweak", internal_key + merkle_root)


def taproot_output_key(internal_key: bytes, merkle_root: bytes = b"") -> bytes:
    """Q = lift_x(P) + t*G as a 32-byte x-only key (computed on public data only)."""
    q = PublicKeyXOnly(internal_key)
    q.tweak_add(taproot_tweak(internal_key, merkle_root))
    return q.format()


@dataclass(frozen=True)
class WalletKey:
    """A private key (32-byte big-endian scalar) with the scripts and signatures we need."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != 32 or not 0 < int.from_bytes(self.secret, "big") < SECP256K1_N:
            raise ChainDataError("secret key must be a 32-byte scalar in 1..n-1")

    @classmethod
    def derive(cls, seed: int, label: str, index: int) -> WalletKey:
        """Deterministic key from (seed, label, index); retried on the ~2^-128 out-of-range case."""
        counter = 0
        while True:
            digest = sha256(f"chaincast regtest key/{seed}/{label}/{index}/{counter}".encode())
            if 0 < int.from_bytes(digest, "big") < SECP256K1_N:
                return cls(digest)
            counter += 1

    @cached_property
    def _private(self) -> PrivateKey:
        return PrivateKey(self.secret)

    @cached_property
    def pubkey(self) -> bytes:
        """33-byte compressed public key (BIP 143 requires compressed keys for P2WPKH)."""
        return self._private.public_key.format(compressed=True)

    @property
    def p2wpkh_script(self) -> bytes:
        return p2wpkh_script(self.pubkey)

    @property
    def internal_key(self) -> bytes:
        """x-only internal key P (BIP 340: the point with even Y is implied)."""
        return self.pubkey[1:]

    @cached_property
    def _taproot_private(self) -> PrivateKey:
        d = int.from_bytes(self.secret, "big")
        if self.pubkey[0] == 0x03:  # odd Y: P is the negation of d*G
            d = SECP256K1_N - d
        t = int.from_bytes(taproot_tweak(self.internal_key), "big")
        if t >= SECP256K1_N:
            raise ChainDataError("taproot tweak out of range")
        tweaked = (d + t) % SECP256K1_N
        if tweaked == 0:
            raise ChainDataError("tweaked taproot key is zero")
        return PrivateKey(tweaked.to_bytes(32, "big"))

    @cached_property
    def output_key(self) -> bytes:
        """x-only taproot output key Q, from the tweaked secret; equals taproot_output_key(P)."""
        return self._taproot_private.public_key.format(compressed=True)[1:]

    @property
    def p2tr_script(self) -> bytes:
        return p2tr_script(self.output_key)

    def sign_ecdsa(self, sighash: bytes) -> bytes:
        """DER ECDSA signature (low S) of a 32-byte digest."""
        if len(sighash) != 32:
            raise ChainDataError("sighash must be 32 bytes")
        return self._private.sign(sighash, hasher=None)

    def sign_taproot(self, sighash: bytes) -> bytes:
        """64-byte BIP 340 signature with the tweaked key (key-path spend, SIGHASH_DEFAULT)."""
        if len(sighash) != 32:
            raise ChainDataError("sighash must be 32 bytes")
        return self._taproot_private.sign_schnorr(sighash, None)
