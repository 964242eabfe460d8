"""Bitcoin consensus primitives both sides share, each written once: double SHA-256 and block
hashes, the compact target ``nBits`` exactly as Bitcoin Core's ``arith_uint256::SetCompact`` /
``GetCompact`` (src/arith_uint256.cpp), proof of work as Core's ``CheckProofOfWork`` /
``GetBlockProof`` (src/pow.cpp), and each chain's parameters from Core's
src/kernel/chainparams.cpp (data directory names: src/chainparamsbase.cpp).

Pure: bytes and integers in and out. Hashes are in internal byte order (as serialised, as hashed);
the usual display form (``display_hex``) is the reverse. A hash read as a number is little-endian.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HEADER_BYTES = 80  # version i32 | prev hash 32 | merkle root 32 | time u32 | bits u32 | nonce u32
MAX_BLOCK_SERIALIZED_SIZE = 4_000_000  # BIP 141's cap on a serialised block, witness data included
UINT256_MASK = (1 << 256) - 1


def sha256d(data: bytes) -> bytes:
    """SHA-256 of SHA-256: block hashes, txids, merkle nodes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def block_hash(raw: bytes) -> bytes:
    """Hash of a block (or of its 80-byte header alone): ``sha256d`` of the first 80 bytes."""
    return sha256d(raw[:HEADER_BYTES])


def display_hex(hash_internal: bytes) -> str:
    """The usual (byte-reversed) hex of a hash kept in internal order."""
    return hash_internal[::-1].hex()


def internal_hash(display: str) -> bytes:
    """Inverse of ``display_hex``."""
    return bytes.fromhex(display)[::-1]


@dataclass(frozen=True)
class Compact:
    """What Core's ``SetCompact`` gives: the 256-bit value (its magnitude; bits shifted past 256
    are lost, as in Core) and the two flags the caller must check."""

    value: int
    negative: bool
    overflow: bool


def set_compact(bits: int) -> Compact:
    """``arith_uint256::SetCompact``: ``bits`` = size byte | sign bit 0x00800000 | 23-bit mantissa;
    value = mantissa * 256^(size - 3). The flags look at the mantissa *after* the shift of a size
    below 3, so 0x01803456 (its mantissa shifts to 0) is zero and not negative."""
    size, word = bits >> 24, bits & 0x007FFFFF
    if size <= 3:
        word >>= 8 * (3 - size)
        value = word
    else:
        value = (word << 8 * (size - 3)) & UINT256_MASK
    negative = word != 0 and bits & 0x00800000 != 0
    overflow = word != 0 and (size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32))
    return Compact(value, negative, overflow)


def get_compact(value: int, negative: bool = False) -> int:
    """``arith_uint256::GetCompact``: the shortest ``nBits`` for a 256-bit ``value`` (mantissa
    bit 0x00800000 never set by the value: such a mantissa moves one byte up)."""
    if not 0 <= value <= UINT256_MASK:
        raise ValueError(f"{value} is not a 256-bit unsigned value")
    size = (value.bit_length() + 7) // 8
    word = (value << 8 * (3 - size)) if size <= 3 else value >> 8 * (size - 3)
    if word & 0x00800000:
        word >>= 8
        size += 1
    word |= size << 24
    if negative and word & 0x007FFFFF:
        word |= 0x00800000
    return word


def derive_target(bits: int, pow_limit: int) -> int | None:
    """Core's ``DeriveTarget``: the target ``bits`` encodes, or None when it is negative, zero,
    overflowing or above the chain's ``pow_limit``."""
    compact = set_compact(bits)
    if compact.negative or compact.overflow or compact.value == 0 or compact.value > pow_limit:
        return None
    return compact.value


def check_proof_of_work(hash_internal: bytes, bits: int, pow_limit: int) -> bool:
    """Core's ``CheckProofOfWork``: ``bits`` is a valid target for the chain and the hash, read
    as a little-endian number, is at most that target."""
    target = derive_target(bits, pow_limit)
    return target is not None and int.from_bytes(hash_internal, "little") <= target


def block_proof(bits: int) -> int:
    """Core's ``GetBlockProof``: the expected number of hashes, 2^256 / (target + 1); 0 for an
    invalid (negative, overflowing, zero) target."""
    compact = set_compact(bits)
    if compact.negative or compact.overflow or compact.value == 0:
        return 0
    return (1 << 256) // (compact.value + 1)


@dataclass(frozen=True)
class ChainParams:
    """One chain's parameters, as Core's kernel/chainparams.cpp sets them."""

    name: str  # as Core's -chain=, but "testnet" for testnet3
    genesis_hash: bytes  # internal byte order
    pow_limit: int
    magic: bytes  # pchMessageStart: the 4 bytes that start every P2P message and blk*.dat record
    datadir: str  # Core's subdirectory of -datadir for this chain ("": the datadir itself)
    pow_allow_min_difficulty_blocks: bool  # 20-minute minimum-difficulty blocks (testnets, regtest)
    pow_no_retargeting: bool  # nBits never changes (regtest)
    pow_target_timespan_s: int = 14 * 24 * 3600
    pow_target_spacing_s: int = 10 * 60


_POW_LIMIT_MAIN = 0x00000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF

CHAINS: dict[str, ChainParams] = {
    p.name: p
    for p in (
        ChainParams("main", internal_hash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
                    _POW_LIMIT_MAIN, bytes.fromhex("f9beb4d9"), "", False, False),
        ChainParams("testnet", internal_hash("000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943"),
                    _POW_LIMIT_MAIN, bytes.fromhex("0b110907"), "testnet3", True, False),
        ChainParams("testnet4", internal_hash("00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"),
                    _POW_LIMIT_MAIN, bytes.fromhex("1c163f28"), "testnet4", True, False),
        # the default signet; a custom signet (-signetchallenge) has its own genesis-derived magic
        ChainParams("signet", internal_hash("00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"),
                    0x00000377AE << 216, bytes.fromhex("0a03cf40"), "signet", False, False),
        ChainParams("regtest", internal_hash("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
                    (1 << 255) - 1, bytes.fromhex("fabfb5da"), "regtest", True, True, pow_target_timespan_s=24 * 3600),
    )
}
