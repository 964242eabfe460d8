"""A deterministic regtest chain with real, signed segwit v0 and taproot transactions.

Heights 1..100 are coinbase-only. From height 101 (coinbase maturity 100) each block spends
the coinbase mined 100 blocks earlier and some older wallet outputs:

  tx_a  P2WPKH coinbase output  -> P2TR payment + P2WPKH change       (BIP 143, ECDSA)
  tx_b  P2TR coinbase output    -> P2WPKH payment + P2TR change       (BIP 341, Schnorr)
  tx_c  tx_a's P2TR output (same block) + the oldest wallet output    (in-block and
        from earlier blocks                                              cross-block chains)
  tx_d  two more older wallet outputs -> one output (consolidation; when available)

Fees go to the coinbase, which pays P2WPKH and P2TR (BIP 86 key path) keys derived from the
seed. Timestamps are genesis time + 600 s * height; every block is mined at regtest
difficulty and, by default, validated by libbitcoinkernel as it is made.
"""

from __future__ import annotations

import os
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from embit.script import Script, p2pkh_from_p2wpkh
from embit.transaction import SIGHASH, Transaction

from chaincast.txside.chain.block import Block
from chaincast.txside.chain.keys import WalletKey
from chaincast.txside.chain.mining import (
    REGTEST_GENESIS_HASH,
    REGTEST_GENESIS_TIME,
    assemble_block,
    block_subsidy,
    make_coinbase,
)
from chaincast.txside.chain.tx import OutPoint, Tx, TxIn, TxOut

COINBASE_MATURITY = 100
BLOCK_INTERVAL = 600
P2WPKH, P2TR = "p2wpkh", "p2tr"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Coin:
    """A spendable output of our wallet and the key that controls it."""

    outpoint: OutPoint
    txout: TxOut
    key: WalletKey
    kind: str  # P2WPKH or P2TR


def _script_for(key: WalletKey, kind: str) -> bytes:
    return key.p2wpkh_script if kind == P2WPKH else key.p2tr_script


def sign_tx(tx: Tx, coins: list[Coin]) -> Tx:
    """Fill in the witnesses of `tx`, whose inputs spend `coins` in order. The signature hashes are
    embit's: BIP 143 for P2WPKH (script code: the P2PKH script of the key hash), BIP 341 key path
    for P2TR (it commits to every spent amount and scriptPubKey, so all of them are passed)."""
    unsigned = Transaction.parse(tx.serialize(with_witness=False))
    spent_scripts = [Script(c.txout.script_pubkey) for c in coins]
    spent_values = [c.txout.value for c in coins]
    inputs = []
    for i, (txin, coin) in enumerate(zip(tx.inputs, coins)):
        if coin.kind == P2WPKH:
            script_code = p2pkh_from_p2wpkh(spent_scripts[i])
            digest = unsigned.sighash_segwit(i, script_code, coin.txout.value, SIGHASH.ALL)
            witness = (coin.key.sign_ecdsa(digest) + bytes((SIGHASH.ALL,)), coin.key.pubkey)
        else:
            # SIGHASH_DEFAULT: 64-byte signature, no hash-type byte (BIP 341).
            digest = unsigned.sighash_taproot(i, spent_scripts, spent_values, SIGHASH.DEFAULT)
            witness = (coin.key.sign_taproot(digest),)
        inputs.append(replace(txin, witness=witness))
    return replace(tx, inputs=tuple(inputs))


class _Wallet:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)
        self.n_keys = 0
        self.coinbase_coins: dict[int, list[Coin]] = {}
        self.pool: deque[Coin] = deque()  # confirmed non-coinbase outputs, oldest first
        self.fees = 0  # fees of the block being built, claimed by its coinbase

    def new_key(self, label: str = "wallet") -> WalletKey:
        self.n_keys += 1
        return WalletKey.derive(self.seed, label, self.n_keys)

    def spend(self, coins: list[Coin], kinds: list[str]) -> tuple[Tx, list[Coin]]:
        """Signed tx spending `coins` into outputs of `kinds`; the first output gets a random
        share (a payment), the last the remainder minus the fee (the change)."""
        total = sum(c.txout.value for c in coins)
        fee = 500 + 300 * len(coins) + 100 * len(kinds) + self.rng.randrange(1000)
        self.fees += fee
        keys = [self.new_key() for _ in kinds]
        values = []
        left = total - fee
        for _ in kinds[:-1]:
            v = left * self.rng.randrange(20, 60) // 100
            values.append(v)
            left -= v
        values.append(left)
        outputs = tuple(TxOut(v, _script_for(k, kind)) for v, k, kind in zip(values, keys, kinds))
        inputs = tuple(TxIn(c.outpoint, b"", 0xFFFFFFFD) for c in coins)  # BIP 125 signalling, no timelock
        tx = sign_tx(Tx(2, inputs, outputs, 0), coins)
        new = [Coin(OutPoint(tx.txid, i), o, k, kind) for i, (o, k, kind) in enumerate(zip(outputs, keys, kinds))]
        return tx, new

    def block_txs(self, height: int) -> list[Tx]:
        self.fees = 0
        mature = self.coinbase_coins.pop(height - COINBASE_MATURITY, None)
        if not mature:
            return []
        cb_wpkh, cb_tr = mature
        tx_a, out_a = self.spend([cb_wpkh], [P2TR, P2WPKH])
        tx_b, out_b = self.spend([cb_tr], [P2WPKH, P2TR])
        older = [self.pool.popleft()] if self.pool else []
        tx_c, out_c = self.spend([out_a[0]] + older, [P2WPKH, P2TR])
        txs, created = [tx_a, tx_b, tx_c], [out_a[1], *out_b, *out_c]
        if len(self.pool) >= 2:
            pair = [self.pool.popleft(), self.pool.popleft()]
            tx_d, out_d = self.spend(pair, [P2TR if height % 2 else P2WPKH])
            txs.append(tx_d)
            created += out_d
        self.pool.extend(created)
        return txs

    def coinbase_keys(self, height: int) -> tuple[WalletKey, WalletKey]:
        return WalletKey.derive(self.seed, "coinbase-wpkh", height), WalletKey.derive(self.seed, "coinbase-tr", height)

    def coinbase(self, height: int, fees: int) -> Tx:
        value = block_subsidy(height) + fees
        k_wpkh, k_tr = self.coinbase_keys(height)
        outputs = (TxOut(value // 2, k_wpkh.p2wpkh_script), TxOut(value - value // 2, k_tr.p2tr_script))
        return make_coinbase(height, outputs, tag=f"chaincast/{self.seed}".encode())

    def record_coinbase(self, height: int, coinbase: Tx) -> None:
        k_wpkh, k_tr = self.coinbase_keys(height)
        self.coinbase_coins[height] = [
            Coin(OutPoint(coinbase.txid, 0), coinbase.outputs[0], k_wpkh, P2WPKH),
            Coin(OutPoint(coinbase.txid, 1), coinbase.outputs[1], k_tr, P2TR),
        ]


def make_regtest_chain(
    n_blocks: int, *, seed: int = 0, validate: bool = True, progress: Progress | None = None
) -> list[bytes]:
    """Raw blocks for heights 1..n_blocks on top of the regtest genesis, deterministic in `seed`.

    With `validate`, each block is fed to libbitcoinkernel and must become the active tip
    (BlockRejectedError otherwise). `progress(done, total)` is called after each block.
    """
    if not isinstance(n_blocks, int) or n_blocks < 0:
        raise ValueError(f"n_blocks must be a non-negative int, got {n_blocks!r}")
    from chaincast.txside.chain.kernel import KernelChain  # pbk is only needed to validate

    wallet = _Wallet(seed)
    blocks: list[bytes] = []
    prev = REGTEST_GENESIS_HASH
    kernel = KernelChain() if validate else None
    try:
        for height in range(1, n_blocks + 1):
            txs = wallet.block_txs(height)
            block: Block = assemble_block(
                prev, REGTEST_GENESIS_TIME + BLOCK_INTERVAL * height, [wallet.coinbase(height, wallet.fees)] + txs
            )
            wallet.record_coinbase(height, block.txs[0])
            raw = block.serialize()
            if kernel is not None:
                kernel.submit(raw)
            blocks.append(raw)
            prev = block.hash
            if progress is not None:
                progress(height, n_blocks)
    finally:
        if kernel is not None:
            kernel.close()
    return blocks


def write_hex_chain(blocks: Iterable[bytes], path: str | os.PathLike) -> None:
    """Write one lowercase hex block per line (the format `sources.read_blocks` reads)."""
    p = Path(path)
    with p.open("w", encoding="ascii") as fh:
        for raw in blocks:
            fh.write(raw.hex())
            fh.write("\n")
