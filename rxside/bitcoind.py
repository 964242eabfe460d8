"""A minimal JSON-RPC client for a running Bitcoin Core node (adapter, stdlib only): one HTTP POST per call.

Bitcoin Core's dialect (``src/httprpc.cpp``, ``src/rpc/request.cpp``, ``doc/JSON-RPC-interface.md``):

- A request without a ``"jsonrpc"`` member is JSON-RPC 1.0 ("legacy", what we send): the reply is
  ``{"result": ..., "error": ..., "id": ...}`` with both members present, HTTP 200 on success; on
  failure ``error`` is ``{"code": int, "message": str}`` and the status is HTTP 500, or 404 for an
  unknown method (code -32601), 400 for an invalid request (-32600). (JSON-RPC 2.0 requests, Core
  28+, get HTTP 200 for errors too; this client reads the body whatever the status.)
- HTTP Basic authentication: ``user:password`` from ``-rpcuser``/``-rpcpassword``, or the cookie
  file bitcoind writes when it starts (``<datadir>/<chain>/.cookie``, contents ``__cookie__:<hex>``,
  new at every start, deleted at shutdown), so the cookie is read again for every call.
- No or wrong credentials: HTTP 401 with an empty body (after 250 ms); a client outside
  ``-rpcallowip``: 403; a full work queue: 503 with a plain-text body; still starting: HTTP 500 with
  error code -28 (``RPC_IN_WARMUP``).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

RPC_IN_WARMUP = -28  # Bitcoin Core's RPCErrorCode: "Loading block index..." and the like
RPC_INVALID_PARAMETER = -8  # e.g. getblockhash beyond the tip: "Block height out of range"
DEFAULT_RPC_PORTS = {"main": 8332, "testnet": 18332, "testnet4": 48332, "signet": 38332, "regtest": 18443}


class RpcError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str):
        super().__init__(f"error {code}: {message}")
        self.code, self.message = code, message


class RpcUnreachable(Exception):
    """No usable answer: connection refused or reset, timeout, no cookie file, HTTP 5xx without JSON."""


class RpcAuthError(Exception):
    """HTTP 401 or 403: the node refused these credentials or this client."""


class BitcoinRpc:
    def __init__(self, url: str, *, cookie_path: str | Path | None = None, user: str | None = None,
                 password: str | None = None, timeout_s: float = 30.0):
        """``url``: ``http://host:port[/path]``; credentials: ``cookie_path`` or ``user`` and ``password``."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--rpc-url {url!r}: expected http://HOST:PORT (Bitcoin Core serves plain HTTP)")
        self.url = url
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.cookie_path = Path(cookie_path) if cookie_path is not None else None
        self.user, self.password = user, password
        self.timeout_s = timeout_s
        self._next_id = 0

    def _authorization(self) -> str:
        if self.cookie_path is not None:
            try:
                user_pass = self.cookie_path.read_text().strip()
            except FileNotFoundError:
                raise RpcUnreachable(f"no cookie file {self.cookie_path} (is bitcoind running?)") from None
            except OSError as bad:
                raise RpcAuthError(f"cookie file {self.cookie_path}: {bad.strerror}") from None
        else:
            user_pass = f"{self.user}:{self.password}"
        return "Basic " + base64.b64encode(user_pass.encode()).decode()

    def call(self, method: str, *params):
        """The call's ``result``; raises ``RpcError``, ``RpcUnreachable`` or ``RpcAuthError``."""
        self._next_id += 1
        body = json.dumps({"id": self._next_id, "method": method, "params": list(params)}).encode()
        headers = {"Authorization": self._authorization(), "Content-Type": "application/json"}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        try:
            conn.request("POST", self.path, body, headers)
            response = conn.getresponse()
            status, payload = response.status, response.read()
        except (OSError, http.client.HTTPException) as bad:  # refused, reset, timeout, garbled reply
            reason = "timed out" if isinstance(bad, socket.timeout) else (getattr(bad, "strerror", None) or str(bad) or type(bad).__name__)
            raise RpcUnreachable(reason) from None
        finally:
            conn.close()
        if status in (401, 403):
            what = "refused the credentials" if status == 401 else "refused this client (rpcallowip?)"
            raise RpcAuthError(f"HTTP {status}: the node {what}")
        try:
            reply = json.loads(payload)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or not ("result" in reply or "error" in reply):
            text = payload.decode(errors="replace").strip().splitlines()
            raise RpcUnreachable(f"HTTP {status}" + (f": {text[0][:200]}" if text else ""))
        error = reply.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise RpcError(int(error.get("code", 0)), str(error.get("message", "")))
            raise RpcError(0, str(error))
        return reply.get("result")
