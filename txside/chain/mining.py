"""Coinbase construction, block assembly and proof-of-work grinding (regtest parameters)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import replace

from chaincast.fec.wire.bitcoin import CHAINS, derive_target, get_compact, sha256d
from chaincast.txside.chain.block import (
    WITNESS_COMMITMENT_HEADER,
    Block,
    BlockHeader,
    block_merkle_root,
    witness_commitment,
    witness_commitment_script,
)
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.script import push_data, push_int
from chaincast.txside.chain.tx import NULL_OUTPOINT, Tx, TxIn, TxOut

REGTEST = CHAINS["regtest"]
REGTEST_GENESIS_HASH = REGTEST.genesis_hash  # internal order
REGTEST_GENESIS_TIME = 1296688602
REGTEST_BITS = get_compact(REGTEST.pow_limit)  # 0x207fffff; regtest never retargets (fPowNoRetargeting)
REGTEST_HALVING_INTERVAL = 150
BLOCK_VERSION = 0x20000000  # BIP 9 top bits, no signalling
COIN = 100_000_000
WITNESS_RESERVED_VALUE = bytes(32)  # BIP 141: coinbase witness is one 32-byte item


def block_subsidy(height: int, halving_interval: int = REGTEST_HALVING_INTERVAL) -> int:
    halvings = height // halving_interval
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def make_coinbase(height: int, outputs: Sequence[TxOut], tag: bytes = b"") -> Tx:
    """Coinbase without witness commitment (see `with_witness_commitment`).

    BIP 34: the scriptSig starts with the height pushed as `CScript() << height`; the tag push
    keeps it within the 2..100 byte consensus range even at heights 1..16 (one-byte push).
    """
    script_sig = push_int(height) + push_data(tag)
    if not 2 <= len(script_sig) <= 100:
        raise ChainDataError(f"coinbase scriptSig of {len(script_sig)} bytes outside 2..100")
    return Tx(2, (TxIn(NULL_OUTPOINT, script_sig, 0xFFFFFFFF),), tuple(outputs), 0)


def with_witness_commitment(txs: Sequence[Tx]) -> list[Tx]:
    """Return txs with the coinbase's BIP 141 commitment (re)computed.

    Any old commitment output is dropped; if no tx has witness data, the coinbase gets neither
    commitment nor witness (none is required, BIP 141). Otherwise the commitment goes in a
    last OP_RETURN output and the coinbase witness holds the 32-byte reserved value.
    """
    coinbase, rest = txs[0], list(txs[1:])
    outputs = tuple(o for o in coinbase.outputs if not o.script_pubkey.startswith(WITNESS_COMMITMENT_HEADER))
    cb_in = replace(coinbase.inputs[0], witness=())
    if any(tx.has_witness for tx in rest):
        cb_in = replace(cb_in, witness=(WITNESS_RESERVED_VALUE,))
        # The coinbase wtxid counts as zero in the witness tree, so its own witness/outputs don't matter here.
        commitment = witness_commitment([coinbase] + rest, WITNESS_RESERVED_VALUE)
        outputs += (TxOut(0, witness_commitment_script(commitment)),)
    return [replace(coinbase, inputs=(cb_in,), outputs=outputs)] + rest


def grind(header: BlockHeader, pow_limit: int = REGTEST.pow_limit) -> BlockHeader:
    """Increment the nonce until SHA256d(header) <= target (about 2 tries at regtest's powLimit)."""
    target = derive_target(header.bits, pow_limit)
    if target is None:
        raise ChainDataError(f"nBits {header.bits:#010x} is not a valid target below the chain's powLimit")
    prefix = header.serialize()[:76]
    for nonce in range(header.nonce, 1 << 32):
        if int.from_bytes(sha256d(prefix + struct.pack("<I", nonce)), "little") <= target:
            return replace(header, nonce=nonce)
    raise ChainDataError("nonce space exhausted")


def assemble_block(
    prev_hash: bytes, time: int, txs: Sequence[Tx], bits: int = REGTEST_BITS, version: int = BLOCK_VERSION
) -> Block:
    """Commit to the witnesses, compute the merkle root and mine the header."""
    final = with_witness_commitment(txs)
    header = BlockHeader(version, prev_hash, block_merkle_root(final), time, bits, 0)
    return Block(grind(header), tuple(final))
