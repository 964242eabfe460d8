"""What a running receiver shows: a status snapshot, a live panel on a terminal, a periodic log
line elsewhere, and an HTTP endpoint for Prometheus and scripts.

``take_snapshot`` reads the receiver's counters and its latest frames into a ``StatusSnapshot``
(frozen, cheap: it runs several times a second in the receive loop). The outputs only show
snapshots: ``StatusDisplay`` (a rich ``Live`` panel grouped for a person pointing a dish),
``StatusLog`` (one ``key=value`` line on stderr every N seconds, for a service's journal),
``MetricsServer`` (``/metrics`` in Prometheus text format, ``/status`` as JSON).

Figures from frames: Es/N0 is the median over the frames of the last ``WINDOW_S`` seconds (by
the frames' own ``time_s``, the input's clock), the margin is that minus the Es/N0 the latest
frame's MODCOD needs for a frame error rate of 1e-3 (``fec.wire.profile.required_esn0_db``: the
decoder alone; the whole receiver needs 0.17-0.30 dB more), and the CFO drift is the slope of a
least-squares line through (time_s, cfo_hz) of the locked frames of the last ``DRIFT_WINDOW_S``
seconds. Frames older than ``STALE_S`` seconds of input (plus one decoding batch) count as gone:
a dish pointed away shows no Es/N0 rather than the last one heard.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import TextIO

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from chaincast.fec.wire.profile import required_esn0_db
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.bigdigits import big_text
from chaincast.rxside.logfmt import format_event

WINDOW_S = 2.0  # Es/N0 median and recent frame error rate: frames of the last this many seconds
DRIFT_WINDOW_S = 10.0  # CFO drift: locked frames of the last this many seconds
DRIFT_MIN_FRAMES = 3
DRIFT_MIN_SPAN_S = 0.5
STALE_S = 5.0  # frames this far behind the input (beyond one decoding batch) are no longer shown
MARGIN_GOOD_DB = 1.0  # margin colours: green from here, yellow from MARGIN_LOW_DB, red below
MARGIN_LOW_DB = 0.3  # the receiver's implementation loss (docs/performance.md): below it, frames are lost
CLIPPING_HIGH = 0.001  # share of clipped cu8 components above which the gain should come down
STATUS_INTERVAL_S = 10.0  # StatusLog's default period
REFRESH_PER_SECOND = 4.0


@dataclass(frozen=True)
class StatusSnapshot:
    """The receiver at one moment. None: not known (no frames yet, no live input, no sink...).
    Counters count from the start of this run; heights are block heights."""

    source: str
    taken_unix_s: float
    elapsed_s: float | None  # wall seconds since the receiver started
    connected: bool | None  # the live source delivers now (None: a recording)
    input_dbfs: float | None  # input power, dB below a full-scale sine
    clipping: float | None  # share of clipped sample components (0..1)
    locked: bool  # the demodulator's AFC is following frames
    esn0_db: float | None  # median over the frames of the last WINDOW_S seconds
    modcod: str | None  # of the latest frame
    threshold_db: float | None  # Es/N0 that MODCOD needs for FER 1e-3 on AWGN (decoder alone)
    margin_db: float | None  # esn0_db - threshold_db
    cfo_hz: float | None  # carrier frequency offset of the latest frame
    cfo_drift_hz_per_s: float | None
    frames_recent: int  # frames in the recent window
    fer_recent: float | None  # frame error rate over the recent window
    frames_ok: int
    frames_failed: int  # the link frame did not check, or its MODCOD is unknown
    fer: float | None  # over the whole run
    objects_in_progress: int  # objects some of whose symbols are held
    objects_complete: int
    blocks_validated: int
    tip_height: int | None  # the datadir's active chain (None: no block stored yet)
    headers_height: int | None  # the checked header chain (None: no headers yet)
    broadcast_tip_height: int | None  # the uplink's tip, from its latest chain index (advisory)
    blocks_missing: int | None  # headers_height - tip_height
    samples_in: int  # read from the source (a recording: fed to the receiver)
    samples_dropped: int  # lost because the receiver fell behind the source
    overflows: int
    reconnects: int
    input_error: str | None  # why the live source was last lost
    backlog_s: float | None  # input waiting in the buffer, in seconds
    realtime_factor: float | None  # seconds of input fed / wall seconds
    sink: str | None  # "rpc http://127.0.0.1:8332/", "folder /srv/blocks"
    sink_status: str | None
    sink_height: int | None
    sink_pending: int | None

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------- snapshot


def _drift_hz_per_s(times_s: list[float], cfos_hz: list[float]) -> float | None:
    """Slope of the least-squares line cfo = a + b t (b in Hz/s)."""
    if len(times_s) < DRIFT_MIN_FRAMES or max(times_s) - min(times_s) < DRIFT_MIN_SPAN_S:
        return None
    t = np.asarray(times_s, np.float64)
    c = np.asarray(cfos_hz, np.float64)
    t -= t.mean()
    return float(np.dot(t, c - c.mean()) / np.dot(t, t))


def _fer(ok: int, failed: int) -> float | None:
    return failed / (ok + failed) if ok + failed else None


def _height(height: int) -> int | None:
    return height if height >= 0 else None


def _sink_figures(delivery) -> dict:
    stats = getattr(delivery, "sink_stats", None)  # a SinkDelivery; a plain ChainDelivery has none
    if stats is None:
        return {"sink": None, "sink_status": None, "sink_height": None, "sink_pending": None}
    if stats.sink_height is None:
        text = "not reached yet" + (f": {stats.sink_error}" if stats.sink_error else "")
    elif stats.sink_pending == 0:
        text = f"in step at height {stats.sink_height}"
    else:
        pending = "?" if stats.sink_pending is None else stats.sink_pending
        text = f"{pending} blocks to hand over" + (f"; last error: {stats.sink_error}" if stats.sink_error else "")
    if stats.sink_refused:
        text += f"; {stats.sink_refused} refused"
    return {"sink": f"{stats.sink} {stats.sink_target}", "sink_status": text, "sink_height": stats.sink_height,
            "sink_pending": stats.sink_pending}


def take_snapshot(receiver, live_input=None, level=None, started_monotonic: float | None = None,
                  source_name: str | None = None) -> StatusSnapshot:
    """The receiver's figures now. ``receiver``: a ``Receiver``; ``live_input``: its ``LiveInput``
    (None: a recording); ``level``: the ``InputLevel`` the loop measures (None: not measured);
    ``started_monotonic``: ``time.monotonic()`` when receiving started (None: no elapsed time);
    ``source_name``: how the user named the input (default: the live input's name). Call it from
    the receive loop's thread: it reads the receiver's counters and the datadir's tip."""
    rate_hz = receiver.sample_rate_hz
    frames = list(receiver.recent_frames)  # a copy: the loop appends as frames decode
    position_s = (receiver.first_sample + receiver.samples + receiver.samples_skipped) / rate_hz
    if len(frames) >= 2:  # frames reach the list a decoding batch at a time
        spacing_s = max(0.0, (frames[-1].meta["time_s"] - frames[0].meta["time_s"]) / (len(frames) - 1))
        stale_s = STALE_S + receiver.link.batch_frames * spacing_s
    else:
        stale_s = STALE_S
    if frames and frames[-1].meta["time_s"] < position_s - stale_s:
        frames = []
    # A live input that stops delivering stops the input's clock too: the wall clock says the
    # figures of its last frames no longer describe the signal.
    input_quiet = live_input is not None and (
        not live_input.stats.connected or live_input.stats.last_input_monotonic is None
        or time.monotonic() - live_input.stats.last_input_monotonic > STALE_S)
    if input_quiet:
        frames = []
    newest_s = frames[-1].meta["time_s"] if frames else 0.0
    recent = [f for f in frames if f.meta["time_s"] >= newest_s - WINDOW_S]
    drifting = [f for f in frames if f.meta["time_s"] >= newest_s - DRIFT_WINDOW_S and f.meta.get("locked")]

    esn0 = round(float(np.median([f.meta["esn0_db"] for f in recent])), 2) if recent else None
    modcod = frames[-1].modcod if frames else None
    threshold = required_esn0_db(modcod) if modcod is not None else None
    drift = _drift_hz_per_s([f.meta["time_s"] for f in drifting], [f.meta["cfo_hz"] for f in drifting])
    recent_ok = sum(1 for f in recent if f.ok)

    link = receiver.link.stats
    failed = link.frames_failed + link.frames_unknown_modcod
    delivery = receiver.delivery
    tip = _height(delivery.tip()[0])
    headers = _height(receiver.headers.height)
    index = receiver.latest_index
    elapsed = time.monotonic() - started_monotonic if started_monotonic is not None else None
    fed_s = receiver.samples / rate_hz

    if live_input is not None:
        ring = live_input.stats.ring
        samples_in, dropped, overflows = ring.samples_in, ring.samples_dropped, ring.overflows
        reconnects, connected = live_input.stats.reconnects, live_input.stats.connected
        input_error = live_input.stats.last_error or None
        backlog = round(live_input.ring.held_samples / live_input.sample_rate_hz, 3)
    else:
        samples_in, dropped, overflows, reconnects = receiver.samples, 0, 0, 0
        connected = input_error = backlog = None
    return StatusSnapshot(
        source=source_name if source_name is not None else (live_input.name if live_input is not None else ""),
        taken_unix_s=round(time.time(), 3),
        elapsed_s=round(elapsed, 3) if elapsed is not None else None,
        connected=connected,
        input_dbfs=level.dbfs if level is not None and not input_quiet else None,
        clipping=level.clipping if level is not None and level.dbfs is not None and not input_quiet else None,
        locked=bool(receiver.demodulator.stats.locked) and not input_quiet,
        esn0_db=esn0,
        modcod=modcod,
        threshold_db=threshold,
        margin_db=round(esn0 - threshold, 2) if esn0 is not None and threshold is not None else None,
        cfo_hz=frames[-1].meta["cfo_hz"] if frames else None,
        cfo_drift_hz_per_s=round(drift, 2) if drift is not None else None,
        frames_recent=len(recent),
        fer_recent=_fer(recent_ok, len(recent) - recent_ok),
        frames_ok=link.frames_ok,
        frames_failed=failed,
        fer=_fer(link.frames_ok, failed),
        objects_in_progress=receiver.assembler.objects_in_progress,
        objects_complete=receiver.assembler.stats.objects_complete,
        blocks_validated=delivery.stats.blocks_validated,
        tip_height=tip,
        headers_height=headers,
        broadcast_tip_height=_height(index.tip_height) if index is not None else None,
        # a datadir with no block stored yet holds the genesis block
        blocks_missing=max(0, headers - max(tip or 0, 0)) if headers is not None else None,
        samples_in=samples_in,
        samples_dropped=dropped,
        overflows=overflows,
        reconnects=reconnects,
        input_error=input_error,
        backlog_s=backlog,
        realtime_factor=round(fed_s / elapsed, 2) if elapsed else None,
        **_sink_figures(delivery),
    )


# ---------------------------------------------------------------------------------------- log line


def status_fields(s: StatusSnapshot) -> dict:
    """The figures of the periodic log line, short keys, in reading order."""
    return {
        "elapsed_s": round(s.elapsed_s, 1) if s.elapsed_s is not None else None,
        "connected": s.connected, "level_dbfs": s.input_dbfs, "clipping": s.clipping,
        "locked": s.locked, "esn0_db": s.esn0_db, "margin_db": s.margin_db, "modcod": s.modcod,
        "cfo_hz": s.cfo_hz, "drift_hz_per_s": s.cfo_drift_hz_per_s,
        "frames_ok": s.frames_ok, "frames_failed": s.frames_failed,
        "fer_recent": round(s.fer_recent, 4) if s.fer_recent is not None else None,
        "objects_in_progress": s.objects_in_progress, "blocks": s.blocks_validated, "tip": s.tip_height,
        "headers": s.headers_height, "missing": s.blocks_missing, "dropped": s.samples_dropped,
        "overflows": s.overflows, "reconnects": s.reconnects, "backlog_s": s.backlog_s,
        **({"sink_height": s.sink_height, "sink_pending": s.sink_pending} if s.sink is not None else {}),
    }


class StatusLog:
    """``chaincast rx: ts=... event=status esn0_db=4.1 margin_db=1.92 locked=1 ... tip=... dropped=0``
    on ``stream`` (stderr by default), at most once every ``interval_s`` seconds (the first
    ``update`` writes at once; ``interval_s`` <= 0: never)."""

    def __init__(self, interval_s: float = STATUS_INTERVAL_S, stream: TextIO | None = None, program: str = "chaincast rx"):
        self.interval_s = interval_s
        self.stream = stream
        self.program = program
        self._last: float | None = None

    def update(self, snapshot: StatusSnapshot) -> None:
        now = time.monotonic()
        if self.interval_s <= 0 or (self._last is not None and now - self._last < self.interval_s):
            return
        self._last = now
        try:
            print(format_event(self.program, "status", status_fields(snapshot), snapshot.taken_unix_s),
                  file=self.stream or sys.stderr, flush=True)
        except (OSError, ValueError):
            pass  # a closed or broken stderr must not stop a receiver

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------- display

def margin_style(margin_db: float | None) -> str:
    if margin_db is None:
        return "bold"
    if margin_db >= MARGIN_GOOD_DB:
        return "bold green"
    return "bold yellow" if margin_db >= MARGIN_LOW_DB else "bold red"


def _num(value, fmt: str = "{}", none: str = "—") -> str:
    return none if value is None else fmt.format(value)


def _pairs(title: str, rows: list[tuple[str, Text | str]]) -> Panel:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return Panel(grid, title=title, title_align="left", border_style="blue")


def render_status(s: StatusSnapshot, width: int = 120) -> Panel:
    """The panel ``StatusDisplay`` shows for ``s``; ``width``: the terminal's (3 boxes a row from
    90 columns, else 2)."""
    style = margin_style(s.margin_db)
    big = Text("\n".join(big_text(f"{s.esn0_db:.1f}" if s.esn0_db is not None else "--")), style=style if s.esn0_db is not None else "dim")
    esn0 = Text(f"{s.esn0_db:.2f} dB" if s.esn0_db is not None else "no frames", style=style)
    if s.margin_db is not None:
        margin = Text(f"{s.margin_db:+.2f} dB ({s.modcod} needs {s.threshold_db:.2f} dB for FER 1e-3)", style=style)
    elif s.modcod is not None:
        margin = Text(f"no threshold known for {s.modcod}", style="dim")
    else:
        margin = Text("—", style="dim")
    clipping = Text(_num(s.clipping, "{:.2%}"), style="bold red" if s.clipping and s.clipping > CLIPPING_HIGH else "")
    lock = Text("LOCKED", style="bold green") if s.locked else Text("searching", style="bold red")
    signal = Table.grid(padding=(0, 1))
    signal.add_column(style="dim", no_wrap=True)
    signal.add_column(no_wrap=True)
    signal.add_row("Es/N0", esn0)
    signal.add_row("margin", margin)
    signal.add_row("lock", lock)
    signal.add_row("level", Text(_num(s.input_dbfs, "{:.1f} dBFS")) + Text("  clipping ") + clipping)
    signal.add_row("CFO", f"{_num(s.cfo_hz, '{:+,.0f} Hz')}  drift {_num(s.cfo_drift_hz_per_s, '{:+.1f} Hz/s')}")
    top = Table.grid(padding=(0, 3))
    top.add_column(no_wrap=True)
    top.add_column()
    top.add_row(big, signal)

    frames = _pairs("Frames", [
        ("ok", f"{s.frames_ok:,}"), ("failed", f"{s.frames_failed:,}"),
        (f"FER {WINDOW_S:g} s", _num(s.fer_recent, "{:.2e}") + f" of {s.frames_recent}"),
        ("FER run", _num(s.fer, "{:.2e}")),
    ])
    missing = Text(_num(s.blocks_missing, "{:,}"), style="yellow" if s.blocks_missing else "")
    chain = _pairs("Chain", [
        ("objects", f"{s.objects_in_progress:,} in progress"), ("blocks", f"{s.blocks_validated:,} validated"),
        ("tip", _num(s.tip_height, "{:,}")), ("headers", _num(s.headers_height, "{:,}")), ("missing", missing),
        ("broadcast", _num(s.broadcast_tip_height, "{:,}")),
    ])
    if s.connected is None:
        state = Text("recording")
    elif s.connected:
        state = Text("connected", style="green")
    else:
        state = Text("reconnecting" + (f": {s.input_error}" if s.input_error else ""), style="bold red")
    dropped = Text(f"{s.samples_dropped:,}", style="bold red" if s.samples_dropped else "")
    inputs = _pairs("Input", [
        ("source", state), ("dropped", dropped), ("overflows", f"{s.overflows:,}"), ("reconnects", f"{s.reconnects:,}"),
        ("backlog", _num(s.backlog_s, "{:.2f} s")), ("speed", _num(s.realtime_factor, "{:.2f}x")),
    ])
    if s.sink is not None:
        sink = Text(f"{s.sink}  ") + Text(s.sink_status or "", style="yellow" if s.sink_pending else "")
    else:
        sink = Text("none", style="dim")

    boxes = Table.grid(expand=True)
    per_row = 3 if width >= 90 else 2
    for _ in range(per_row):
        boxes.add_column(ratio=1)
    cells = [frames, chain, inputs]
    for i in range(0, len(cells), per_row):
        boxes.add_row(*cells[i:i + per_row])
    elapsed = time.strftime("%H:%M:%S", time.gmtime(s.elapsed_s)) if s.elapsed_s is not None else ""
    return Panel(Group(Panel(top, title="Signal", title_align="left", border_style="blue"), boxes,
                       Panel(sink, title="Sink", title_align="left", border_style="blue")),
                 title=f"chaincast rx  {s.source}  {elapsed}", title_align="left")


class StatusDisplay:
    """A panel on the terminal, redrawn ``refresh_per_second`` times a second with the latest
    snapshot. Lines written to stdout or stderr meanwhile appear above it. ``close()`` leaves the
    last panel on the screen, the cursor below it."""

    def __init__(self, console: Console | None = None, refresh_per_second: float = REFRESH_PER_SECOND):
        self.console = console or Console()
        self.refresh_per_second = refresh_per_second
        self._live: Live | None = None

    def update(self, snapshot: StatusSnapshot) -> None:
        panel = render_status(snapshot, self.console.width)
        if self._live is None:
            self._live = Live(panel, console=self.console, refresh_per_second=self.refresh_per_second)
            self._live.start()
        else:
            self._live.update(panel)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def status_output(interval_s: float = STATUS_INTERVAL_S, force: bool | None = None) -> StatusDisplay | StatusLog:
    """The panel when stdout is a terminal, else the periodic log line on stderr. ``force``: True
    the panel, False the log line, None by the terminal."""
    display = sys.stdout.isatty() if force is None else force
    return StatusDisplay() if display else StatusLog(interval_s)


# ---------------------------------------------------------------------------------------- metrics


def _metric_families(s: StatusSnapshot):
    """Prometheus families of a snapshot; figures not known (None) are left out."""
    gauges = (
        ("chaincast_rx_connected", "1 while the live source delivers", s.connected),
        ("chaincast_rx_elapsed_seconds", "Wall seconds since the receiver started", s.elapsed_s),
        ("chaincast_rx_input_level_dbfs", "Input power in dB below a full-scale sine", s.input_dbfs),
        ("chaincast_rx_input_clipping_ratio", "Share of clipped sample components", s.clipping),
        ("chaincast_rx_locked", "1 while the demodulator follows frames", s.locked),
        ("chaincast_rx_esn0_db", f"Es/N0, median over the frames of the last {WINDOW_S:g} s", s.esn0_db),
        ("chaincast_rx_esn0_required_db", "Es/N0 the current MODCOD needs for FER 1e-3 on AWGN (decoder alone)", s.threshold_db),
        ("chaincast_rx_esn0_margin_db", "Es/N0 minus the Es/N0 required", s.margin_db),
        ("chaincast_rx_cfo_hz", "Carrier frequency offset of the latest frame", s.cfo_hz),
        ("chaincast_rx_cfo_drift_hz_per_second", "Slope of the CFO over the recent locked frames", s.cfo_drift_hz_per_s),
        ("chaincast_rx_frame_error_ratio", f"Frame error rate over the frames of the last {WINDOW_S:g} s", s.fer_recent),
        ("chaincast_rx_objects_in_progress", "Objects some of whose symbols are held", s.objects_in_progress),
        ("chaincast_rx_tip_height", "Height of the datadir's active chain", s.tip_height),
        ("chaincast_rx_headers_height", "Height of the checked header chain", s.headers_height),
        ("chaincast_rx_broadcast_tip_height", "The uplink's tip height, from its latest chain index", s.broadcast_tip_height),
        ("chaincast_rx_blocks_missing", "Blocks of the header chain not in the datadir", s.blocks_missing),
        ("chaincast_rx_backlog_seconds", "Input waiting in the buffer", s.backlog_s),
        ("chaincast_rx_realtime_factor", "Seconds of input fed per wall second", s.realtime_factor),
        ("chaincast_rx_sink_height", "Height the sink has been handed blocks up to", s.sink_height),
        ("chaincast_rx_sink_pending_blocks", "Blocks of the active chain not yet handed to the sink", s.sink_pending),
    )
    counters = (
        ("chaincast_rx_frames_ok", "Link frames that checked", s.frames_ok),
        ("chaincast_rx_frames_failed", "Link frames that did not check or had an unknown MODCOD", s.frames_failed),
        ("chaincast_rx_objects_complete", "Objects rebuilt", s.objects_complete),
        ("chaincast_rx_blocks_validated", "Blocks validated and stored in the datadir", s.blocks_validated),
        ("chaincast_rx_samples_in", "Samples read from the source", s.samples_in),
        ("chaincast_rx_samples_dropped", "Samples lost because the receiver fell behind", s.samples_dropped),
        ("chaincast_rx_overflows", "Times the input buffer was full", s.overflows),
        ("chaincast_rx_reconnects", "Reopenings of the live source after a loss", s.reconnects),
    )
    for name, documentation, value in gauges:
        if value is not None:
            yield GaugeMetricFamily(name, documentation, value=float(value))
    for name, documentation, value in counters:
        yield CounterMetricFamily(name, documentation, value=float(value))
    labels = {"source": s.source, "modcod": s.modcod or "", "sink": s.sink or ""}
    yield InfoMetricFamily("chaincast_rx", "The input, the latest frame's MODCOD and the sink", value=labels)


class _SnapshotCollector(Collector):
    def __init__(self):
        self.snapshot: StatusSnapshot | None = None

    def collect(self):
        snapshot = self.snapshot  # one reference read: the loop may replace it meanwhile
        return _metric_families(snapshot) if snapshot is not None else iter(())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # not HTTPServer's: its getfqdn() may wait on a DNS lookup
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class MetricsServer:
    """``/metrics`` (Prometheus text format) and ``/status`` (the latest snapshot as JSON) over
    HTTP on ``host:port``, served by a thread of its own; other paths are 404, ``/status`` is 503
    before the first ``update``. Binds at once: a port in use or an address not of this host is a
    ``ReceiverError`` naming ``HOST:PORT``. ``port`` 0 takes a free port (``.port`` tells which)."""

    def __init__(self, host: str, port: int):
        self.host = host
        self._collector = _SnapshotCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self._collector)
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_BoundServer", (_Server,), {"address_family": family})
            self._server = server_class((host, port), self._handler())
        except OSError as error:  # socket.gaierror included
            raise ReceiverError(f"--metrics {shown}: cannot listen: {error.strerror or error}") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"chaincast-metrics {shown}", daemon=True)
        self._thread.start()

    def update(self, snapshot: StatusSnapshot) -> None:
        self._collector.snapshot = snapshot

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(2.0)
            self._server = None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(server.registry))
                elif path == "/status":
                    snapshot = server._collector.snapshot
                    if snapshot is None:
                        self._reply(503, "application/json", b'{"error": "no status yet"}\n')
                    else:
                        self._reply(200, "application/json", json.dumps(snapshot.as_dict()).encode() + b"\n")
                else:
                    self._reply(404, "text/plain; charset=utf-8", b"not found: try /metrics or /status\n")

            def _reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
                pass  # one line per scrape would bury the receiver's own

        return Handler


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def parse_listen_address(value: str, option: str = "--metrics") -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port): an IPv4 address, ``[IPv6]`` or a host name, and a port
    1..65535. ``0.0.0.0`` listens on every interface. ReceiverError naming ``option`` otherwise."""
    def bad(why: str) -> ReceiverError:
        return ReceiverError(f"{option} {value!r}: {why} (expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)")

    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise bad("no port")
    if not port_text.isascii() or not port_text.isdigit():
        raise bad(f"port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise bad(f"port {port} is out of 1..65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(host[1:-1])), port
        except ValueError:
            raise bad(f"{host} is not an IPv6 address") from None
    if not host:
        raise bad("no host (0.0.0.0 listens on every interface)")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{host!r} is not a host name") from None
        raise bad("an IPv6 address goes in brackets")
    if re.fullmatch(r"[0-9.]+", host):
        try:
            return str(ipaddress.IPv4Address(host)), port
        except ValueError:
            raise bad(f"{host} is not an IPv4 address") from None
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):
        raise bad(f"{host!r} is not a host name")
    return host, port
