"""Refuse block sources that do not belong to the ``--chain`` the broadcaster asked for."""

from __future__ import annotations

import hashlib

from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.sources import detect_network, read_blocks

# Highest target (easiest proof of work) each network allows, as compact "bits" (Core's powLimit).
POW_LIMIT_BITS = {"main": 0x1D00FFFF, "testnet": 0x1D00FFFF, "testnet4": 0x1D00FFFF, "signet": 0x1E0377AE, "regtest": 0x207FFFFF}


def target_from_bits(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    return mantissa >> (8 * (3 - exponent)) if exponent <= 3 else mantissa << (8 * (exponent - 3))


def check_chain(source: str, chain: str) -> list[bytes]:
    """All blocks of ``source``, after checking they can belong to ``chain`` (magic, genesis, PoW)."""
    found = detect_network(source)
    if found is not None and found != chain:
        raise ChainDataError(f"{source}: holds {found} blocks, not {chain} (check --chain)")
    limit = target_from_bits(POW_LIMIT_BITS[chain])
    blocks = list(read_blocks(source, network=chain))
    if not blocks:
        raise ChainDataError(f"{source}: no blocks found")
    for height_hint, raw in enumerate(blocks):
        bits = int.from_bytes(raw[72:76], "little")
        block_hash = int.from_bytes(hashlib.sha256(hashlib.sha256(raw[:80]).digest()).digest(), "little")
        if target_from_bits(bits) > limit or block_hash > target_from_bits(bits):
            raise ChainDataError(f"{source}: block #{height_hint} does not meet {chain}'s proof-of-work limit (check --chain)")
    return blocks
