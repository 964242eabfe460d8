"""The shared libbitcoinkernel adapter (fec.wire.kernel): the fast block constructor gives the block
``pbk.Block`` gives, and the kernel's own genesis blocks agree with our chain parameters."""

import pbk
import pytest

from chaincast.fec.wire.bitcoin import CHAINS, block_hash, display_hex
from chaincast.fec.wire.kernel import CHAIN_TYPES, kernel_block


def test_kernel_block_is_the_block_pbk_builds(regtest_blocks):
    for raw in (regtest_blocks[0], regtest_blocks[-1]):
        fast, slow = kernel_block(raw), pbk.Block(raw)
        assert bytes(fast) == bytes(slow) == raw
        assert str(fast.block_hash) == str(slow.block_hash) == display_hex(block_hash(raw))
        assert len(fast.transactions) == len(slow.transactions)
    with pytest.raises(RuntimeError):
        kernel_block(regtest_blocks[0][:100])  # unparsable bytes fail as pbk.Block's do


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_libbitcoinkernels_genesis_is_ours(chain, tmp_path):
    assert set(CHAIN_TYPES) == set(CHAINS)
    chainman = pbk.load_chainman(tmp_path, CHAIN_TYPES[chain])
    try:  # read everything while the chainman lives: its entries point into it
        entry = chainman.get_active_chain().block_tree_entries[0]
        genesis, kernel_hash = bytes(chainman.blocks[entry]), str(entry.block_hash)
    finally:
        del chainman
    assert block_hash(genesis) == CHAINS[chain].genesis_hash
    assert kernel_hash == display_hex(CHAINS[chain].genesis_hash)
