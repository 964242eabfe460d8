"""The uplink's source check (txside.chaincheck): Core's proof-of-work rules, strictly."""

import pytest

from chaincast.fec.wire.bitcoin import CHAINS, get_compact
from chaincast.txside.chain.block import BlockHeader
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.mining import grind
from chaincast.txside.chain.regtest import make_regtest_chain, write_hex_chain
from chaincast.txside.chaincheck import check_chain


def with_bits(raw: bytes, bits: int) -> bytes:
    """``raw`` with its header's nBits replaced and a nonce whose hash is below the target those
    bits would give if their sign and overflow were ignored (what a lax decoder would accept)."""
    header = BlockHeader.deserialize(raw[:80])
    lax_target = (bits & 0x007FFFFF) << 8 * ((bits >> 24) - 3)
    nonce = header.nonce
    while True:
        candidate = BlockHeader(header.version, header.prev_hash, header.merkle_root, header.time, bits, nonce)
        if int.from_bytes(candidate.hash, "little") <= lax_target:
            return candidate.serialize() + raw[80:]
        nonce += 1


def test_a_genuine_chain_passes(tmp_path):
    blocks = make_regtest_chain(3, validate=False)
    write_hex_chain(blocks, tmp_path / "chain.txt")
    assert check_chain(str(tmp_path / "chain.txt"), "regtest") == blocks


@pytest.mark.parametrize("bits", [
    0x20FFFFFF,  # negative: the sign bit, with regtest's mantissa
    0x21010000,  # overflow: a 3-byte mantissa 33 bytes up
    get_compact(CHAINS["regtest"].pow_limit + 1),  # 0x21008000: a valid target, above regtest's powLimit
])
def test_negative_overflowing_or_too_easy_nbits_are_refused(tmp_path, bits):
    blocks = make_regtest_chain(3, validate=False)
    blocks[1] = with_bits(blocks[1], bits)
    write_hex_chain(blocks, tmp_path / "chain.txt")
    with pytest.raises(ChainDataError, match="proof-of-work"):
        check_chain(str(tmp_path / "chain.txt"), "regtest")


def test_grind_refuses_a_target_core_would_not_accept():
    header = BlockHeader.deserialize(make_regtest_chain(1, validate=False)[0][:80])
    with pytest.raises(ChainDataError):
        grind(BlockHeader(header.version, header.prev_hash, header.merkle_root, header.time, 0x20FFFFFF, 0))
