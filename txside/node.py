"""Following a Bitcoin Core node (adapter): JSON-RPC client, ZMQ block notifications, and the
follower that turns them into ``TipChange`` events for the scheduler.

* ``NodeRpc``: Bitcoin Core's JSON-RPC over HTTP (stdlib ``http.client``), HTTP basic auth from a
  cookie file (``<datadir>/[chain/].cookie``, re-read when the node restarts and rejects the old
  one) or rpcuser/rpcpassword; batches (a JSON array of calls, as Core accepts) for headers.
  Failures are ``NodeError`` subclasses with one line for the user.
* ``ZmqBlocks``: a pyzmq SUB socket on Core's ``-zmqpubrawblock`` / ``-zmqpubhashblock``
  endpoints. Core sends multipart messages ``[topic, body, sequence (u32 LE)]``; ``rawblock``'s
  body is the serialized block, ``hashblock``'s the hash in display (reversed) byte order.
* ``NodeFollower``: keeps the hashes of the best chain's last ``depth`` blocks; a notification (or
  a poll of ``getbestblockhash``: every ``poll_interval_s`` without ZMQ, every
  ``zmq_poll_interval_s`` with it, in case a message was lost) is turned into the blocks that
  left and joined the best chain. A ``rawblock`` extending the tip needs no RPC at all.
* ``BackfillFeeder``: walks the history by height over RPC, round and round, for the backfill.
* ``initial_chain``: what the uplink starts from (the recent blocks and the headers).

Hashes are ``bytes`` in Bitcoin's internal order everywhere here; RPC takes and gives display hex.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import zmq

from chaincast.fec.wire.bitcoin import CHAINS, block_hash, internal_hash
from chaincast.txside.scheduler import ChainBlock, TipChange

log = logging.getLogger("chaincast.follow")

COOKIE_SUBDIR = {name: params.datadir for name, params in CHAINS.items()}  # where bitcoind writes .cookie
BATCH = 1000  # calls per JSON-RPC batch


class NodeError(Exception):
    """The node cannot be used; the message is one line for the user."""


class NodeUnreachable(NodeError):
    pass


class NodeAuthError(NodeError):
    pass


class RpcError(NodeError):
    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"{method}: RPC error {code}: {message}")
        self.method, self.code, self.message = method, code, message


def cookie_path(datadir: str | Path, chain: str = "main") -> Path:
    """Where bitcoind writes its RPC cookie for ``chain`` under ``datadir``."""
    return Path(datadir).expanduser() / COOKIE_SUBDIR[chain] / ".cookie"


def display(block_hash_internal: bytes) -> str:
    return block_hash_internal[::-1].hex()


class NodeRpc:
    """A JSON-RPC client for one thread (it keeps one HTTP connection; ``clone`` for another)."""

    def __init__(self, url: str, *, cookie_file: str | Path | None = None, user: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NodeError(f"RPC URL {url!r} is not http://host:port")
        self.url = url
        self._host, self._port, self._https = parts.hostname, parts.port or 8332, parts.scheme == "https"
        self._path = parts.path or "/"
        self._cookie_file = Path(cookie_file).expanduser() if cookie_file else None
        if parts.username and user is None:
            user, password = unquote(parts.username), unquote(parts.password or "")
        if self._cookie_file is None and user is None:
            raise NodeError("no RPC credentials: give a cookie file (--rpc-cookie or --datadir) or --rpc-user/--rpc-password")
        self._user, self._password = user, password
        self.timeout_s = timeout_s
        self._auth = self._credentials()
        self._conn: http.client.HTTPConnection | None = None
        self._id = 0

    def clone(self) -> "NodeRpc":
        return NodeRpc(self.url, cookie_file=self._cookie_file, user=self._user, password=self._password,
                       timeout_s=self.timeout_s)

    @property
    def where(self) -> str:
        return f"{self._host}:{self._port}"

    def _credentials(self) -> str:
        if self._cookie_file is not None:
            try:
                pair = self._cookie_file.read_text().strip()
            except OSError as error:
                raise NodeAuthError(f"cannot read the RPC cookie {self._cookie_file}: {error.strerror or error}") from None
            if ":" not in pair:
                raise NodeAuthError(f"{self._cookie_file} is not a user:password cookie")
        else:
            pair = f"{self._user}:{self._password or ''}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self._conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                self._conn = cls(self._host, self._port, timeout=self.timeout_s)
            try:
                self._conn.request("POST", self._path, body, {"Authorization": self._auth, "Content-Type": "application/json"})
                response = self._conn.getresponse()
                return response.status, response.read()
            except ConnectionRefusedError:
                self.close()
                raise NodeUnreachable(f"cannot reach the node's RPC at {self.where}: connection refused "
                                      "(is bitcoind running with -server, and is --rpc-url right?)") from None
            except (socket.timeout, TimeoutError):
                self.close()
                raise NodeUnreachable(f"the node's RPC at {self.where} did not answer within {self.timeout_s:g} s") from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a kept-alive connection the node closed: once more on a new one
                if attempt:
                    raise NodeUnreachable(f"the node's RPC at {self.where} closed the connection") from None
            except OSError as error:
                self.close()
                raise NodeUnreachable(f"cannot reach the node's RPC at {self.where}: {error.strerror or error}") from None
        raise AssertionError("unreachable")

    def _exchange(self, payload, what: str):
        body = json.dumps(payload).encode()
        status, data = self._post(body)
        if status == 401 and self._cookie_file is not None:
            self._auth = self._credentials()  # the node may have restarted and written a new cookie
            status, data = self._post(body)
        if status in (401, 403):
            how = f"the cookie {self._cookie_file}" if self._cookie_file else "--rpc-user/--rpc-password"
            raise NodeAuthError(f"the node at {self.where} refused the RPC credentials (HTTP {status}): check {how}")
        try:
            return json.loads(data)
        except ValueError:
            raise NodeError(f"{what}: the node at {self.where} answered HTTP {status} with no JSON-RPC reply") from None

    def call(self, method: str, *params):
        self._id += 1
        reply = self._exchange({"jsonrpc": "1.0", "id": self._id, "method": method, "params": list(params)}, method)
        if not isinstance(reply, dict):
            raise NodeError(f"{method}: malformed JSON-RPC reply")
        return _result(method, reply)

    def batch(self, method: str, param_lists: list[list]) -> list:
        """``method`` called once per parameter list, ``BATCH`` calls per request; results in order."""
        out = []
        for first in range(0, len(param_lists), BATCH):
            chunk = param_lists[first : first + BATCH]
            calls = [{"jsonrpc": "1.0", "id": i, "method": method, "params": params} for i, params in enumerate(chunk)]
            replies = self._exchange(calls, method)
            if not isinstance(replies, list) or len(replies) != len(chunk):
                raise NodeError(f"{method}: malformed JSON-RPC batch reply")
            by_id = {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
            out += [_result(method, by_id.get(i, {})) for i in range(len(chunk))]
        return out

    # The calls the uplink uses.
    def getblockcount(self) -> int:
        return int(self.call("getblockcount"))

    def getbestblockhash(self) -> bytes:
        return internal_hash(self.call("getbestblockhash"))

    def getblockhash(self, height: int) -> bytes:
        return internal_hash(self.call("getblockhash", height))

    def getblock(self, block_hash_internal: bytes) -> bytes:
        """The serialized block (``getblock <hash> 0``)."""
        return bytes.fromhex(self.call("getblock", display(block_hash_internal), 0))

    def getblockheader(self, block_hash_internal: bytes) -> dict:
        """``getblockheader <hash> true``: height, previousblockhash, confirmations, ..."""
        return self.call("getblockheader", display(block_hash_internal), True)

    def getblockheader_raw(self, block_hash_internal: bytes) -> bytes:
        return bytes.fromhex(self.call("getblockheader", display(block_hash_internal), False))

    def getblockchaininfo(self) -> dict:
        return self.call("getblockchaininfo")

    def hashes(self, first: int, last: int) -> list[bytes]:
        return [internal_hash(h) for h in self.batch("getblockhash", [[h] for h in range(first, last + 1)])]

    def headers(self, hashes: list[bytes]) -> bytes:
        return b"".join(bytes.fromhex(h) for h in self.batch("getblockheader", [[display(h), False] for h in hashes]))


def _result(method: str, reply: dict):
    error = reply.get("error")
    if error:
        code = error.get("code", 0) if isinstance(error, dict) else 0
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        raise RpcError(method, code, message)
    if "result" not in reply:
        raise NodeError(f"{method}: JSON-RPC reply without a result")
    return reply["result"]


# ------------------------------------------------------------------------------------------- ZMQ


class ZmqBlocks:
    """Subscribes to ``rawblock`` and ``hashblock`` on each endpoint (Core may publish them on
    different ones). ``receive`` returns (topic, body) pairs, waiting at most ``timeout_s``."""

    TOPICS = (b"rawblock", b"hashblock")

    def __init__(self, endpoints: list[str]):
        self._context = zmq.Context.instance()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, 0)  # Core's own advice: never drop a notification
        for topic in self.TOPICS:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic)
        for endpoint in endpoints:
            self._socket.connect(endpoint)
        self.sequence: dict[bytes, int] = {}
        self.gaps = 0  # messages the sequence numbers say were lost

    def receive(self, timeout_s: float) -> list[tuple[bytes, bytes]]:
        out = []
        if self._socket.poll(int(timeout_s * 1000)):
            while True:
                try:
                    parts = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(parts) != 3 or parts[0] not in self.TOPICS or len(parts[2]) != 4:
                    continue
                topic, body, seq = parts[0], parts[1], int.from_bytes(parts[2], "little")
                if topic in self.sequence and seq != (self.sequence[topic] + 1) & 0xFFFFFFFF:
                    self.gaps += 1
                self.sequence[topic] = seq
                out.append((topic, body))
        return out

    def close(self) -> None:
        self._socket.close(linger=0)


# -------------------------------------------------------------------------------------- follower


def initial_chain(rpc: NodeRpc, recent: int, headers_from: int) -> tuple[bytes, list[ChainBlock], int, bytes]:
    """(genesis hash, the last ``recent`` blocks (not genesis) with their raw bytes, the headers'
    first height, the headers from there to the tip)."""
    tip = rpc.getblockcount()
    genesis = rpc.getblockhash(0)
    first_recent = max(1, tip - recent + 1)  # every node has the genesis block
    headers_from = min(max(0, headers_from), first_recent)
    hashes = rpc.hashes(headers_from, tip)
    log.info("fetching headers", extra={"fields": {"event": "headers_fetch", "from": headers_from, "to": tip}})
    headers = rpc.headers(hashes)
    blocks = []
    for height in range(first_recent, tip + 1):
        h = hashes[height - headers_from]
        blocks.append(ChainBlock(height, h, headers[(height - headers_from) * 80 : (height - headers_from + 1) * 80], rpc.getblock(h)))
    return genesis, blocks, headers_from, headers


class NodeFollower:
    """Turns notifications and polls into ``TipChange`` events (``check``), or runs that in a loop
    (``run``, for a thread) putting them on a queue. ``recent``: blocks whose raw bytes a change
    carries (the carousel's size); ``depth``: blocks of the best chain it remembers, so the
    deepest reorg it follows without a resync."""

    def __init__(self, rpc: NodeRpc, chain: list[ChainBlock], *, recent: int = 144, depth: int = 2016,
                 zmq_endpoints: list[str] | None = None, poll_interval_s: float = 1.0,
                 zmq_poll_interval_s: float = 10.0, headers_from: int = 0, clock: Callable[[], float] = time.monotonic):
        self.rpc = rpc
        self.recent, self.depth = recent, max(depth, recent)
        self.zmq_endpoints = list(zmq_endpoints or [])
        self.poll_interval_s, self.zmq_poll_interval_s = poll_interval_s, zmq_poll_interval_s
        self.headers_from = headers_from
        self.clock = clock
        self._view: OrderedDict[bytes, int] = OrderedDict((b.block_hash, b.height) for b in chain)
        self.tip_hash, self.tip_height = (chain[-1].block_hash, chain[-1].height) if chain else (bytes(32), -1)
        self.errors = 0

    def _remember(self, block_hash_internal: bytes, height: int) -> None:
        self._view[block_hash_internal] = height
        while len(self._view) > self.depth:
            self._view.popitem(last=False)

    def check(self, best: bytes, raw: bytes | None = None, source: str = "poll", notified_at: float | None = None) -> TipChange | None:
        """The change that makes ``best`` the tip (``raw``: its block, if a notification carried it)."""
        notified_at = self.clock() if notified_at is None else notified_at
        if best in self._view:
            return None  # known: an old notification, or the tip we already have
        if raw is not None and raw[4:36] == self.tip_hash:  # extends our tip: no RPC needed
            block = ChainBlock(self.tip_height + 1, best, raw[:80], raw)
            self._apply_view((), (block,))
            return TipChange((block,), (), notified_at, source)
        walked: list[tuple[bytes, int]] = []  # (hash, height), from ``best`` down
        cursor = best
        while cursor not in self._view:
            if len(walked) >= self.depth:
                return self._resync(best, notified_at, source)
            header = self.rpc.getblockheader(cursor)
            height = int(header["height"])
            walked.append((cursor, height))
            if "previousblockhash" not in header:
                break  # genesis: nothing we knew is on this chain
            cursor = internal_hash(header["previousblockhash"])
        fork_height = self._view.get(cursor, -1)
        disconnected = tuple(h for h, height in reversed(self._view.items()) if height > fork_height)
        walked.reverse()
        raw_headers = self.rpc.headers([h for h, _ in walked])
        connected = []
        for i, (h, height) in enumerate(walked):
            body = None
            if i >= len(walked) - self.recent:
                body = raw if (h == best and raw is not None) else self.rpc.getblock(h)
            connected.append(ChainBlock(height, h, raw_headers[i * 80 : (i + 1) * 80], body))
        self._apply_view(disconnected, tuple(connected))
        return TipChange(tuple(connected), disconnected, notified_at, source)

    def _apply_view(self, disconnected: tuple[bytes, ...], connected: tuple[ChainBlock, ...]) -> None:
        for h in disconnected:
            self._view.pop(h, None)
        for block in connected:
            self._remember(block.block_hash, block.height)
        if connected:
            self.tip_hash, self.tip_height = connected[-1].block_hash, connected[-1].height

    def _resync(self, best: bytes, notified_at: float, source: str) -> TipChange:
        """Lost track (a jump deeper than ``depth``): start again from the node's chain."""
        log.warning("resync", extra={"fields": {"event": "resync", "reason": "tip moved further than the follower remembers"}})
        _, blocks, headers_first, headers = initial_chain(self.rpc, self.recent, self.headers_from)
        disconnected = tuple(reversed(self._view))
        self._view.clear()
        for block in blocks:
            self._remember(block.block_hash, block.height)
        self.tip_hash, self.tip_height = blocks[-1].block_hash, blocks[-1].height
        return TipChange(tuple(blocks), disconnected, notified_at, source, resync=True,
                         headers_first=headers_first, headers=headers)

    def run(self, events: "queue.Queue[TipChange]", stop: threading.Event) -> None:
        """Follow until ``stop`` is set: ZMQ messages as they come, polls as a fallback."""
        zmq_blocks = ZmqBlocks(self.zmq_endpoints) if self.zmq_endpoints else None
        interval = self.zmq_poll_interval_s if zmq_blocks else self.poll_interval_s
        next_poll = self.clock()
        try:
            while not stop.is_set():
                try:
                    if zmq_blocks is not None:
                        for topic, body in zmq_blocks.receive(min(0.2, max(0.0, next_poll - self.clock()))):
                            at = self.clock()
                            if topic == b"rawblock" and len(body) >= 80:
                                change = self.check(block_hash(body), body, "zmq-rawblock", at)
                            elif topic == b"hashblock" and len(body) == 32:
                                change = self.check(body[::-1], None, "zmq-hashblock", at)
                            else:
                                continue
                            if change is not None:
                                events.put(change)
                    else:
                        stop.wait(min(0.2, max(0.0, next_poll - self.clock())))
                    if self.clock() >= next_poll and not stop.is_set():
                        next_poll = self.clock() + interval
                        change = self.check(self.rpc.getbestblockhash(), None, "poll")
                        if change is not None:
                            events.put(change)
                except NodeError as error:
                    self.errors += 1
                    log.warning("node error", extra={"fields": {"event": "node_error", "error": str(error)}})
                    next_poll = self.clock() + max(interval, 1.0)
                    stop.wait(1.0)
        finally:
            if zmq_blocks is not None:
                zmq_blocks.close()
            self.rpc.close()


class BackfillFeeder:
    """Walks heights ``first_height`` (at least 1) .. (the tip - ``skip_recent``) over RPC and puts
    ``(height, raw block, cycle)`` on ``out``; then starts again with ``cycle`` + 1."""

    def __init__(self, rpc: NodeRpc, first_height: int, tip_height: Callable[[], int], skip_recent: int):
        first_height = max(1, first_height)  # every node has the genesis block
        self.rpc, self.first_height, self.tip_height, self.skip_recent = rpc, first_height, tip_height, skip_recent
        self.height, self.cycle = first_height, 0

    def run(self, out: "queue.Queue[tuple[int, bytes, int]]", stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                last = self.tip_height() - self.skip_recent
                if last < self.first_height:
                    stop.wait(1.0)
                    continue
                if self.height > last:
                    self.height, self.cycle = self.first_height, self.cycle + 1
                try:
                    raw = self.rpc.getblock(self.rpc.getblockhash(self.height))
                except NodeError as error:
                    log.warning("backfill: node error", extra={"fields": {"event": "node_error", "error": str(error)}})
                    stop.wait(2.0)
                    continue
                while not stop.is_set():
                    try:
                        out.put((self.height, raw, self.cycle), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                self.height += 1
        finally:
            self.rpc.close()
