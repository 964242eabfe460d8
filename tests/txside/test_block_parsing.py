"""Block/tx parsing against real mainnet data: hashes, merkle roots, BIP 141 commitments, round trips."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincast.fec.wire.bitcoin import CHAINS, check_proof_of_work
from chaincast.txside.chain.block import (
    Block,
    BlockHeader,
    block_merkle_root,
    find_witness_commitment,
    parse_block,
    witness_commitment,
)
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.networks import GENESIS_HASH_HEX
from chaincast.txside.chain.sources import read_blocks
from chaincast.txside.chain.tx import OutPoint, Tx, TxIn, TxOut

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "blocks"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared block data not found at {DATA}")

SEGWIT_HASH = "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae"
GENESIS_COINBASE_TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


@pytest.fixture(scope="module")
def mainnet_blocks():
    path = DATA / "bitcoinj" / "first-100k-blocks.dat"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return list(read_blocks(path))


@needs_data
def test_genesis_hash_and_coinbase_txid(mainnet_blocks):
    header, txs = parse_block(mainnet_blocks[0])
    assert header.hash_hex == GENESIS_HASH_HEX["main"]
    assert header.prev_hash == bytes(32)
    assert txs[0].is_coinbase and txs[0].txid_hex == GENESIS_COINBASE_TXID
    # Single-tx block: the merkle root is the coinbase txid.
    assert header.merkle_root == txs[0].txid


@needs_data
def test_real_blocks_recompute_and_round_trip(mainnet_blocks):
    prev = bytes(32)
    multi_tx = 0
    for raw in mainnet_blocks:
        block = Block.deserialize(raw)
        assert block.serialize() == raw
        assert BlockHeader.deserialize(raw[:80]).serialize() == raw[:80]
        assert block_merkle_root(block.txs) == block.header.merkle_root
        assert block.header.prev_hash == prev
        assert check_proof_of_work(block.hash, block.header.bits, CHAINS["main"].pow_limit)
        prev = block.hash
        multi_tx += len(block.txs) > 1
    assert prev[::-1].hex() == "0000000025c6b644f8add734be7e666fa4afa43ca0204d623a0c0b1fd2104c7a"
    assert multi_tx > 0  # the odd-count duplication rule got exercised


@needs_data
def test_segwit_block_witness_commitment():
    path = DATA / "rust-bitcoin" / f"mainnet_block_{SEGWIT_HASH}.raw"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    raw = path.read_bytes()
    header, txs = parse_block(raw)
    assert header.hash_hex == SEGWIT_HASH
    assert block_merkle_root(txs) == header.merkle_root
    segwit = [tx for tx in txs if tx.has_witness]
    assert len(segwit) > 1000
    assert all(tx.txid != tx.wtxid for tx in segwit)
    assert all(tx.txid == tx.wtxid for tx in txs[1:] if not tx.has_witness)
    # BIP 141: coinbase witness = the reserved value; commitment = SHA256d(wtxid root || reserved).
    (reserved,) = txs[0].inputs[0].witness
    assert find_witness_commitment(txs[0]) == witness_commitment(txs, reserved)
    # Tampering with any witness breaks the commitment but not the (txid) merkle root.
    tampered = list(txs)
    tx = segwit[5]
    i = tampered.index(tx)
    first = tx.inputs[0]
    bad_in = TxIn(first.prevout, first.script_sig, first.sequence, (b"\x00",) + first.witness[1:])
    tampered[i] = Tx(tx.version, (bad_in,) + tx.inputs[1:], tx.outputs, tx.locktime)
    assert block_merkle_root(tampered) == header.merkle_root
    assert find_witness_commitment(txs[0]) != witness_commitment(tampered, reserved)
    assert Block(header, tuple(txs)).serialize() == raw
    # Stripped (no-witness) serializations parse back to the same txids.
    assert Tx.deserialize(segwit[0].serialize(with_witness=False)).txid == segwit[0].txid


def _simple_tx(witness=()):
    txin = TxIn(OutPoint(b"\x11" * 32, 3), b"\x51", 0xFFFFFFFE, witness)
    return Tx(2, (txin,), (TxOut(1234, b"\x00\x14" + b"\x22" * 20),), 7)


def test_short_and_trailing_input_rejected():
    raw = _simple_tx((b"\x01" * 72, b"\x02" * 33)).serialize()
    assert Tx.deserialize(raw).serialize() == raw
    for cut in (1, 10, len(raw) - 1):
        with pytest.raises(ChainDataError):
            Tx.deserialize(raw[:cut])
    with pytest.raises(ChainDataError, match="trailing"):
        Tx.deserialize(raw + b"\x00")
    with pytest.raises(ChainDataError):
        BlockHeader.deserialize(bytes(79))
    with pytest.raises(ChainDataError, match="trailing"):
        BlockHeader.deserialize(bytes(81))
    with pytest.raises(ChainDataError):
        OutPoint.deserialize(bytes(35))


def test_segwit_flag_rules():
    raw = bytearray(_simple_tx((b"\x01",)).serialize())
    assert raw[4:6] == b"\x00\x01"
    raw[5] = 2  # only flag 0x01 is defined (BIP 144)
    with pytest.raises(ChainDataError, match="flag"):
        Tx.deserialize(bytes(raw))
    # Marker/flag present but every witness empty: Core's "superfluous witness record".
    no_wit = _simple_tx().serialize()
    superfluous = no_wit[:4] + b"\x00\x01" + no_wit[4:-4] + b"\x00" + no_wit[-4:]
    with pytest.raises(ChainDataError, match="witness"):
        Tx.deserialize(superfluous)


def test_non_canonical_compact_size_rejected():
    raw = _simple_tx().serialize()
    # Input count 1 re-encoded as 0xfd 0x0100 (non-canonical).
    bad = raw[:4] + b"\xfd\x01\x00" + raw[5:]
    with pytest.raises(ChainDataError, match="non-canonical"):
        Tx.deserialize(bad)


def test_block_without_transactions_rejected():
    with pytest.raises(ChainDataError, match="no transactions"):
        Block.deserialize(bytes(80) + b"\x00")


_bytes = st.binary(max_size=80)


@settings(max_examples=60, deadline=None)
@given(
    version=st.integers(0, 2**32 - 1),
    ins=st.lists(
        st.tuples(st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1), _bytes, st.lists(_bytes, max_size=3)),
        min_size=1,
        max_size=4,
    ),
    outs=st.lists(st.tuples(st.integers(0, 21_000_000 * 10**8), _bytes), max_size=4),
    locktime=st.integers(0, 2**32 - 1),
)
def test_tx_round_trip(version, ins, outs, locktime):
    tx = Tx(
        version,
        tuple(TxIn(OutPoint(t, i), s, 0xFFFFFFFF, tuple(w)) for t, i, s, w in ins),
        tuple(TxOut(v, s) for v, s in outs),
        locktime,
    )
    raw = tx.serialize()
    back = Tx.deserialize(raw)
    assert back == tx and back.serialize() == raw and back.txid == tx.txid
    assert Tx.deserialize(tx.serialize(with_witness=False)).txid == tx.txid
