"""Delivery to a Bitcoin Core data directory through libbitcoinkernel (py-bitcoinkernel, ``pbk``).

A block reaches ``process_block`` only after the context-free checks (size, proof of work, merkle
root, transactions) pass, so a forged block is never stored. Blocks whose parent the node does not
know wait in a bounded reorder buffer. ``process_block`` returning True means "stored as new", not
"valid": a block counts as validated only once it is on the active chain.

Layout follows Bitcoin Core: mainnet in ``DIR``, the other chains in ``DIR/testnet3``,
``DIR/testnet4``, ``DIR/signet``, ``DIR/regtest`` (each with ``blocks/`` and ``chainstate/``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pbk

from chaincast.fec.wire.bitcoin import CHAINS as CHAIN_PARAMS
from chaincast.fec.wire.bitcoin import block_hash, display_hex
from chaincast.fec.wire.kernel import CHAIN_TYPES, kernel_block

__all__ = ["CHAINS", "ChainDelivery", "DeliveryStats", "block_hash", "display_hex"]

# chain name -> (libbitcoinkernel chain type, Core's data directory below the one given)
CHAINS = {name: (chain_type, CHAIN_PARAMS[name].datadir) for name, chain_type in CHAIN_TYPES.items()}


MAX_REJECTED_REMEMBERED = 100_000  # digests of rejected bytes answered at once next time (~10 MB)


@dataclass
class DeliveryStats:
    blocks_validated: int = 0
    blocks_rejected: int = 0
    blocks_duplicate: int = 0
    blocks_waiting: int = 0  # still in the reorder buffer (parent never arrived)
    blocks_dropped: int = 0  # pushed out of a full reorder buffer


class ChainDelivery:
    """Validates blocks with libbitcoinkernel and stores the valid ones in a Core datadir."""

    def __init__(self, datadir: str | Path, chain: str, reorder_blocks: int = 2048, reorder_bytes: int = 256 << 20):
        if chain not in CHAINS:
            raise ValueError(f"unknown chain {chain!r}; choose from {', '.join(CHAINS)}")
        chain_type, subdir = CHAINS[chain]
        self.chain = chain
        self.chain_dir = Path(datadir) / subdir if subdir else Path(datadir)
        self._chain_type = chain_type
        self._params = pbk.ChainParameters(chain_type).consensus_params
        self._chainman: pbk.ChainstateManager | None = None  # opened on the first block worth storing
        self.reorder_blocks, self.reorder_bytes = reorder_blocks, reorder_bytes
        # Blocks waiting for their parent, oldest first, keyed by (hash, SHA-256 of the bytes): the
        # header fixes the hash but not the witness data, so a mutated-witness copy and the genuine
        # block can both wait, and only connecting tells them apart.
        self._waiting: OrderedDict[tuple[bytes, bytes], bytes] = OrderedDict()
        self._waiting_bytes = 0
        self._children: dict[bytes, set[tuple[bytes, bytes]]] = {}  # parent hash -> waiting children
        self._seen: set[bytes] = set()
        self._rejected: set[bytes] = set()  # SHA-256 of rejected bytes: one forgery counts once
        self._connected: list[bytes] = []  # hashes validated since the last take_connected()
        # block hash -> its height on the checked header chain, or None (rxside.headerchain): when
        # the reorder buffer is full it drops blocks off that chain first, then the highest ones
        self.height_hint: Callable[[bytes], int | None] | None = None
        self._released_rejected: list[bytes] = []  # hashes that waited, then failed (take_connected)
        self._dropped: list[bytes] = []  # hashes pushed out of the full reorder buffer (take_dropped)
        self.stats = DeliveryStats()

    @property
    def chainman(self) -> pbk.ChainstateManager:
        if self._chainman is None:
            self.chain_dir.mkdir(parents=True, exist_ok=True)
            self._chainman = pbk.load_chainman(self.chain_dir, self._chain_type)
        return self._chainman

    def submit(self, raw: bytes) -> str:
        """Offer one block; returns "validated", "rejected", "duplicate" or "waiting"."""
        digest = hashlib.sha256(raw).digest()
        if digest in self._rejected:
            return "rejected"
        outcome = self._submit(raw)
        if outcome == "rejected" and len(self._rejected) < MAX_REJECTED_REMEMBERED:
            self._rejected.add(digest)
        return outcome

    def _submit(self, raw: bytes) -> str:
        if len(raw) < 81:
            self.stats.blocks_rejected += 1
            return "rejected"
        h = block_hash(raw)
        version = (h, hashlib.sha256(raw).digest())
        if h in self._seen or version in self._waiting:
            self.stats.blocks_duplicate += 1
            return "duplicate"
        try:
            block = kernel_block(raw)
            state = block.check(self._params)
        except Exception:  # pbk raises RuntimeError on unparsable bytes
            self.stats.blocks_rejected += 1
            return "rejected"
        if state.validation_mode != pbk.ValidationMode.VALID:
            self.stats.blocks_rejected += 1
            return "rejected"
        if self._on_active_chain(h):
            self._seen.add(h)
            self.stats.blocks_duplicate += 1
            return "duplicate"
        if not self._parent_known(raw[4:36]):
            self._park(version, raw)
            return "waiting"
        outcome = self._connect(h, block)
        if outcome == "validated":
            self._release_children(h)
        return outcome

    def _parent_known(self, prev: bytes) -> bool:
        return pbk.BlockHash(prev) in self.chainman.block_tree_entries

    def _on_active_chain(self, h: bytes) -> bool:
        entries = self.chainman.block_tree_entries
        key = pbk.BlockHash(h)
        if key not in entries:
            return False
        entry = entries[key]
        chain = self.chainman.get_active_chain()
        return entry.height <= chain.height and chain.block_tree_entries[entry.height] == entry

    def _connect(self, h: bytes, block: pbk.Block) -> str:
        self._seen.add(h)
        try:
            self.chainman.process_block(block)
        except pbk.ProcessBlockException:
            self._seen.discard(h)  # other bytes with this header (a mutated witness) may still be the genuine block
            self.stats.blocks_rejected += 1
            return "rejected"
        if self._on_active_chain(h):
            self.stats.blocks_validated += 1
            self._connected.append(h)
            return "validated"
        self._seen.discard(h)
        self.stats.blocks_rejected += 1  # stored but not connected: failed contextual validation
        return "rejected"

    def _park(self, version: tuple[bytes, bytes], raw: bytes) -> None:
        self._waiting[version] = raw
        self._waiting_bytes += len(raw)
        self._children.setdefault(raw[4:36], set()).add(version)
        while len(self._waiting) > self.reorder_blocks or self._waiting_bytes > self.reorder_bytes:
            dropped = self._eviction_victim()
            self._unpark(dropped)
            self._dropped.append(dropped[0])
            self.stats.blocks_dropped += 1
        self.stats.blocks_waiting = len(self._waiting)

    def _eviction_victim(self) -> tuple[bytes, bytes]:
        """The waiting block to drop: the oldest one off the header chain, else the highest one."""
        if self.height_hint is None:
            return next(iter(self._waiting))
        highest, highest_height = None, -1
        for version in self._waiting:
            height = self.height_hint(version[0])
            if height is None:
                return version
            if height > highest_height:
                highest, highest_height = version, height
        return highest

    def _unpark(self, version: tuple[bytes, bytes]) -> bytes:
        raw = self._waiting.pop(version)
        self._waiting_bytes -= len(raw)
        siblings = self._children[raw[4:36]]
        siblings.discard(version)
        if not siblings:
            del self._children[raw[4:36]]
        return raw

    def _release_children(self, parent: bytes) -> None:
        ready = [parent]
        while ready:
            for child in sorted(self._children.get(ready.pop(), ())):
                if child not in self._waiting:
                    continue  # another version of the same block connected first
                h = child[0]
                raw = self._unpark(child)
                if h in self._seen:  # a version of it already connected: this one is a duplicate
                    self.stats.blocks_duplicate += 1
                    continue
                if self._connect(h, kernel_block(raw)) == "validated":
                    ready.append(h)
                else:
                    self._rejected.add(child[1])
                    self._released_rejected.append(h)
        self.stats.blocks_waiting = len(self._waiting)

    def tip(self) -> tuple[int, str]:
        """(height, display hash) of the active chain tip; (-1, "") if nothing was ever opened."""
        if self._chainman is None and not (self.chain_dir / "chainstate").exists():
            return -1, ""
        chain = self.chainman.get_active_chain()
        entry = chain.block_tree_entries[chain.height]
        return chain.height, str(entry.block_hash)

    def active_height(self) -> int:
        """Height of the active chain's tip (0: only the genesis block)."""
        return self.chainman.get_active_chain().height

    def active_hash(self, height: int) -> str:
        """Display hash of the active chain's block at ``height`` (0 <= height <= ``active_height()``)."""
        return str(self.chainman.get_active_chain().block_tree_entries[height].block_hash)

    def active_block(self, height: int) -> tuple[str, bytes]:
        """(display hash, raw bytes) of the active chain's block at ``height``, read back from the
        datadir: only blocks libbitcoinkernel validated and connected are there (about 80 ms/MB)."""
        entry = self.chainman.get_active_chain().block_tree_entries[height]
        return str(entry.block_hash), bytes(self.chainman.blocks[entry])

    def take_connected(self) -> list[bytes]:
        """Hashes of the blocks validated since the last call (a block that waited for its parent
        is validated during the parent's ``submit``)."""
        connected, self._connected = self._connected, []
        return connected

    def take_dropped(self) -> list[bytes]:
        """Hashes of blocks pushed out of the full reorder buffer since the last call, unless
        another version of the same block still waits or connected: the receiver rebuilds them
        from a later pass."""
        dropped, self._dropped = self._dropped, []
        waiting = {version[0] for version in self._waiting}
        return [h for h in dict.fromkeys(dropped) if h not in waiting and h not in self._seen]

    def take_rejected_waiting(self) -> list[bytes]:
        """Hashes of blocks that had been answered "waiting" and failed validation once their
        parent came, since the last call, unless another version of the same block connected."""
        rejected, self._released_rejected = self._released_rejected, []
        return [h for h in rejected if h not in self._seen]

    def checkpoint(self) -> None:
        """Make everything processed so far durable: the kernel flushes its block index and
        chainstate when the manager is destroyed (py-bitcoinkernel has no flush call); the next
        use reopens it (about 50 ms)."""
        self._chainman = None

    def close(self) -> None:
        self._chainman = None  # the kernel flushes the chainstate when the manager is destroyed
