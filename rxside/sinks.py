"""Delivery sinks besides the datadir: a running bitcoind (``submitblock``) or a folder of raw blocks.

libbitcoinkernel stays the gate. ``SinkDelivery`` wraps a ``ChainDelivery`` and offers the receiver
the same interface; a sink only ever gets blocks of the datadir's active chain (blocks the kernel
validated and connected), read back from the datadir, in height order. So the datadir is the
sink's queue: blocks a sink could not take (bitcoind down, disk full) stay there, are tried again
with a growing pause while the receiver runs and for ``wait_s`` at its end, and after a restart
the sink is asked what it already has (``resume``) and gets the rest. Nothing is lost as long as
the datadir is kept.

Each sink: ``resume(chain) -> int`` (the first height of ``chain``'s active chain the sink lacks)
and ``put(height, display_hash, raw) -> "delivered" | "known" | ("refused", reason)``. A sink
raises ``SinkUnavailable`` for what may pass (a node that is down or starting, a full disk) and
``SinkError`` for what will not (bad credentials, a node on another chain).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from chaincast.rxside.bitcoind import RPC_IN_WARMUP, RPC_INVALID_PARAMETER, BitcoinRpc, RpcAuthError, RpcError, RpcUnreachable
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.kernel import ChainDelivery

DELIVERED, KNOWN, REFUSED = "delivered", "known", "refused"
RETRY_FIRST_S = 0.5  # pause after a sink's first failure; doubled after each further one
RETRY_MAX_S = 8.0
POLL_BUDGET_S = 2.0  # at most this long handing blocks over per poll while receiving (the rest next poll)


class SinkError(ReceiverError):
    """A sink that cannot work as configured (credentials, wrong chain, unusable folder): one line for the user."""


class SinkUnavailable(Exception):
    """A sink that cannot take blocks now but may later: the blocks stay pending."""


@dataclass
class SinkStats:
    sink: str
    sink_target: str  # the node's URL or the folder
    sink_height: int | None = None  # the datadir's active chain is handed over up to here (None: never reached)
    sink_pending: int | None = None  # blocks of the datadir's active chain not yet handed over (None: unknown)
    sink_delivered: int = 0  # handed over in this run (bitcoind: null or "inconclusive"; folder: written)
    sink_known: int = 0  # the sink had them already (bitcoind: "duplicate"; folder: file present)
    sink_refused: int = 0  # bitcoind refused a block libbitcoinkernel validated (skipped; offered again next run)
    sink_retries: int = 0  # failed attempts to reach the sink (each followed by a pause)
    sink_error: str | None = None  # why the sink was last unreachable
    sink_first_refusal: str | None = None  # the first block refused in this run, and why (its children follow)

    def as_dict(self) -> dict:
        return asdict(self)


class SinkDelivery:
    """``ChainDelivery`` plus a sink that follows its active chain; call ``poll()`` regularly."""

    def __init__(self, delivery: ChainDelivery, sink, wait_s: float = 10.0):
        """Contacts the sink at once: a ``SinkError`` (credentials, chain) is raised here, before any
        receiving; a sink that is merely down is retried later. ``wait_s``: how long ``close()``
        keeps trying a sink that is down."""
        self.delivery, self.sink, self.wait_s = delivery, sink, wait_s
        self.stats = delivery.stats  # the receiver's counters are the datadir's
        self.chain_dir = delivery.chain_dir
        self.chain = delivery.chain
        self.sink_stats = SinkStats(sink.name, sink.target)
        self._next: int | None = None  # first height the sink lacks; None: ask the sink
        self._last: tuple[int, str] | None = None  # last (height, hash) handed over: a reorg below it re-asks
        self._failures = 0
        self._retry_at = 0.0
        self.poll()

    # ------------------------------------------------------------------ the receiver's interface
    def submit(self, raw: bytes) -> str:
        return self.delivery.submit(raw)

    def take_connected(self) -> list[bytes]:
        return self.delivery.take_connected()

    def take_rejected_waiting(self) -> list[bytes]:
        return self.delivery.take_rejected_waiting()

    def take_dropped(self) -> list[bytes]:
        return self.delivery.take_dropped()

    @property
    def height_hint(self):
        return self.delivery.height_hint

    @height_hint.setter
    def height_hint(self, hint) -> None:
        self.delivery.height_hint = hint

    def checkpoint(self) -> None:
        self.delivery.checkpoint()

    def tip(self) -> tuple[int, str]:
        return self.delivery.tip()

    def close(self) -> None:
        """Hand over what is pending, trying a sink that is down for up to ``wait_s``; then close the datadir."""
        self.poll(wait_s=self.wait_s, budget_s=float("inf"))
        self.delivery.close()

    # ------------------------------------------------------------------ the sink
    def poll(self, wait_s: float = 0.0, budget_s: float = POLL_BUDGET_S) -> None:
        """Hand the sink what it lacks, unless it is in its pause after a failure. With ``wait_s`` > 0,
        keep retrying a sink that is down until it takes everything or ``wait_s`` has passed."""
        deadline = time.monotonic() + wait_s
        while True:
            if time.monotonic() >= self._retry_at:
                try:
                    self._hand_over(time.monotonic() + budget_s)
                    self._failures = 0
                    break
                except SinkUnavailable as down:
                    self._failures += 1
                    self.sink_stats.sink_retries += 1
                    self.sink_stats.sink_error = str(down)
                    self._retry_at = time.monotonic() + min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (self._failures - 1))
            now = time.monotonic()
            if now >= deadline:
                break
            time.sleep(min(self._retry_at, deadline) - now)
            self._retry_at = min(self._retry_at, deadline)  # one last attempt at the deadline
        self._count_pending()

    def _hand_over(self, stop_at: float) -> None:
        chain = self.delivery
        if self._last is not None:
            height, block_hash = self._last
            if chain.active_height() < height or chain.active_hash(height) != block_hash:
                self._next = None  # the datadir's chain reorganised below what the sink was given
        if self._next is None:
            self._next = self.sink.resume(chain)
            self.sink_stats.sink_height = self._next - 1
        while self._next <= chain.active_height() and time.monotonic() < stop_at:
            block_hash, raw = chain.active_block(self._next)
            outcome = self.sink.put(self._next, block_hash, raw)
            if outcome == DELIVERED:
                self.sink_stats.sink_delivered += 1
            elif outcome == KNOWN:
                self.sink_stats.sink_known += 1
            else:
                self.sink_stats.sink_refused += 1
                if self.sink_stats.sink_first_refusal is None:
                    self.sink_stats.sink_first_refusal = f"block {self._next} {block_hash}: {outcome[1]}"
            self._last = (self._next, block_hash)
            self.sink_stats.sink_height = self._next
            self._next += 1

    def _count_pending(self) -> None:
        if self._next is not None:
            self.sink_stats.sink_pending = max(0, self.delivery.active_height() - (self._next - 1))


# ---------------------------------------------------------------------------------------- bitcoind


class RpcSink:
    """``submitblock`` to a running bitcoind. Replies (Bitcoin Core's ``submitblock``, BIP 22):
    null: accepted; "inconclusive": stored, not (yet) on its best chain; "duplicate": it had the
    block; "duplicate-inconclusive": it had it, not validated; "duplicate-invalid" or any other
    string (a BIP 22 reject reason) or an error object: refused; error -28: still starting."""

    name = "rpc"

    def __init__(self, rpc: BitcoinRpc):
        self.rpc = rpc
        self.target = rpc.url
        self._reached = False  # credentials refused before any success are a configuration error

    def _call(self, method: str, *params):
        try:
            result = self.rpc.call(method, *params)
        except RpcUnreachable as down:
            raise SinkUnavailable(f"bitcoind at {self.target}: {down}") from None
        except RpcAuthError as refused:
            message = f"bitcoind at {self.target}: {refused}"
            if self._reached:  # it took them before: a restarted node with other settings; keep trying
                raise SinkUnavailable(message) from None
            raise SinkError(f"{message} (check --rpc-cookie or --rpc-user/--rpc-password)") from None
        except RpcError as error:
            if error.code == RPC_IN_WARMUP:
                raise SinkUnavailable(f"bitcoind at {self.target} is starting: {error.message}") from None
            raise
        self._reached = True
        return result

    def resume(self, chain: ChainDelivery) -> int:
        """The node's chain and ours agree up to some height (a prefix property: a binary search)."""
        try:
            node_height = self._call("getblockcount")
            genesis = self._call("getblockhash", 0)
        except RpcError as error:
            raise SinkError(f"bitcoind at {self.target}: {error}") from None
        if not isinstance(node_height, int) or not isinstance(genesis, str):
            raise SinkError(f"{self.target} does not answer like bitcoind (getblockcount: {str(node_height)[:40]!r})")
        if genesis != chain.active_hash(0):
            raise SinkError(f"bitcoind at {self.target} is on another chain (genesis {genesis}), not --chain {chain.chain}")
        low, high = 0, min(node_height, chain.active_height())
        while low < high:
            mid = (low + high + 1) // 2
            try:
                same = self._call("getblockhash", mid) == chain.active_hash(mid)
            except RpcError as error:
                if error.code != RPC_INVALID_PARAMETER:  # the node's chain got shorter meanwhile
                    raise SinkError(f"bitcoind at {self.target}: {error}") from None
                same = False
            low, high = (mid, high) if same else (low, mid - 1)
        return low + 1

    def put(self, height: int, block_hash: str, raw: bytes):
        try:
            result = self._call("submitblock", raw.hex())
        except RpcError as error:
            return REFUSED, str(error)
        if result is None or result == "inconclusive":
            return DELIVERED
        if result in ("duplicate", "duplicate-inconclusive"):
            return KNOWN
        return REFUSED, str(result)


# ------------------------------------------------------------------------------------------ folder

BLOCK_FILE = re.compile(r"(\d+)-([0-9a-f]{64})\.blk")


class FolderSink:
    """Raw blocks as ``<height>-<display hash>.blk``, each written to a hidden temporary file, synced
    and renamed (a reader never sees a partial block). A file already there is skipped. On start the
    folder's highest block that is on the datadir's active chain is found and writing goes on
    after it (a file deleted below it is not written again)."""

    name = "folder"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.target = str(self.path)

    def resume(self, chain: ChainDelivery) -> int:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            names = os.listdir(self.path)
        except OSError as bad:
            raise SinkError(f"--out {self.path}: {bad.strerror or bad}") from None
        for name in names:
            if name.startswith(".") and name.endswith(".blk.tmp"):  # left by a killed receiver
                (self.path / name).unlink(missing_ok=True)
        present = {name for name in names if BLOCK_FILE.fullmatch(name)}
        top = chain.active_height()
        for height in sorted({int(BLOCK_FILE.fullmatch(name).group(1)) for name in present}, reverse=True):
            if height <= top and f"{height}-{chain.active_hash(height)}.blk" in present:
                return height + 1
        return 1  # the genesis block is every node's already

    def put(self, height: int, block_hash: str, raw: bytes):
        final = self.path / f"{height}-{block_hash}.blk"
        if final.exists():
            return KNOWN
        temporary = self.path / f".{final.name}.tmp"
        try:
            with open(temporary, "wb") as out:
                out.write(raw)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)
        except OSError as bad:
            try:
                temporary.unlink(missing_ok=True)
            except OSError:
                pass  # removed at the next start
            raise SinkUnavailable(f"folder {self.path}: {bad.strerror or bad}") from None
        return DELIVERED
