"""The shared Bitcoin primitives (fec.wire.bitcoin) against Bitcoin Core's own test vectors.

Vectors copied from Bitcoin Core (data only):
- src/test/arith_uint256_tests.cpp, test case ``bignum_SetCompact``: every SetCompact input with
  the value (GetHex), the flags and what GetCompact gives back;
- src/test/pow_tests.cpp: ``CheckProofOfWork_test_*`` (negative, overflow, too easy, hash above
  target, zero target) and ``sanity_check_chainparams``;
- src/kernel/chainparams.cpp: each chain's genesis header fields (``CreateGenesisBlock`` arguments
  and the asserted merkle root and block hash).
"""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincast.fec.wire.bitcoin import (
    CHAINS, block_hash, block_proof, check_proof_of_work, derive_target, display_hex, get_compact, internal_hash,
    set_compact, sha256d,
)

# (nCompact, GetHex() of the value, negative, overflow, GetCompact(negative) or None where Core does not check it)
SET_COMPACT = [
    (0x00000000, 0, False, False, 0),
    (0x00123456, 0, False, False, 0),
    (0x01003456, 0, False, False, 0),
    (0x02000056, 0, False, False, 0),
    (0x03000000, 0, False, False, 0),
    (0x04000000, 0, False, False, 0),
    (0x00923456, 0, False, False, 0),
    (0x01803456, 0, False, False, 0),
    (0x02800056, 0, False, False, 0),
    (0x03800000, 0, False, False, 0),
    (0x04800000, 0, False, False, 0),
    (0x01123456, 0x12, False, False, 0x01120000),
    (0x01FEDCBA, 0x7E, True, False, 0x01FE0000),
    (0x02123456, 0x1234, False, False, 0x02123400),
    (0x03123456, 0x123456, False, False, 0x03123456),
    (0x04123456, 0x12345600, False, False, 0x04123456),
    (0x04923456, 0x12345600, True, False, 0x04923456),
    (0x05009234, 0x92340000, False, False, 0x05009234),
    (0x20123456, 0x1234560000000000000000000000000000000000000000000000000000000000, False, False, 0x20123456),
    (0xFF123456, None, False, True, None),
]


@pytest.mark.parametrize("bits, value, negative, overflow, compact", SET_COMPACT)
def test_set_compact_and_get_compact_match_cores_vectors(bits, value, negative, overflow, compact):
    got = set_compact(bits)
    assert (got.negative, got.overflow) == (negative, overflow)
    if value is not None:
        assert got.value == value
        assert get_compact(got.value, got.negative) == compact


def test_get_compact_never_sets_the_sign_bit_from_the_value():
    assert get_compact(0x80) == 0x02008000  # arith_uint256_tests.cpp: "num = 0x80"


@given(st.integers(0, (1 << 256) - 1))
def test_get_compact_keeps_the_top_bytes_of_the_value(value):
    # the top three bytes, or two when the first is 0x80 or more (the sign bit stays clear)
    size = (value.bit_length() + 7) // 8
    big = value.to_bytes(max(size, 1), "big")
    keep = 2 if big[0] >= 0x80 else 3
    kept = int.from_bytes(big[:keep] + bytes(len(big) - keep), "big") if len(big) > keep else value
    compact = get_compact(value)
    decoded = set_compact(compact)
    assert (decoded.value, decoded.negative, decoded.overflow) == (kept, False, False)
    assert get_compact(decoded.value) == compact


MAIN_LIMIT = CHAINS["main"].pow_limit
ONE = (1).to_bytes(32, "little")


@pytest.mark.parametrize("case, hash_value, bits", [
    # pow_tests.cpp CheckProofOfWork_test_*: all refused on main
    ("negative_target", 1, get_compact(MAIN_LIMIT, negative=True)),
    ("overflow_target", 1, ~0x00800000 & 0xFFFFFFFF),
    ("too_easy_target", 1, get_compact(MAIN_LIMIT * 2)),
    ("biger_hash_than_target", MAIN_LIMIT * 2, get_compact(MAIN_LIMIT)),
    ("zero_target", 0, get_compact(0)),
])
def test_check_proof_of_work_refuses_cores_bad_targets(case, hash_value, bits):
    assert not check_proof_of_work(hash_value.to_bytes(32, "little"), bits, MAIN_LIMIT), case
    assert derive_target(bits, MAIN_LIMIT) is None or case == "biger_hash_than_target"


def test_check_proof_of_work_accepts_a_hash_equal_to_the_target():
    target = set_compact(0x1D00FFFF).value
    assert check_proof_of_work(target.to_bytes(32, "little"), 0x1D00FFFF, MAIN_LIMIT)
    assert not check_proof_of_work((target + 1).to_bytes(32, "little"), 0x1D00FFFF, MAIN_LIMIT)


def test_block_proof_is_cores_get_block_proof():
    assert block_proof(0x1D00FFFF) == 0x100010001  # mainnet's first blocks: 2^256 / (target + 1)
    assert block_proof(0x207FFFFF) == 2  # regtest: half of all hashes pass
    assert block_proof(0x04923456) == block_proof(0xFF123456) == block_proof(0) == 0  # negative, overflow, zero


MAINNET_MERKLE_ROOT = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
# chainparams.cpp CreateGenesisBlock(nTime, nNonce, nBits, nVersion=1, ...) and its asserted hashes
GENESIS = {
    "main": (1231006505, 2083236893, 0x1D00FFFF, MAINNET_MERKLE_ROOT,
             "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
    "testnet": (1296688602, 414098458, 0x1D00FFFF, MAINNET_MERKLE_ROOT,
                "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943"),
    "testnet4": (1714777860, 393743547, 0x1D00FFFF, "7aa0a7ae1e223414cb807e40cd57e667b718e42aaf9306db9102fe28912b7b4e",
                 "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"),
    "signet": (1598918400, 52613770, 0x1E0377AE, MAINNET_MERKLE_ROOT,
               "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"),
    "regtest": (1296688602, 2, 0x207FFFFF, MAINNET_MERKLE_ROOT,
                "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
}


@pytest.mark.parametrize("chain", sorted(GENESIS))
def test_genesis_headers_hash_to_the_chain_parameters_and_pass_proof_of_work(chain):
    time_s, nonce, bits, merkle_root, expected = GENESIS[chain]
    header = struct.pack("<i32s32sIII", 1, bytes(32), internal_hash(merkle_root), time_s, bits, nonce)
    params = CHAINS[chain]
    assert display_hex(block_hash(header)) == expected == display_hex(params.genesis_hash)
    assert block_hash(header + b"any body") == sha256d(header)
    assert check_proof_of_work(params.genesis_hash, bits, params.pow_limit)


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_chain_parameters_pass_cores_sanity_check(chain):
    params = CHAINS[chain]  # pow_tests.cpp sanity_check_chainparams
    genesis_bits = GENESIS[chain][2]
    compact = set_compact(genesis_bits)
    assert not compact.negative and not compact.overflow and 0 < compact.value <= params.pow_limit
    assert params.pow_target_timespan_s % params.pow_target_spacing_s == 0
    if not params.pow_no_retargeting:
        assert params.pow_limit < ((1 << 256) - 1) // (params.pow_target_timespan_s * 4)


@pytest.mark.parametrize("bits", [
    0x04923456, 0x1D80FFFF,  # negative: the sign bit with a non-zero mantissa
    0x23000001, 0x22000100, 0x21010000, 0xFF123456,  # overflow: more than 256 bits
])
def test_negative_and_overflowing_nbits_are_never_a_target(bits):
    assert derive_target(bits, (1 << 256) - 1) is None
    assert not check_proof_of_work(bytes(32), bits, (1 << 256) - 1)
