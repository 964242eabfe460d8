"""A test double of bitcoind's JSON-RPC server, on loopback, for testing ``chaincast rx --sink rpc``.

This is NOT Bitcoin Core. No bitcoind exists in our package registries, so the RPC sink is tested
against this stand-in, which speaks the part of Bitcoin Core's JSON-RPC dialect the sink uses and
validates every submitted block with libbitcoinkernel (py-bitcoinkernel, the library built from
Bitcoin Core's own validation code) in a datadir of its own. It imports nothing from chaincast.

What it reproduces (from Bitcoin Core's ``src/httprpc.cpp``, ``src/rpc/mining.cpp`` and
``src/rpc/request.cpp``):

- HTTP POST only (405 otherwise); HTTP Basic authentication against the cookie, which it writes as
  ``__cookie__:<64 hex>`` at every start and deletes at stop (as bitcoind does), or against a fixed
  user and password; no ``Authorization`` header: 401 with ``WWW-Authenticate: Basic
  realm="jsonrpc"``; wrong credentials: the same after a 250 ms pause.
- JSON-RPC 1.0 replies ``{"result": ..., "error": ..., "id": ...}``: HTTP 200, or on error HTTP 500
  (404 for an unknown method, -32601); requests with ``"jsonrpc": "2.0"`` get HTTP 200 and only
  ``result`` or ``error``.
- ``getblockcount``, ``getbestblockhash``, ``getblockhash <height>`` (error -8 "Block height out of
  range"), and ``submitblock <hex>`` with Core's logic: undecodable: error -22 "Block decode
  failed"; already had and accepted again: "duplicate"; no validation verdict on the block:
  "inconclusive"; verdict valid: null; verdict invalid: a BIP 22 reason string.

Its limits: it has no P2P, mempool, wallet or batch requests; its kernel is reopened at each start,
like a restarted node; reject reasons are derived from libbitcoinkernel's ``BlockValidationResult``
(the kernel's API gives no reason string), so a block that breaks a consensus rule gets "rejected"
where Core would name the rule (e.g. "bad-cb-amount"), and MUTATED is always "bad-txnmrklroot";
"duplicate-invalid" comes from the kernel's CACHED_INVALID, not from Core's block-index lookup.
For tests it records every call and every submitted block, can answer the next requests with
canned replies (``inject``), and can go down for a while after a number of submissions
(``outage_after``), coming back with a new cookie.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pbk

from chaincast.fec.wire.bitcoin import block_hash, display_hex

CHAIN_TYPES = {"main": pbk.ChainType.MAINNET, "regtest": pbk.ChainType.REGTEST}
REJECT_REASONS = {  # libbitcoinkernel's verdict -> the BIP 22 string Core gives most often for it
    pbk.BlockValidationResult.MUTATED: "bad-txnmrklroot",
    pbk.BlockValidationResult.INVALID_HEADER: "high-hash",
    pbk.BlockValidationResult.MISSING_PREV: "prev-blk-not-found",
    pbk.BlockValidationResult.INVALID_PREV: "bad-prevblk",
    pbk.BlockValidationResult.CACHED_INVALID: "duplicate-invalid",
    pbk.BlockValidationResult.TIME_FUTURE: "time-too-new",
    pbk.BlockValidationResult.HEADER_LOW_WORK: "too-little-chainwork",
}


def display_hash(raw: bytes) -> str:
    return display_hex(block_hash(raw))


class BitcoindDouble:
    def __init__(self, datadir: str | Path, chain: str = "regtest", *, cookie_path: str | Path | None = None,
                 user: str | None = None, password: str | None = None):
        """Cookie authentication at ``cookie_path`` unless ``user`` and ``password`` are given."""
        self.datadir = Path(datadir)
        self.chain_type = CHAIN_TYPES[chain]
        self.cookie_path = Path(cookie_path) if cookie_path is not None else self.datadir / ".cookie"
        self.fixed_credentials = f"{user}:{password}" if user is not None else None
        self.credentials = ""
        self.port = 0  # chosen by the system at the first start, kept across restarts
        self.calls: list[str] = []  # every authenticated call's method
        self.submitted: list[tuple[str, object]] = []  # (display hash, reply) of every submitblock
        self.unauthorized = 0
        self._canned: list[tuple[int, bytes, str]] = []
        self._outage: tuple[int, float] | None = None
        self._lock = threading.Lock()
        self._verdicts: dict[str, tuple[pbk.ValidationMode, pbk.BlockValidationResult]] = {}
        self._callbacks = pbk.ValidationInterfaceCallbacks(block_checked=self._block_checked)
        self._chainman = None
        self._server: ThreadingHTTPServer | None = None
        self.outages_done = 0

    # ------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> BitcoindDouble:
        with self._lock:
            self.datadir.mkdir(parents=True, exist_ok=True)
            self._chainman = pbk.load_chainman(self.datadir, self.chain_type, validation_callbacks=self._callbacks)
            if self.fixed_credentials is None:
                self.credentials = f"__cookie__:{secrets.token_hex(32)}"
                self.cookie_path.parent.mkdir(parents=True, exist_ok=True)
                self.cookie_path.write_text(self.credentials)
                self.cookie_path.chmod(0o600)
            else:
                self.credentials = self.fixed_credentials
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused), delete the cookie, close the kernel (it flushes)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            self._chainman = None
            if self.fixed_credentials is None:
                self.cookie_path.unlink(missing_ok=True)

    def __enter__(self) -> BitcoindDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ test controls
    def inject(self, status: int, body: str, times: int = 1, content_type: str = "application/json") -> None:
        """Answer the next ``times`` authenticated requests with this reply instead of serving them."""
        self._canned += [(status, body.encode(), content_type)] * times

    def outage_after(self, submits: int, down_s: float) -> None:
        """After the ``submits``-th submitblock reply, go down for ``down_s`` and come back (new cookie)."""
        self._outage = (submits, down_s)

    def tip(self) -> tuple[int, str]:
        with self._lock:
            chainman = self._chainman or pbk.load_chainman(self.datadir, self.chain_type)
            chain = chainman.get_active_chain()
            return chain.height, str(chain.block_tree_entries[chain.height].block_hash)

    # ------------------------------------------------------------------ the node
    def _block_checked(self, user_data, block, state) -> None:
        self._verdicts[str(block.block_hash)] = (state.validation_mode, state.block_validation_result)

    def _submitblock(self, hex_block) -> object:
        try:
            raw = bytes.fromhex(hex_block)
            block = pbk.Block(raw)
        except (TypeError, ValueError, RuntimeError):
            raise RpcFault(-22, "Block decode failed") from None
        h = display_hash(raw)
        self._verdicts.pop(h, None)
        try:
            new_block, accepted = self._chainman.process_block(block), True
        except pbk.ProcessBlockException:
            new_block, accepted = False, False
        if accepted and not new_block:
            reply = "duplicate"
        elif h not in self._verdicts:
            reply = "inconclusive"
        else:
            mode, result = self._verdicts[h]
            reply = None if mode == pbk.ValidationMode.VALID else REJECT_REASONS.get(result, "rejected")
        self.submitted.append((h, reply))
        return reply

    def _execute(self, method: str, params: list) -> object:
        with self._lock:
            if self._chainman is None:
                raise RpcFault(-28, "Shutting down")
            chain = self._chainman.get_active_chain()
            if method == "getblockcount":
                return chain.height
            if method == "getbestblockhash":
                return str(chain.block_tree_entries[chain.height].block_hash)
            if method == "getblockhash":
                if len(params) != 1 or not isinstance(params[0], int):
                    raise RpcFault(-3, "Expected type number")
                if not 0 <= params[0] <= chain.height:
                    raise RpcFault(-8, "Block height out of range")
                return str(chain.block_tree_entries[params[0]].block_hash)
            if method == "submitblock":
                if not 1 <= len(params) <= 2 or not isinstance(params[0], str):
                    raise RpcFault(-1, "submitblock \"hexdata\" ( \"dummy\" )")
                return self._submitblock(params[0])
        raise RpcFault(-32601, "Method not found")

    def _after_reply(self, method: str) -> None:
        if method == "submitblock" and self._outage is not None and len(self.submitted) >= self._outage[0]:
            down_s = self._outage[1]
            self._outage = None

            def outage():
                self.stop()
                time.sleep(down_s)
                self.start()
                self.outages_done += 1

            threading.Thread(target=outage, daemon=True).start()

    def _handler_class(self):
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, status: int, body: bytes, content_type: str = "application/json", extra=()) -> None:
                self.send_response(status)
                for name, value in extra:
                    self.send_header(name, value)
                if body:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._reply(405, b"JSONRPC server handles only POST requests", "text/plain")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                auth = self.headers.get("Authorization")
                challenge = [("WWW-Authenticate", 'Basic realm="jsonrpc"')]
                if auth is None:
                    self._reply(401, b"", extra=challenge)
                    return
                try:
                    given = base64.b64decode(auth.removeprefix("Basic ").strip()).decode()
                except (ValueError, binascii.Error):
                    given = None
                if not auth.startswith("Basic ") or not secrets.compare_digest(given or "", node.credentials):
                    node.unauthorized += 1
                    time.sleep(0.25)  # Core deters brute-forcing the same way
                    self._reply(401, b"", extra=challenge)
                    return
                if node._canned:
                    status, canned, content_type = node._canned.pop(0)
                    self._reply(status, canned, content_type)
                    return
                try:
                    request = json.loads(body)
                except ValueError:
                    self._error(500, None, -32700, "Parse error", legacy=True)
                    return
                if not isinstance(request, dict):
                    self._error(500, None, -32700, "Top-level object parse error", legacy=True)
                    return
                legacy = request.get("jsonrpc") != "2.0"
                method, params, rid = request.get("method"), request.get("params", []), request.get("id")
                node.calls.append(str(method))
                try:
                    result = node._execute(str(method), params if isinstance(params, list) else [])
                except RpcFault as fault:
                    status = 404 if fault.code == -32601 else 500
                    self._error(status if legacy else 200, rid, fault.code, fault.message, legacy)
                    return
                reply = {"result": result, "error": None, "id": rid} if legacy else {"jsonrpc": "2.0", "result": result, "id": rid}
                self._reply(200, json.dumps(reply).encode())
                node._after_reply(str(method))

            def _error(self, status: int, rid, code: int, message: str, legacy: bool) -> None:
                error = {"code": code, "message": message}
                reply = {"result": None, "error": error, "id": rid} if legacy else {"jsonrpc": "2.0", "error": error, "id": rid}
                self._reply(status, json.dumps(reply).encode())

        return Handler


class RpcFault(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message
