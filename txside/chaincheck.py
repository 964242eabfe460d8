"""Refuse block sources that do not belong to the ``--chain`` the broadcaster asked for."""

from __future__ import annotations

from chaincast.fec.wire.bitcoin import CHAINS, block_hash, check_proof_of_work
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.sources import detect_network, read_blocks


def check_chain(source: str, chain: str) -> list[bytes]:
    """All blocks of ``source``, after checking they can belong to ``chain``: magic, genesis, and
    each block's proof of work as Core's ``CheckProofOfWork`` with the chain's powLimit (a
    negative, zero or overflowing nBits is refused too)."""
    found = detect_network(source)
    if found is not None and found != chain:
        raise ChainDataError(f"{source}: holds {found} blocks, not {chain} (check --chain)")
    pow_limit = CHAINS[chain].pow_limit
    blocks = list(read_blocks(source, network=chain))
    if not blocks:
        raise ChainDataError(f"{source}: no blocks found")
    for height_hint, raw in enumerate(blocks):
        bits = int.from_bytes(raw[72:76], "little")
        if not check_proof_of_work(block_hash(raw), bits, pow_limit):
            raise ChainDataError(f"{source}: block #{height_hint} does not meet {chain}'s proof-of-work limit (check --chain)")
    return blocks
