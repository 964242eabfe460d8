"""Deterministic wallet keys, their scripts and signatures, through embit (libsecp256k1).

* ECDSA: RFC 6979 deterministic nonces, low-S DER (libsecp256k1 always normalises S, which
  BIP 146 / policy requires); the sighash type byte is appended by the caller. No low-R grinding,
  so a signature is libsecp256k1's first RFC 6979 one.
* Taproot key path (BIP 341 / BIP 86): internal key P (x-only, even Y), tweak
  t = hash_TapTweak(P) with no script tree, output key Q = P + t*G; embit's ``taproot_tweak``
  gives both the tweaked secret and Q.
* Schnorr (BIP 340) signatures use 32 zero bytes as auxiliary randomness, so chains are
  reproducible. The zeros are passed explicitly: the libsecp256k1 embit 0.8.0 bundles derives
  another nonce when given none (``PrivateKey.schnorr_sign``), valid but not BIP 340's zero-aux one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from embit import ec
from embit import script as embit_script
from embit.base import EmbitError
from embit.util import secp256k1

from chaincast.txside.chain.errors import ChainDataError

# Order of the secp256k1 group.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ZERO_AUX = bytes(32)  # BIP 340 aux_rand for deterministic signatures


def taproot_output_key(internal_key: bytes) -> bytes:
    """BIP 86 output key Q = lift_x(P) + hash_TapTweak(P)*G, x-only (from public data only)."""
    if len(internal_key) != 32:
        raise ChainDataError("taproot internal key must be 32 bytes (x-only)")
    try:
        return ec.PublicKey.from_xonly(internal_key).taproot_tweak().xonly()
    except EmbitError as bad:
        raise ChainDataError(f"not a taproot internal key: {bad}") from None


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
            digest = hashlib.sha256(f"chaincast regtest key/{seed}/{label}/{index}/{counter}".encode()).digest()
            if 0 < int.from_bytes(digest, "big") < SECP256K1_N:
                return cls(digest)
            counter += 1

    @cached_property
    def _private(self) -> ec.PrivateKey:
        return ec.PrivateKey(self.secret)

    @cached_property
    def public_key(self) -> ec.PublicKey:
        return self._private.get_public_key()

    @cached_property
    def pubkey(self) -> bytes:
        """33-byte compressed public key (BIP 143 requires compressed keys for P2WPKH)."""
        return self.public_key.sec()

    @property
    def internal_key(self) -> bytes:
        """x-only internal key P (BIP 340: the point with even Y is implied)."""
        return self.public_key.xonly()

    @cached_property
    def p2wpkh_script(self) -> bytes:
        """BIP 141 v0 key hash program: OP_0 <20-byte HASH160(compressed pubkey)>."""
        return embit_script.p2wpkh(self.public_key).data

    @cached_property
    def _taproot_private(self) -> ec.PrivateKey:
        return self._private.taproot_tweak()  # (d or n - d, whichever has even Y) + t, even Y again

    @cached_property
    def output_key(self) -> bytes:
        """x-only taproot output key Q, from the tweaked secret; equals taproot_output_key(P)."""
        return self._taproot_private.xonly()

    @cached_property
    def p2tr_script(self) -> bytes:
        """BIP 341 v1 program: OP_1 <32-byte x-only output key>."""
        return embit_script.p2tr(self.public_key).data

    def sign_ecdsa(self, sighash: bytes) -> bytes:
        """DER ECDSA signature (low S) of a 32-byte digest."""
        if len(sighash) != 32:
            raise ChainDataError("sighash must be 32 bytes")
        return self._private.sign(sighash, grind=False).serialize()

    def sign_taproot(self, sighash: bytes) -> bytes:
        """64-byte BIP 340 signature with the tweaked key (key-path spend, SIGHASH_DEFAULT)."""
        if len(sighash) != 32:
            raise ChainDataError("sighash must be 32 bytes")
        return secp256k1.schnorrsig_sign(sighash, self._taproot_private.secret, None, ZERO_AUX)
