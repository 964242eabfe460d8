"""Signature hashes for segwit inputs: BIP 143 (v0) and BIP 341 (taproot key path).

All integers in the preimages are little-endian; hashes are in internal byte order.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from chaincast.txside.chain.encoding import ser_bytes
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.hashes import sha256, sha256d, tagged_hash
from chaincast.txside.chain.tx import Tx, TxOut

SIGHASH_DEFAULT = 0x00  # BIP 341: like ALL, but no byte appended to the signature
SIGHASH_ALL = 0x01


def segwit_v0_sighash(tx: Tx, index: int, script_code: bytes, amount: int, hash_type: int = SIGHASH_ALL) -> bytes:
    """BIP 143 digest for input `index` (SIGHASH_ALL only: that is all our wallet signs)."""
    if hash_type != SIGHASH_ALL:
        raise ChainDataError("only SIGHASH_ALL is implemented for BIP 143")
    txin = tx.inputs[index]
    hash_prevouts = sha256d(b"".join(i.prevout.serialize() for i in tx.inputs))
    hash_sequence = sha256d(b"".join(struct.pack("<I", i.sequence) for i in tx.inputs))
    hash_outputs = sha256d(b"".join(o.serialize() for o in tx.outputs))
    preimage = b"".join(
        (
            struct.pack("<I", tx.version),
            hash_prevouts,
            hash_sequence,
            txin.prevout.serialize(),
            ser_bytes(script_code),
            struct.pack("<q", amount),
            struct.pack("<I", txin.sequence),
            hash_outputs,
            struct.pack("<II", tx.locktime, hash_type),
        )
    )
    return sha256d(preimage)


def taproot_key_path_sighash(tx: Tx, index: int, spent: Sequence[TxOut], hash_type: int = SIGHASH_DEFAULT) -> bytes:
    """BIP 341 SigMsg digest (epoch 0, no annex, key path) for SIGHASH_DEFAULT/ALL.

    Unlike BIP 143 this commits to every spent amount and scriptPubKey, so `spent` must list
    the outputs spent by all inputs, in input order. The inner hashes are single SHA-256.
    """
    if hash_type not in (SIGHASH_DEFAULT, SIGHASH_ALL):
        raise ChainDataError("only SIGHASH_DEFAULT/ALL are implemented for BIP 341")
    if len(spent) != len(tx.inputs):
        raise ChainDataError("need one spent output per input")
    msg = b"".join(
        (
            bytes((0x00, hash_type)),  # epoch 0, then hash_type
            struct.pack("<II", tx.version, tx.locktime),
            sha256(b"".join(i.prevout.serialize() for i in tx.inputs)),
            sha256(b"".join(struct.pack("<q", o.value) for o in spent)),
            sha256(b"".join(ser_bytes(o.script_pubkey) for o in spent)),
            sha256(b"".join(struct.pack("<I", i.sequence) for i in tx.inputs)),
            sha256(b"".join(o.serialize() for o in tx.outputs)),
            b"\x00",  # spend_type: ext_flag 0 (key path), no annex
            struct.pack("<I", index),
        )
    )
    return tagged_hash("TapSighash", msg)
