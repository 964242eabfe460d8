"""The generated regtest chain: validated by libbitcoinkernel, real P2WPKH/P2TR spends (keys,
scripts and signature hashes from embit), deterministic."""

import hashlib
from dataclasses import replace

import pytest
from embit.script import Script

from chaincast.txside.chain.block import Block, find_witness_commitment, witness_commitment
from chaincast.txside.chain.errors import BlockRejectedError
from chaincast.txside.chain.keys import SECP256K1_N, WalletKey, taproot_output_key
from chaincast.txside.chain.kernel import KernelChain, validate_chain
from chaincast.txside.chain.mining import REGTEST_GENESIS_HASH, assemble_block, block_subsidy
from chaincast.txside.chain.regtest import make_regtest_chain, write_hex_chain
from chaincast.txside.chain.script import push_int
from chaincast.txside.chain.sources import detect_network, read_blocks

N = 110
SEED = 7


def is_p2wpkh(spk: bytes) -> bool:
    return Script(spk).script_type() == "p2wpkh"


def is_p2tr(spk: bytes) -> bool:
    return Script(spk).script_type() == "p2tr"


@pytest.fixture(scope="module")
def chain():
    return make_regtest_chain(N, seed=SEED)  # validate=True: each block must become the tip


@pytest.fixture(scope="module")
def parsed(chain):
    return [Block.deserialize(raw) for raw in chain]


def test_kernel_accepts_chain_to_tip(chain, parsed):
    assert len(chain) == N
    height, tip = validate_chain(chain)  # a second, independent chainman
    assert height == N
    assert tip == parsed[-1].hash


def test_headers_link_and_follow_schedule(parsed):
    prev = REGTEST_GENESIS_HASH
    for height, block in enumerate(parsed, 1):
        h = block.header
        assert h.prev_hash == prev
        assert h.time == 1296688602 + 600 * height
        assert h.bits == 0x207FFFFF
        assert int.from_bytes(block.hash, "little") <= 0x7FFFFF << (8 * (0x20 - 3))
        prev = block.hash


def test_coinbases(parsed):
    created = {}
    for height, block in enumerate(parsed, 1):
        cb, txs = block.txs[0], block.txs[1:]
        assert cb.inputs[0].script_sig.startswith(push_int(height))  # BIP 34
        assert is_p2wpkh(cb.outputs[0].script_pubkey) and is_p2tr(cb.outputs[1].script_pubkey)
        fees = 0
        for tx in txs:
            fees += sum(created.pop((i.prevout.txid, i.prevout.index)) for i in tx.inputs)
            fees -= sum(o.value for o in tx.outputs)
            created.update({(tx.txid, n): o.value for n, o in enumerate(tx.outputs)})
        created.update({(cb.txid, n): o.value for n, o in enumerate(cb.outputs)})
        assert sum(o.value for o in cb.outputs) == block_subsidy(height) + fees
        if height <= 100:
            assert not txs and find_witness_commitment(cb) is None and not cb.inputs[0].witness
        else:
            assert len(txs) >= 3 and fees > 0
            (reserved,) = cb.inputs[0].witness
            assert find_witness_commitment(cb) == witness_commitment(block.txs, reserved)


def test_spend_types_and_chains_of_spends(parsed):
    spk_of, coinbase_txids, tx_height = {}, set(), {}
    counts = {"p2wpkh": 0, "p2tr": 0, "same_block": 0, "earlier_non_coinbase": 0}
    for height, block in enumerate(parsed, 1):
        coinbase_txids.add(block.txs[0].txid)
        for tx in block.txs:
            for txin in tx.inputs if not tx.is_coinbase else ():
                spk = spk_of[(txin.prevout.txid, txin.prevout.index)]
                w = txin.witness
                if is_p2wpkh(spk):
                    # BIP 141 P2WPKH: <DER sig + hashtype> <33-byte compressed pubkey>, low S.
                    assert len(w) == 2 and len(w[1]) == 33 and w[1][0] in (2, 3)
                    assert w[0][0] == 0x30 and w[0][-1] == 0x01
                    r_len = w[0][3]
                    s = int.from_bytes(w[0][6 + r_len : -1], "big")
                    assert s <= SECP256K1_N // 2
                    counts["p2wpkh"] += 1
                else:
                    assert is_p2tr(spk)
                    # BIP 341 key path with SIGHASH_DEFAULT: a single 64-byte signature.
                    assert len(w) == 1 and len(w[0]) == 64
                    counts["p2tr"] += 1
                if txin.prevout.txid not in coinbase_txids:
                    if tx_height[txin.prevout.txid] == height:
                        counts["same_block"] += 1
                    else:
                        counts["earlier_non_coinbase"] += 1
            tx_height[tx.txid] = height
            spk_of.update({(tx.txid, n): o.script_pubkey for n, o in enumerate(tx.outputs)})
    assert counts["p2wpkh"] >= 10 and counts["p2tr"] >= 10
    assert counts["same_block"] >= 10 and counts["earlier_non_coinbase"] >= 10


def test_deterministic_per_seed(chain):
    assert make_regtest_chain(N, seed=SEED, validate=False) == chain
    # Pinned, signatures included (RFC 6979 ECDSA, BIP 340 with zero aux_rand): a library or
    # nonce change must not alter the chain, the demo's recordings and the golden files silently.
    assert hashlib.sha256(b"".join(chain)).hexdigest() == "a5c16809d355b564209f83f3377d817539a70e36a37c2a01305465180c6c24b4"
    other = make_regtest_chain(3, seed=SEED + 1, validate=False)
    assert other[0] != chain[0]


def _flip_witness_byte(block: Block, kind: str) -> Block:
    """Rebuild `block` with one signature byte flipped, with a fresh witness commitment and PoW,
    so that only the signature is wrong."""
    txs = list(block.txs)
    for t, tx in enumerate(txs[1:], 1):
        for i, txin in enumerate(tx.inputs):
            w = txin.witness
            if (kind == "p2wpkh" and len(w) == 2) or (kind == "p2tr" and len(w) == 1):
                sig = bytearray(w[0])
                sig[10] ^= 0x01  # inside r (DER) / R (Schnorr): still well-formed, now invalid
                inputs = list(tx.inputs)
                inputs[i] = replace(txin, witness=(bytes(sig),) + w[1:])
                txs[t] = replace(tx, inputs=tuple(inputs))
                return assemble_block(block.header.prev_hash, block.header.time, txs)
    raise AssertionError(f"no {kind} spend in block")


def test_kernel_rejects_flipped_signature(chain, parsed):
    first_spend = parsed[100]  # height 101
    with KernelChain() as kc:
        for raw in chain[:100]:
            kc.submit(raw)
        tip = kc.tip_hash
        for kind in ("p2wpkh", "p2tr"):
            bad = _flip_witness_byte(first_spend, kind)
            assert bad.hash != first_spend.hash
            assert not kc.offer(bad.serialize())
            assert kc.height == 100 and kc.tip_hash == tip
        with pytest.raises(BlockRejectedError):
            kc.submit(_flip_witness_byte(first_spend, "p2tr").serialize())
        # Flipping bytes without recommitting is caught as well (witness commitment mismatch).
        raw = bytearray(chain[100])
        raw[-40] ^= 0x01
        assert not kc.offer(bytes(raw))
        # Control: re-assembling the untouched transactions reproduces the original block,
        # which is accepted, so the rejections above were due to the flipped bytes.
        again = assemble_block(first_spend.header.prev_hash, first_spend.header.time, list(first_spend.txs))
        assert again.serialize() == chain[100]
        assert kc.offer(chain[100]) and kc.height == 101


def test_halving_at_150_accepted_by_kernel():
    blocks = make_regtest_chain(151)
    cb150 = Block.deserialize(blocks[149]).txs[0]
    fees150 = sum(o.value for o in cb150.outputs) - block_subsidy(150)
    assert block_subsidy(149) == 50 * 10**8 and block_subsidy(150) == 25 * 10**8
    assert 0 < fees150 < 10**6  # claimed 25 BTC + fees, and the kernel agreed


def test_taproot_keys_match_bip86_and_secret_tweak():
    # BIP 86 test vector m/86'/0'/0'/0/0.
    internal = bytes.fromhex("cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115")
    assert taproot_output_key(internal).hex() == "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c"
    parities = set()
    for i in range(16):
        k = WalletKey.derive(SEED, "test", i)
        parities.add(k.pubkey[0])
        assert k.output_key == taproot_output_key(k.internal_key)
    assert parities == {2, 3}  # both internal-key parities exercised


def test_hex_round_trip_and_progress(chain, tmp_path):
    path = tmp_path / "regtest.txt"
    write_hex_chain(chain, path)
    assert list(read_blocks(path)) == chain
    assert detect_network(path) == "regtest"
    calls = []
    make_regtest_chain(5, validate=False, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    with pytest.raises(ValueError):
        make_regtest_chain(-1)


def test_bytes_that_are_no_block_are_refused_not_raised():
    from chaincast.txside.chain.kernel import KernelChain

    with KernelChain() as kernel:
        assert kernel.offer(b"\x01" * 50) is False and kernel.height == 0
