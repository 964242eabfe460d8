"""libbitcoinkernel (py-bitcoinkernel, `pbk`) as the judge of the chains we make: a throwaway chainman."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import pbk

from chaincast.fec.wire.bitcoin import block_hash, display_hex
from chaincast.fec.wire.kernel import CHAIN_TYPES, kernel_block
from chaincast.txside.chain.errors import BlockRejectedError
from chaincast.txside.chain.networks import REGTEST, normalize_network


class KernelChain:
    """A chainstate manager in its own data directory (a temporary one unless `datadir` is given).

    Use as a context manager; `close()` drops the chainman before the directory is removed.
    """

    def __init__(self, network: str = REGTEST, datadir: str | Path | None = None):
        self._tmp = tempfile.TemporaryDirectory(prefix="chaincast-kernel-") if datadir is None else None
        path = self._tmp.name if self._tmp else datadir
        self._last_check: tuple[str, str] | None = None
        # block_checked runs synchronously inside process_block, so it reports on the block just offered.
        self._callbacks = pbk.ValidationInterfaceCallbacks(block_checked=self._on_block_checked)
        self._cm: pbk.ChainstateManager | None = pbk.load_chainman(
            path, CHAIN_TYPES[normalize_network(network)], validation_callbacks=self._callbacks
        )

    def _on_block_checked(self, _user_data, _block, state) -> None:
        self._last_check = (state.validation_mode.name, state.block_validation_result.name)

    def __enter__(self) -> KernelChain:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            del cm  # the chainman must be destroyed before its directory goes away
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def chainman(self) -> pbk.ChainstateManager:
        if self._cm is None:
            raise RuntimeError("KernelChain is closed")
        return self._cm

    @property
    def height(self) -> int:
        return self.chainman.get_active_chain().height

    @property
    def tip_hash(self) -> bytes:
        """Hash of the active chain tip, internal byte order."""
        chain = self.chainman.get_active_chain()
        return bytes(chain.block_tree_entries[chain.height].block_hash)

    def offer(self, raw: bytes) -> bool:
        """Process a block; True if it is now the active tip. Rejections return False."""
        self._last_check = None
        try:
            block = kernel_block(raw)
        except RuntimeError:  # pbk's answer to bytes that do not parse as a block
            return False
        try:
            self.chainman.process_block(block)
        except pbk.ProcessBlockException:
            return False
        # process_block's return value only says "newly stored", not "valid": check the tip.
        return self.tip_hash == block_hash(raw)

    def submit(self, raw: bytes) -> None:
        """Process a block that must become the active tip; BlockRejectedError otherwise."""
        if not self.offer(raw):
            h = display_hex(block_hash(raw))
            why = "/".join(self._last_check) if self._last_check else "no validation report"
            raise BlockRejectedError(
                f"libbitcoinkernel did not make block {h} the tip ({why}; tip height {self.height})"
            )


def validate_chain(blocks: Iterable[bytes], network: str = REGTEST) -> tuple[int, bytes]:
    """Feed blocks in order to a fresh chainman; returns (tip height, tip hash) or raises."""
    with KernelChain(network) as kc:
        for raw in blocks:
            kc.submit(raw)
        return kc.height, kc.tip_hash
