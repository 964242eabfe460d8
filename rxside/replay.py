"""``chaincast replay``: a recording served as an rtl_tcp server (adapter).

    chaincast replay REC --rtl-tcp [HOST:]PORT [--speed X] [--loop] [--drop-after SECONDS]

Tests a set-up without a dish (``chaincast rx rtl_tcp://127.0.0.1:1234``), and lets any rtl_tcp
client (GNU Radio's osmosdr source, SDR++, GQRX) look at a chaincast signal. The protocol is
``chaincast.rxside.rtltcp``'s. What the server does, and what a client sees:

- The greeting says R820T with 29 gains, then cu8 samples flow: a cu8 recording's own bytes; a
  cf32 one quantised with ``--cf32-scale`` codes per unit (127.5, the default, is the exact inverse
  of how the receiver reads cu8; a warning says when more than 1% of the codes clip at 0 or 255).
- Samples are paced by the wall clock at the recording's rate times ``--speed``, in chunks of
  ``CHUNK_SAMPLES``, each sent once the clock has passed its last sample (as a radio hands over a
  buffer once it is full). The recording plays like a broadcast from the first connection on:
  a client that falls more than ``MAX_LAG_S`` behind is skipped ahead, and one that connects
  later, or again after a loss, starts where the clock has got to. The samples in between are
  lost, as with a real radio, and never buffered without bound.
- One client at a time. Another one that connects meanwhile is accepted and closed at once
  (``event=refuse``), so it sees the connection closed before a greeting rather than waiting in
  silence as it would with rtl_tcp.
- The client's commands are logged, not obeyed (nothing is retuned or resampled); a sample rate
  other than the recording's gets a warning line as well.
- At the end of the recording the connection is closed once its last samples are sent and the
  server exits 0 (it does not wait for the client to go). With ``--loop`` it starts over without
  a break in the stream. ``--drop-after S`` closes the first connection that has streamed for S
  seconds (a test aid for reconnection), then serves the next client from where the clock is.
- SIGINT or SIGTERM: the connection and the port are closed and the server exits 0.

Every event is one line on stderr (``chaincast.rxside.logfmt``), e.g.::

    chaincast replay: ts=... event=listen host=127.0.0.1 port=1234 recording=up.sigmf-meta ...
    chaincast replay: ts=... event=command client=127.0.0.1:40222 command=set_sample_rate value=2400000

Events: listen, connect, command, warning, skip, refuse, drop, disconnect, loop (``loops=N``
restarts so far; one line per 10 s at most), end, stop.
"""

from __future__ import annotations

import argparse
import math
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.logfmt import EventLog
from chaincast.rxside.rtltcp import COMMAND, R820T_GAIN_COUNT, SET_SAMPLE_RATE, TUNER_R820T, Command, Greeting
from chaincast.rxside.source import FileSource, raw_to_complex
from chaincast.sdr.channel import quantize_cu8

DEFAULT_HOST = "127.0.0.1"  # only this machine, unless the user names an address
CHUNK_SAMPLES = 16384  # per send: 6.8 ms at 2.4 Msps, 68 ms at 240 ksps (smooth pacing at any rate)
# Of wall clock a client may fall behind before it is skipped ahead. rtl_tcp queues up to 500 USB
# buffers (27 s at 2.4 Msps) before it drops any; stale samples are no use to a receiver, so less here.
MAX_LAG_S = 0.5
POLL_S = 0.25  # how often a waiting server looks at a stop signal
LINGER_S = 1.0  # after the last samples, wait this long for the client to close first (see _close)
CF32_SCALE = 127.5  # cu8 codes per unit of cf32 amplitude: the inverse of cu8_to_complex
CLIP_WARNING_SHARE = 0.01  # of cu8 codes at 0 or 255, in one chunk of a converted cf32 recording
LOOP_LOG_S = 10.0  # at most one event=loop line per this many seconds
MAX_SPEED = 1000.0
BACKLOG = 8


# ------------------------------------------------------------------------------------------ core


def parse_listen(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); port 0 asks the system for a free one. An IPv6 host is
    written in brackets: ``[::1]:1234``. ReceiverError naming the option otherwise."""
    host, colon, port = text.rpartition(":")
    if not colon:
        host = DEFAULT_HOST
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or (":" in host and not text.startswith("[")):
        raise ReceiverError(f"--rtl-tcp {text}: give [HOST:]PORT, e.g. 1234, 0.0.0.0:1234 or [::1]:1234")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ReceiverError(f"--rtl-tcp {text}: the port must be 0 to 65535 (0: any free port, printed at start)")
    return host, int(port)


@dataclass(frozen=True)
class StreamClock:
    """Which sample a radio playing the recording has reached at a given time. ``start_s``:
    time.monotonic() of sample 0; ``rate_sps``: samples per second of wall clock (the recording's
    sample rate times the speed). Positions count on across loops of the recording."""

    start_s: float
    rate_sps: float

    def position(self, now_s: float) -> int:
        """Samples captured by ``now_s``."""
        return max(0, math.floor((now_s - self.start_s) * self.rate_sps))

    def time_of(self, position: int) -> float:
        """When sample ``position`` has been captured."""
        return self.start_s + position / self.rate_sps


def catch_up(next_position: int, clock_position: int, chunk_samples: int, max_lag_samples: int) -> int:
    """Where the next chunk starts: ``next_position``, unless the client has fallen more than
    ``max_lag_samples`` behind the clock; then at the newest whole chunk the clock has captured."""
    if clock_position - (next_position + chunk_samples) <= max_lag_samples:
        return next_position
    return clock_position - chunk_samples


def split_commands(buffer: bytes) -> tuple[list[Command], bytes]:
    """The whole 5-byte commands at the start of ``buffer``, and the rest (a command may arrive
    in pieces)."""
    whole = len(buffer) - len(buffer) % COMMAND.size
    commands = [Command.unpack(buffer[i:i + COMMAND.size]) for i in range(0, whole, COMMAND.size)]
    return commands, buffer[whole:]


def full_scale_share(cu8: np.ndarray) -> float:
    """Share of the codes of ``cu8: uint8[2n]`` at 0 or 255 (clipped, or at the ADC's limit)."""
    return float(np.count_nonzero((cu8 == 0) | (cu8 == 255))) / max(1, cu8.size)


# --------------------------------------------------------------------------------------- adapters


class CU8Reader:
    """A recording as cu8 bytes at any sample position, positions taken modulo its length."""

    def __init__(self, source: FileSource, cf32_scale: float = CF32_SCALE):
        self.source = source
        self.datatype = source.info.datatype
        self.bytes_per_sample = source.info.bytes_per_sample
        self.total_samples = source.total_samples
        self.cf32_scale = cf32_scale
        self.last_full_scale = 0.0  # of the last chunk converted from cf32
        self._file = open(source.data_path, "rb")

    def read(self, position: int, n: int) -> bytes:
        """cu8 bytes of samples ``position`` to ``position + n`` (wrapping at the end)."""
        parts, start = [], position % self.total_samples
        while n > 0:
            take = min(n, self.total_samples - start)
            self._file.seek(start * self.bytes_per_sample)
            raw = self._file.read(take * self.bytes_per_sample)
            if len(raw) != take * self.bytes_per_sample:
                raise ReceiverError(f"{self.source.data_path}: shorter than when it was opened (truncated meanwhile?)")
            parts.append(raw if self.datatype == "cu8" else self._to_cu8(raw))
            n, start = n - take, 0
        return b"".join(parts)

    def _to_cu8(self, raw: bytes) -> bytes:
        cu8 = quantize_cu8(raw_to_complex(raw, self.datatype), rms_lsb=self.cf32_scale)
        self.last_full_scale = full_scale_share(cu8)
        return cu8.tobytes()

    def close(self) -> None:
        self._file.close()


@dataclass
class Connection:
    sock: socket.socket
    client: str  # "HOST:PORT", for the log
    started_s: float  # time.monotonic() when it was accepted
    sent_samples: int = 0
    skipped_samples: int = 0
    commands: int = 0


class ReplayServer:
    """Serves ``reader`` on ``listener`` until the recording ends (without loop) or ``stop`` is set."""

    def __init__(self, reader: CU8Reader, listener: socket.socket, sample_rate_hz: float, log: Callable[..., None],
                 speed: float = 1.0, loop: bool = False, drop_after_s: float | None = None,
                 stop: threading.Event | None = None, chunk_samples: int = CHUNK_SAMPLES):
        self.reader = reader
        self.listener = listener
        self.sample_rate_hz = sample_rate_hz
        self.log = log
        self.speed = speed
        self.loop = loop
        self.drop_after_s = drop_after_s
        self.stop = stop or threading.Event()
        self.chunk_samples = chunk_samples
        self.max_lag_samples = max(2 * chunk_samples, int(MAX_LAG_S * sample_rate_hz * speed))
        self.clock: StreamClock | None = None  # set at the first connection
        self.dropped = False
        self.warned_clipping = False
        self._loop_logged_s: float | None = None
        self.greeting = Greeting(TUNER_R820T, R820T_GAIN_COUNT).pack()

    @property
    def ended(self) -> bool:
        """The clock has passed the end of the recording (never, with loop)."""
        return (not self.loop and self.clock is not None
                and self.clock.position(time.monotonic()) >= self.reader.total_samples)

    def run(self) -> None:
        self.listener.settimeout(POLL_S)
        while not self.stop.is_set():
            if self.ended:
                self._end(None)
                return
            try:
                sock, peer = self.listener.accept()
            except TimeoutError:
                continue
            if self._serve(sock, _peer(peer)):
                return

    def _serve(self, sock: socket.socket, client: str) -> bool:
        """One client, until it goes, a drop, a stop or the end of the recording (True)."""
        sock.settimeout(POLL_S)
        now = time.monotonic()
        if self.clock is None:
            self.clock = StreamClock(now, self.sample_rate_hz * self.speed)
        conn = Connection(sock, client, now)
        position = self.clock.position(now)
        self.log("connect", client=client, position=position % self.reader.total_samples,
                 position_s=round(position / self.sample_rate_hz, 3))
        pending = b""  # a command received in part
        try:
            self._send(conn, self.greeting)
            if not self.loop and position >= self.reader.total_samples:
                return self._end(conn)
            while True:
                if self.stop.is_set():
                    self._close(conn, "stopped", linger=False)
                    return False
                now = time.monotonic()
                if (self.drop_after_s is not None and not self.dropped
                        and now - conn.started_s >= self.drop_after_s):
                    self.dropped = True
                    self.log("drop", client=client, after_s=self.drop_after_s)
                    self._close(conn, "drop-after")
                    return False
                end = position + self.chunk_samples
                if not self.loop:
                    end = min(end, self.reader.total_samples)
                due_s = self.clock.time_of(end)
                if now < due_s:
                    pending, gone = self._wait(conn, pending, min(due_s - now, POLL_S))
                    if gone:
                        self._close(conn, gone, linger=False)
                        return False
                    continue
                start = catch_up(position, self.clock.position(now), self.chunk_samples, self.max_lag_samples)
                if start != position:
                    conn.skipped_samples += start - position
                    self.log("skip", client=client, samples=start - position,
                             seconds=round((start - position) / self.sample_rate_hz, 3))
                    position = start
                    if not self.loop and position >= self.reader.total_samples:
                        return self._end(conn)
                    continue
                self._send(conn, self.reader.read(position, end - position))
                conn.sent_samples += end - position
                self._check_clipping(client)
                position = end
                if not self.loop and position >= self.reader.total_samples:
                    return self._end(conn)
                if self.loop and end // self.reader.total_samples > start // self.reader.total_samples:
                    self._log_loop(client, end // self.reader.total_samples)
        except OSError as bad:  # reset, broken pipe, a TCP timeout
            self._close(conn, f"connection lost ({bad.strerror or type(bad).__name__})", linger=False)
            return False

    def _log_loop(self, client: str, loops: int) -> None:
        """The first restart, then one line per ``LOOP_LOG_S`` at most (a short recording loops
        many times a second)."""
        now = time.monotonic()
        if self._loop_logged_s is None or now - self._loop_logged_s >= LOOP_LOG_S:
            self._loop_logged_s = now
            self.log("loop", client=client, loops=loops)

    def _wait(self, conn: Connection, pending: bytes, timeout_s: float) -> tuple[bytes, str]:
        """Up to ``timeout_s`` of reading the client's commands (and refusing other clients):
        the unparsed rest, and why the client has gone ("" while it is there)."""
        readable, _, _ = select.select([conn.sock, self.listener], [], [], max(0.0, timeout_s))
        if self.listener in readable:
            self._refuse(conn.client)
        if conn.sock not in readable:
            return pending, ""
        try:
            raw = conn.sock.recv(4096)
        except TimeoutError:
            return pending, ""
        if not raw:
            return pending, "closed by the client"
        commands, pending = split_commands(pending + raw)
        for command in commands:
            conn.commands += 1
            self.log("command", client=conn.client, **command.log_fields())
            if command.code == SET_SAMPLE_RATE and command.param != round(self.sample_rate_hz):
                self.log("warning", client=conn.client,
                         why=f"the client asks for {command.param} samples/s; the recording is at "
                             f"{self.sample_rate_hz:g} and is sent as it is (not resampled)")
        return pending, ""

    def _refuse(self, serving: str) -> None:
        try:
            sock, peer = self.listener.accept()
        except (TimeoutError, BlockingIOError):
            return
        self.log("refuse", client=_peer(peer), serving=serving, why="one client at a time")
        sock.close()

    def _send(self, conn: Connection, data: bytes) -> None:
        """All of ``data``, however long the client takes (the lag is caught up afterwards), unless
        the server is stopped meanwhile."""
        view = memoryview(data)
        while view and not self.stop.is_set():
            try:
                view = view[conn.sock.send(view):]
            except TimeoutError:
                continue

    def _check_clipping(self, client: str) -> None:
        if self.reader.datatype == "cu8" or self.warned_clipping:
            return
        if self.reader.last_full_scale > CLIP_WARNING_SHARE:
            self.warned_clipping = True
            self.log("warning", client=client,
                     why=f"{self.reader.last_full_scale:.1%} of the cu8 codes are at 0 or 255: the cf32 recording "
                         f"clips at --cf32-scale {self.reader.cf32_scale:g}; a lower scale avoids it")

    def _end(self, conn: Connection | None) -> bool:
        self.log("end", client=conn.client if conn else "-",
                 duration_s=round(self.reader.total_samples / self.sample_rate_hz, 3))
        if conn is not None:
            self._close(conn, "end of the recording")
        return True

    def _close(self, conn: Connection, why: str, linger: bool = True) -> None:
        """Close the connection and log it. With ``linger``: our side first (FIN), then up to
        ``LINGER_S`` for the client to close too, so that the samples already sent are delivered
        (closing with unread commands in the receive buffer would send a reset instead, which may
        discard them)."""
        sock = conn.sock
        if linger:
            try:
                sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + LINGER_S
                while time.monotonic() < deadline and not self.stop.is_set():
                    try:
                        if not sock.recv(4096):
                            break
                    except TimeoutError:
                        continue
            except OSError:
                pass  # the client has gone already
        sock.close()
        rate = self.sample_rate_hz
        self.log("disconnect", client=conn.client, why=why, sent_s=round(conn.sent_samples / rate, 3),
                 skipped_s=round(conn.skipped_samples / rate, 3), commands=conn.commands,
                 connected_s=round(time.monotonic() - conn.started_s, 3))


def _peer(address: tuple) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (IPv4 or IPv6, as the host resolves)."""
    try:
        family = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0][0]
    except OSError as bad:
        raise ReceiverError(f"--rtl-tcp {host}:{port}: no such address ({bad.strerror or bad})") from None
    try:
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as bad:  # create_server's own message repeats the address: the errno's text is enough
        why = os.strerror(bad.errno) if bad.errno else str(bad)
        raise ReceiverError(f"--rtl-tcp {host}:{port}: cannot listen ({why})") from None


# ------------------------------------------------------------------------------------------ command


def replay_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="chaincast replay",
        description="Serve a recording as an rtl_tcp server: for `chaincast rx rtl_tcp://HOST:PORT` without a dish, "
                    "or for GNU Radio, SDR++ or GQRX. Events go to stderr, one line each.")
    p.add_argument("recording", help="a SigMF recording (.sigmf-meta) or a raw .cu8/.cf32 file")
    p.add_argument("--rtl-tcp", required=True, metavar="[HOST:]PORT",
                   help=f"where to listen (host {DEFAULT_HOST} unless given; port 0: any free one, printed in event=listen)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="samples per second as a multiple of the recording's rate (default 1)")
    p.add_argument("--loop", action="store_true", help="start over at the end (default: close and exit 0)")
    p.add_argument("--drop-after", type=float, metavar="SECONDS",
                   help="test aid: close the first connection after it has streamed this long, then serve the next one "
                        "from where the clock has got to")
    p.add_argument("--sample-rate", type=float, metavar="HZ", help="a raw recording's sample rate, in samples/s")
    p.add_argument("--datatype", choices=["cu8", "cf32_le"], help="a raw recording's sample type, if not its suffix's")
    p.add_argument("--cf32-scale", type=float, default=CF32_SCALE, metavar="CODES",
                   help=f"cu8 codes per unit of a cf32 recording's amplitude (default {CF32_SCALE:g}, the inverse of how "
                        f"cu8 is read; a unit-power recording from `chaincast tx` wants about 40)")
    args = p.parse_args(argv)
    if not (math.isfinite(args.speed) and 0 < args.speed <= MAX_SPEED):
        raise ReceiverError(f"--speed {args.speed:g}: must be above 0 and at most {MAX_SPEED:g}")
    if args.drop_after is not None and not (math.isfinite(args.drop_after) and args.drop_after > 0):
        raise ReceiverError(f"--drop-after {args.drop_after:g}: must be a positive number of seconds")
    if not (math.isfinite(args.cf32_scale) and 0 < args.cf32_scale <= 1e6):
        raise ReceiverError(f"--cf32-scale {args.cf32_scale:g}: must be above 0")
    host, port = parse_listen(args.rtl_tcp)
    source = FileSource(args.recording, sample_rate_hz=args.sample_rate, datatype=args.datatype)
    log = EventLog("chaincast replay")
    stop = threading.Event()
    caught: list[int] = []

    def on_signal(signum, _frame):
        caught.append(signum)
        stop.set()

    reader = CU8Reader(source, args.cf32_scale)
    listener = listen(host, port)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        bound_host, bound_port = listener.getsockname()[:2]
        log("listen", host=bound_host, port=bound_port, recording=Path(args.recording).name,
            sample_rate=source.info.sample_rate_hz, datatype=source.info.datatype,
            duration_s=round(source.duration_s, 3), speed=args.speed, loop=args.loop)
        ReplayServer(reader, listener, source.info.sample_rate_hz, log, speed=args.speed, loop=args.loop,
                     drop_after_s=args.drop_after, stop=stop).run()
        if caught:
            log("stop", signal=signal.Signals(caught[0]).name)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        listener.close()
        reader.close()
    return 0
