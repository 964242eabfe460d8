"""A loopback stand-in for Bitcoin Core, for testing the uplink's node follower.

No bitcoind is in our package registries, so the uplink is tested against this double. What it
does: Bitcoin Core's JSON-RPC dialect over HTTP on 127.0.0.1 (``http.server`` in a thread), HTTP
basic auth with a cookie file it writes (``__cookie__:<random hex>``, as Core does) or a fixed
user/password, batches (a JSON array of calls), and Core's ZMQ notifications on a real pyzmq PUB
socket on 127.0.0.1: multipart ``[b"rawblock", block, seq u32 LE]`` and ``[b"hashblock", hash
in display order, seq u32 LE]``, each topic with its own sequence counter.

Its limits (what it is not):

* Methods: getblockcount, getbestblockhash, getblockhash, getblock (verbosity 0 only: hex),
  getblockheader (verbose true: hash, height, previousblockhash, confirmations; false: hex),
  getblockchaininfo (chain, blocks, bestblockhash). Anything else answers error -32601 as Core does.
  Errors use Core's codes (-5 unknown block, -8 height out of range, -32601 unknown method) and
  HTTP statuses (401 with an empty body for bad credentials; 500 for an RPC error; 404 for an
  unknown method).
* No validation, no mempool, no P2P, no wallet: it serves the blocks it is given, and trusts that
  each extends the one before it (``add_block``) or that a reorg's blocks form a chain
  (``reorg``). The chain is only what is in memory.
* One best chain; blocks that a reorg disconnects are forgotten (Core would keep them).
* ZMQ: one endpoint for both topics; no ``sequence`` or ``rawtx`` topics; a message published
  before a subscriber has connected is lost (ZMQ's slow-joiner behaviour, as with Core).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import zmq

from chaincast.fec.wire.bitcoin import block_hash


# Regtest's genesis block (Core's chainparams: mainnet's genesis transaction, time 1296688602,
# bits 0x207fffff, nonce 2); ../shared/data's regtest chain starts at height 1 on top of it.
REGTEST_GENESIS = bytes.fromhex(
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
    "67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f200200000001010000000100000000000000000000"
    "00000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f"
    "4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f75742066"
    "6f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a6"
    "7962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, http_status: int = 500):
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status


class NodeDouble:
    """``blocks``: the chain from genesis (raw bytes). ``datadir``: where the cookie goes
    (``datadir/[regtest/].cookie`` for ``chain``); ``user``/``password``: accepted as well."""

    def __init__(self, blocks: list[bytes], datadir: Path, *, chain: str = "regtest", user: str = "alice",
                 password: str = "secret", zmq_pub: bool = True):
        self.chain_name = chain
        self._lock = threading.Lock()
        self._blocks: list[bytes] = []
        self._hashes: list[bytes] = []
        self._height_of: dict[bytes, int] = {}
        for raw in blocks:
            self._append(raw)
        self.cookie_file = Path(datadir) / ("" if chain == "main" else chain) / ".cookie"
        self.cookie_file.parent.mkdir(parents=True, exist_ok=True)
        self.cookie_file.write_text(f"__cookie__:{os.urandom(32).hex()}")
        self._accepted = {self._basic(self.cookie_file.read_text()), self._basic(f"{user}:{password}")}
        self.calls: list[str] = []
        self.auth_failures = 0
        self.closed = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.rpc_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="node-double-rpc", daemon=True)
        self._pub = None
        self.zmq_url = None
        self._seq = {b"rawblock": 0, b"hashblock": 0}
        if zmq_pub:
            self._context = zmq.Context()
            self._pub = self._context.socket(zmq.PUB)
            port = self._pub.bind_to_random_port("tcp://127.0.0.1")
            self.zmq_url = f"tcp://127.0.0.1:{port}"

    @staticmethod
    def _basic(pair: str) -> str:
        return "Basic " + base64.b64encode(pair.strip().encode()).decode()

    def __enter__(self) -> "NodeDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True  # kept-alive connections are dropped at their next request, as a stopped node's are
        self._server.shutdown()
        self._server.server_close()
        if self._pub is not None:
            self._pub.close(linger=0)
            self._context.term()

    # ---------------------------------------------------------------- the chain

    def _append(self, raw: bytes) -> None:
        h = block_hash(raw)
        self._height_of[h] = len(self._blocks)
        self._blocks.append(raw)
        self._hashes.append(h)

    @property
    def height(self) -> int:
        return len(self._blocks) - 1

    def add_block(self, raw: bytes, notify: bool = True) -> float:
        """Connect ``raw`` on top and publish ``hashblock`` then ``rawblock``; returns the
        ``time.monotonic()`` just before the first notification went out."""
        with self._lock:
            self._append(raw)
        return self._notify([raw]) if notify else time.monotonic()

    def reorg(self, fork_height: int, blocks: list[bytes], notify: bool = True) -> float:
        """Replace everything above ``fork_height`` with ``blocks``; notifies each connected block."""
        with self._lock:
            for h in self._hashes[fork_height + 1 :]:
                del self._height_of[h]
            del self._blocks[fork_height + 1 :], self._hashes[fork_height + 1 :]
            for raw in blocks:
                self._append(raw)
        return self._notify(blocks) if notify else time.monotonic()

    def _notify(self, blocks: list[bytes]) -> float:
        at = time.monotonic()
        if self._pub is not None:
            for raw in blocks:
                for topic, body in ((b"hashblock", block_hash(raw)[::-1]), (b"rawblock", raw)):
                    self._pub.send_multipart([topic, body, self._seq[topic].to_bytes(4, "little")])
                    self._seq[topic] += 1
        return at

    # ---------------------------------------------------------------- JSON-RPC

    def _dispatch(self, method: str, params: list):
        self.calls.append(method)
        with self._lock:
            if method == "getblockcount":
                return self.height
            if method == "getbestblockhash":
                return self._hashes[-1][::-1].hex()
            if method == "getblockhash":
                height = params[0] if params else None
                if not isinstance(height, int) or not 0 <= height <= self.height:
                    raise RpcFailure(-8, "Block height out of range")
                return self._hashes[height][::-1].hex()
            if method in ("getblock", "getblockheader"):
                try:
                    h = bytes.fromhex(params[0])[::-1]
                    height = self._height_of[h]
                except (IndexError, ValueError, KeyError, TypeError):
                    raise RpcFailure(-5, "Block not found") from None
                raw = self._blocks[height]
                if method == "getblock":
                    if (params[1] if len(params) > 1 else 1) != 0:
                        raise RpcFailure(-32603, "node double: only verbosity 0")
                    return raw.hex()
                if len(params) > 1 and params[1] is False:
                    return raw[:80].hex()
                header = {"hash": params[0], "height": height, "confirmations": self.height - height + 1}
                if height > 0:
                    header["previousblockhash"] = self._hashes[height - 1][::-1].hex()
                return header
            if method == "getblockchaininfo":
                return {"chain": self.chain_name, "blocks": self.height, "bestblockhash": self._hashes[-1][::-1].hex()}
        raise RpcFailure(-32601, "Method not found", 404)

    def _reply(self, call) -> tuple[int, dict]:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return 400, {"result": None, "error": {"code": -32600, "message": "Invalid Request object"}, "id": None}
        try:
            result = self._dispatch(call["method"], list(call.get("params") or []))
            return 200, {"result": result, "error": None, "id": call.get("id")}
        except RpcFailure as failure:
            return failure.http_status, {"result": None, "error": {"code": failure.code, "message": failure.message},
                                         "id": call.get("id")}

    def _handler_class(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Core's server
            wbufsize = 1 << 16  # head and body leave in one segment (else Nagle + delayed ACK: 40 ms a call)

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if double.closed:
                    self.close_connection = True
                    return
                if self.headers.get("Authorization") not in double._accepted:
                    double.auth_failures += 1
                    self._send(401, b"")
                    return
                try:
                    request = json.loads(body)
                except ValueError:
                    self._send(500, json.dumps({"result": None, "error": {"code": -32700, "message": "Parse error"},
                                                "id": None}).encode())
                    return
                if isinstance(request, list):  # a batch: always HTTP 200, errors inside
                    self._send(200, json.dumps([double._reply(call)[1] for call in request]).encode())
                else:
                    status, reply = double._reply(request)
                    self._send(status, json.dumps(reply).encode())

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
