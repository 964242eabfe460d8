"""The live status: figures of a snapshot from frames whose Es/N0 and CFO are known, the log line,
the Prometheus endpoint scraped over real HTTP, and the panel drawn in a real terminal (tmux)."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from chaincast.fec.wire.profile import MODCODS, REQUIRED_ESN0_DB, required_esn0_db
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.kernel import ChainDelivery
from chaincast.rxside.linkdecode import FrameRecord, LinkStats
from chaincast.rxside.live import InputLevel, InputStats, RingStats
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.sinks import SinkStats
from chaincast.rxside.status import (MetricsServer, StatusDisplay, StatusLog, StatusSnapshot, parse_listen_address,
                                     render_status, status_output, take_snapshot)

REPO = Path(__file__).resolve().parents[2]
RATE_HZ = 2.4e6
FRAME_S = 1 / 30  # about QPSK 3/5's normal frame at 1 Mbaud


# ------------------------------------------------------------------------------------ thresholds


def test_required_esn0_is_the_performance_table():
    """Every LDPC MODCOD, normal and short, has the figure docs/performance.md gives; the
    convolutional one (never measured) has none."""
    rows = {}
    for line in (REPO / "docs" / "performance.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 7 and cells[1] in MODCODS:
            normal = float(re.match(r"(<= )?(-?[0-9.]+)", cells[3]).group(2))
            short = float(re.match(r"-?[0-9.]+", cells[6]).group(0))
            rows[cells[1]] = (normal, short)
    assert len(rows) == 8
    for name, modcod in MODCODS.items():
        if modcod.inner_code != "ldpc":
            assert required_esn0_db(name) is None
            continue
        base = name.removesuffix("-short")
        assert required_esn0_db(name) == rows[base][modcod.short_frame]
    assert required_esn0_db("qpsk-3/5") == 2.18 and required_esn0_db("qpsk-3/5", short_frame=True) == 2.28
    assert required_esn0_db("qpsk-3/5-short") == 2.28  # the name says short
    assert required_esn0_db("qpsk-7/8") is None
    assert len(REQUIRED_ESN0_DB) == 16


# ------------------------------------------------------------------------------------- snapshot


def frame(time_s: float, esn0_db: float, cfo_hz: float, ok: bool = True, locked: bool = True,
          modcod: str = "qpsk-3/5") -> FrameRecord:
    meta = {"time_s": time_s, "start_sample": int(time_s * RATE_HZ), "esn0_db": esn0_db, "cfo_hz": cfo_hz, "locked": locked}
    return FrameRecord(modcod, ok, ok, 10, 0, 3 if ok else 0, meta)


def fake_receiver(frames: list[FrameRecord], fed_s: float | None = None, *, tip: int = 812_345,
                  headers: int = 812_400, frames_ok: int = 900, frames_failed: int = 90,
                  delivery_extra: dict | None = None) -> SimpleNamespace:
    """What ``take_snapshot`` reads of a ``Receiver``, with known figures."""
    recent = deque(maxlen=512)
    recent.extend(frames)
    if fed_s is None:
        fed_s = frames[-1].meta["time_s"] + 0.2 if frames else 0.0
    delivery = SimpleNamespace(stats=SimpleNamespace(blocks_validated=1234), tip=lambda: (tip, "00" * 32),
                               **(delivery_extra or {}))
    return SimpleNamespace(
        sample_rate_hz=RATE_HZ, first_sample=0, samples=int(fed_s * RATE_HZ), samples_skipped=0,
        recent_frames=recent,
        demodulator=SimpleNamespace(stats=SimpleNamespace(locked=True, cfo_hz=0.0)),
        link=SimpleNamespace(stats=LinkStats(frames_ok=frames_ok, frames_failed=frames_failed, frames_unknown_modcod=10),
                             batch_frames=32),
        assembler=SimpleNamespace(stats=SimpleNamespace(objects_complete=77), objects_in_progress=2),
        delivery=delivery,
        headers=SimpleNamespace(height=headers),
        latest_index=SimpleNamespace(tip_height=812_410),
    )


def ramp_frames(seconds: float = 6.0, drift_hz_per_s: float = 12.5, seed: int = 3) -> list[FrameRecord]:
    """Frames every FRAME_S: CFO 40 kHz + drift x t with 30 Hz of noise; Es/N0 1.0 dB, except
    the last 2 s at 4.1 dB; one frame in ten of the last 2 s failed."""
    rng = np.random.default_rng(seed)
    frames = []
    n = int(seconds / FRAME_S)
    for i in range(n):
        t = round(100.0 + i * FRAME_S, 6)
        late = t >= 100.0 + (n - 1) * FRAME_S - 2.0
        frames.append(frame(t, round(4.1 + rng.normal(0, 0.1), 2) if late else 1.0,
                            round(40_000 + drift_hz_per_s * (t - 100.0) + rng.normal(0, 30), 1), ok=not (late and i % 10 == 0)))
    return frames


def test_snapshot_figures_from_known_frames():
    frames = ramp_frames()
    frames[5] = replace(frames[5], meta={**frames[5].meta, "cfo_hz": 90_000.0, "locked": False})  # an acquisition: left out of the drift
    level = InputLevel(dbfs=-23.4, clipping=0.0002)
    started = time.monotonic() - 12.0
    s = take_snapshot(fake_receiver(frames), level=level, started_monotonic=started, source_name="rtl_tcp://dish:1234")

    window = [f for f in frames if f.meta["time_s"] >= frames[-1].meta["time_s"] - 2.0]
    assert s.frames_recent == len(window) and 55 <= len(window) <= 62
    assert s.esn0_db == pytest.approx(np.median([f.meta["esn0_db"] for f in window]), abs=0.005)
    assert s.esn0_db == pytest.approx(4.1, abs=0.05)
    assert s.modcod == "qpsk-3/5" and s.threshold_db == 2.18
    assert s.margin_db == pytest.approx(s.esn0_db - 2.18, abs=0.006)
    assert s.cfo_hz == frames[-1].meta["cfo_hz"]
    locked = [f for f in frames if f.meta["locked"]]
    expected = np.polyfit([f.meta["time_s"] for f in locked], [f.meta["cfo_hz"] for f in locked], 1)[0]
    assert s.cfo_drift_hz_per_s == pytest.approx(expected, abs=0.006)
    assert s.cfo_drift_hz_per_s == pytest.approx(12.5, abs=3.0)  # 30 Hz noise over 6 s of frames
    failed_recent = sum(not f.ok for f in window)
    assert s.fer_recent == pytest.approx(failed_recent / len(window)) and failed_recent >= 5
    assert (s.frames_ok, s.frames_failed) == (900, 100) and s.fer == pytest.approx(0.1)
    assert s.objects_in_progress == 2 and s.objects_complete == 77 and s.blocks_validated == 1234
    assert (s.tip_height, s.headers_height, s.broadcast_tip_height, s.blocks_missing) == (812_345, 812_400, 812_410, 55)
    assert s.input_dbfs == -23.4 and s.clipping == 0.0002 and s.locked
    assert s.connected is None and s.samples_dropped == 0 and s.sink is None
    assert s.source == "rtl_tcp://dish:1234" and s.elapsed_s == pytest.approx(12.0, abs=0.5)
    assert json.loads(json.dumps(s.as_dict())) == s.as_dict()


def test_drift_needs_three_frames_over_half_a_second():
    assert take_snapshot(fake_receiver([frame(10.0, 3.0, 100.0), frame(10.4, 3.0, 200.0)])).cfo_drift_hz_per_s is None
    three_close = [frame(10.0 + 0.2 * i, 3.0, 100.0 * i) for i in range(3)]  # 0.4 s
    assert take_snapshot(fake_receiver(three_close)).cfo_drift_hz_per_s is None
    three = [frame(10.0 + 0.25 * i, 3.0, 100.0 * i) for i in range(3)]  # 0.5 s, 400 Hz/s exactly
    assert take_snapshot(fake_receiver(three)).cfo_drift_hz_per_s == pytest.approx(400.0)


def test_margin_colour_side_and_unknown_threshold():
    below = [frame(10.0 + FRAME_S * i, 1.5, 0.0) for i in range(10)]
    s = take_snapshot(fake_receiver(below))
    assert s.margin_db == pytest.approx(1.5 - 2.18) and s.margin_db < 0
    short = [frame(10.0 + FRAME_S * i, 3.0, 0.0, modcod="qpsk-3/5-short") for i in range(10)]
    assert take_snapshot(fake_receiver(short)).threshold_db == 2.28
    cc = [frame(10.0 + FRAME_S * i, 3.0, 0.0, modcod="qpsk-cc1/2") for i in range(10)]
    s = take_snapshot(fake_receiver(cc))
    assert s.esn0_db == 3.0 and s.threshold_db is None and s.margin_db is None


def test_frames_long_behind_the_input_are_not_shown():
    """A dish pointed away: frames stop while the input goes on; the last Es/N0 is not kept."""
    frames = ramp_frames(seconds=3.0)
    fresh = take_snapshot(fake_receiver(frames, fed_s=frames[-1].meta["time_s"] + 2.0))
    assert fresh.esn0_db is not None
    gone = take_snapshot(fake_receiver(frames, fed_s=frames[-1].meta["time_s"] + 20.0))
    assert gone.esn0_db is None and gone.modcod is None and gone.cfo_drift_hz_per_s is None and gone.frames_recent == 0
    assert gone.frames_ok == 900  # the run's counters stay


def test_live_input_and_sink_figures():
    ring = RingStats(samples_in=48_000_000, samples_dropped=1234, overflows=2)
    live = SimpleNamespace(name="rtlsdr://0", sample_rate_hz=RATE_HZ, ring=SimpleNamespace(held_samples=240_000),
                           stats=InputStats(connected=False, reconnects=3, losses=3, last_error="connection reset", ring=ring))
    sink = SinkStats("rpc", "http://127.0.0.1:8332/", sink_height=812_300, sink_pending=45, sink_error="connection refused")
    s = take_snapshot(fake_receiver(ramp_frames(), delivery_extra={"sink_stats": sink}), live_input=live)
    assert s.source == "rtlsdr://0" and s.connected is False and s.input_error == "connection reset"
    assert (s.samples_in, s.samples_dropped, s.overflows, s.reconnects) == (48_000_000, 1234, 2, 3)
    assert s.backlog_s == pytest.approx(0.1)
    assert s.sink == "rpc http://127.0.0.1:8332/" and (s.sink_height, s.sink_pending) == (812_300, 45)
    assert s.sink_status == "45 blocks to hand over; last error: connection refused"
    in_step = take_snapshot(fake_receiver(ramp_frames(), delivery_extra={"sink_stats": replace(sink, sink_pending=0)}))
    assert in_step.sink_status == "in step at height 812300"


def test_a_live_input_that_stops_delivering_shows_no_signal_figures():
    """A server gone or a cable pulled stops the input's clock with it: the frames of before are
    as recent as ever on that clock, so the wall clock says they no longer describe the signal."""
    frames = ramp_frames(seconds=3.0)

    def live(connected: bool, quiet_s: float | None):
        stats = InputStats(connected=connected, ring=RingStats(samples_in=10),
                           last_input_monotonic=None if quiet_s is None else time.monotonic() - quiet_s)
        return SimpleNamespace(name="rtl_tcp://dish:1234", sample_rate_hz=RATE_HZ, ring=SimpleNamespace(held_samples=0),
                               stats=stats)

    level = InputLevel(dbfs=-20.0, clipping=0.001)
    delivering = take_snapshot(fake_receiver(frames), live_input=live(True, 0.1), level=level)
    assert delivering.esn0_db is not None and delivering.locked and delivering.input_dbfs == -20.0
    for connected, quiet_s in ((False, 0.1), (True, 30.0), (True, None)):
        s = take_snapshot(fake_receiver(frames), live_input=live(connected, quiet_s), level=level)
        assert s.esn0_db is None and s.margin_db is None and s.cfo_hz is None and not s.locked, (connected, quiet_s)
        assert s.input_dbfs is None and s.clipping is None
        assert s.frames_ok == 900  # the run's counters stay


def test_snapshot_of_a_real_receiver(tmp_path):
    """The attributes read are the receiver's own: a fresh one, then frames as it records them."""
    receiver = Receiver(RATE_HZ, 1e6, 0.2, ChainDelivery(tmp_path, "regtest"))
    s = take_snapshot(receiver, started_monotonic=time.monotonic(), source_name="capture.cu8")
    assert s.esn0_db is None and s.frames_ok == 0 and s.tip_height is None and s.headers_height is None
    assert s.objects_in_progress == 0 and s.broadcast_tip_height is None and not s.locked
    for f in ramp_frames(seconds=1.0):
        receiver._frame_decoded(f)
    receiver.samples = int(101.2 * RATE_HZ)
    s = take_snapshot(receiver)
    assert s.esn0_db == pytest.approx(4.1, abs=0.1) and s.frames_recent == 30


# ------------------------------------------------------------------------------------- log line


def sample_snapshot(**changes) -> StatusSnapshot:
    ring = RingStats(samples_in=48_000_000, samples_dropped=1234, overflows=2)
    live = SimpleNamespace(name="rtl_tcp://dish:1234", sample_rate_hz=RATE_HZ, ring=SimpleNamespace(held_samples=0),
                           stats=InputStats(connected=True, reconnects=1, ring=ring,
                                           last_input_monotonic=time.monotonic()))
    sink = SinkStats("rpc", "http://127.0.0.1:8332/", sink_height=812_345, sink_pending=0)
    s = take_snapshot(fake_receiver(ramp_frames(), delivery_extra={"sink_stats": sink}), live_input=live,
                      level=InputLevel(-23.4, 0.0), started_monotonic=time.monotonic() - 3725)
    return replace(s, **changes)


def test_status_log_line_is_greppable_and_periodic():
    stream = io.StringIO()
    log = StatusLog(interval_s=60.0, stream=stream)
    s = sample_snapshot()
    log.update(s)
    log.update(s)  # within the interval: nothing
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("chaincast rx: ts=") and " event=status " in line
    fields = dict(pair.split("=", 1) for pair in line.split(": ", 1)[1].split(" "))
    assert fields["esn0_db"] == f"{s.esn0_db:g}" and fields["margin_db"] == f"{s.margin_db:g}"
    assert fields["locked"] == "1" and fields["tip"] == "812345" and fields["dropped"] == "1234"
    assert fields["frames_ok"] == "900" and fields["modcod"] == "qpsk-3/5" and fields["sink_pending"] == "0"
    quiet = io.StringIO()
    StatusLog(interval_s=0, stream=quiet).update(s)
    assert quiet.getvalue() == ""


def test_status_output_follows_the_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    out = status_output(5.0)
    assert isinstance(out, StatusLog) and out.interval_s == 5.0
    assert isinstance(status_output(5.0, force=True), StatusDisplay)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert isinstance(status_output(5.0), StatusDisplay)
    assert isinstance(status_output(5.0, force=False), StatusLog)


# -------------------------------------------------------------------------------------- metrics


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.fixture
def server():
    metrics = MetricsServer("127.0.0.1", 0)
    yield metrics
    metrics.close()


def test_metrics_endpoint_serves_the_snapshot(server):
    base = f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert get(base + "/status")[0] == 503  # nothing to show yet
    s = sample_snapshot()
    server.update(s)
    code, content_type, body = get(base + "/metrics")
    assert code == 200 and content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[sample.name] = (sample.value, sample.labels)
    value = {name: v for name, (v, _) in samples.items()}
    assert value["chaincast_rx_esn0_db"] == s.esn0_db
    assert value["chaincast_rx_esn0_margin_db"] == s.margin_db
    assert value["chaincast_rx_esn0_required_db"] == 2.18
    assert value["chaincast_rx_locked"] == 1.0
    assert value["chaincast_rx_frames_ok_total"] == s.frames_ok == 900
    assert value["chaincast_rx_frames_failed_total"] == s.frames_failed
    assert value["chaincast_rx_samples_dropped_total"] == s.samples_dropped == 1234
    assert value["chaincast_rx_tip_height"] == s.tip_height == 812_345
    assert value["chaincast_rx_headers_height"] == s.headers_height
    assert value["chaincast_rx_blocks_missing"] == s.blocks_missing
    assert value["chaincast_rx_cfo_drift_hz_per_second"] == s.cfo_drift_hz_per_s
    assert value["chaincast_rx_input_level_dbfs"] == -23.4
    assert value["chaincast_rx_reconnects_total"] == 1
    assert samples["chaincast_rx_info"][1] == {"source": "rtl_tcp://dish:1234", "modcod": "qpsk-3/5",
                                                "sink": "rpc http://127.0.0.1:8332/"}

    server.update(replace(s, esn0_db=None, margin_db=None, frames_ok=901))  # not known: left out
    body = get(base + "/metrics")[2]
    names = {sample.name for family in text_string_to_metric_families(body) for sample in family.samples}
    assert "chaincast_rx_esn0_db" not in names and "chaincast_rx_frames_ok_total" in names

    code, content_type, body = get(base + "/status")
    assert code == 200 and content_type == "application/json"
    assert json.loads(body) == replace(s, esn0_db=None, margin_db=None, frames_ok=901).as_dict()
    assert get(base + "/")[0] == 404 and get(base + "/metrics/x")[0] == 404


def test_metrics_port_in_use_is_a_receiver_error(server):
    with pytest.raises(ReceiverError, match=rf"^--metrics 127\.0\.0\.1:{server.port}: cannot listen: "):
        MetricsServer("127.0.0.1", server.port)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ReceiverError, match=f"127.0.0.1:{port}"):
            MetricsServer("127.0.0.1", port)


def test_metrics_address_not_of_this_host_is_a_receiver_error():
    with pytest.raises(ReceiverError, match=r"^--metrics 192\.0\.2\.1:9100: cannot listen"):  # TEST-NET-1
        MetricsServer("192.0.2.1", 9100)
    with pytest.raises(ReceiverError, match=r"^--metrics no-such-host\.invalid:9100: cannot listen"):
        MetricsServer("no-such-host.invalid", 9100)


def test_metrics_server_on_ipv6_loopback():
    try:
        metrics = MetricsServer("::1", 0)
    except ReceiverError:
        pytest.skip("no IPv6 loopback here")
    try:
        metrics.update(sample_snapshot())
        assert get(f"http://[::1]:{metrics.port}/metrics")[0] == 200
    finally:
        metrics.close()


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:9100", ("127.0.0.1", 9100)),
    ("0.0.0.0:1", ("0.0.0.0", 1)),
    ("[::1]:9100", ("::1", 9100)),
    ("[::]:65535", ("::", 65535)),
    ("localhost:9100", ("localhost", 9100)),
    ("rx-1.example.org:9100", ("rx-1.example.org", 9100)),
])
def test_listen_address_accepted(value, expected):
    assert parse_listen_address(value, "--metrics") == expected


@pytest.mark.parametrize("value, why", [
    ("9100", "no port"), ("127.0.0.1", "no port"), (":9100", "no host"), ("127.0.0.1:", "not a number"),
    ("127.0.0.1:0", "out of 1..65535"), ("127.0.0.1:65536", "out of 1..65535"), ("127.0.0.1:+80", "not a number"),
    ("127.0.0.1:٩١", "not a number"), ("127.0.0.1: 80", "not a number"), ("256.0.0.1:80", "not an IPv4 address"),
    ("1.2.3:80", "not an IPv4 address"), ("::1:9100", "in brackets"), ("[::g]:9100", "not an IPv6 address"),
    ("-bad.host:80", "not a host name"), ("bad_host:80", "not a host name"), ("a b:80", "not a host name"),
    ("http://x:80", "not a host name"),
])
def test_listen_address_refused(value, why):
    with pytest.raises(ReceiverError, match=rf"^--metrics {re.escape(repr(value))}: .*{re.escape(why)}"):
        parse_listen_address(value, "--metrics")


# -------------------------------------------------------------------------------------- display


def test_panel_shows_the_figures_at_any_width():
    s = sample_snapshot()
    for width in (120, 80):
        console = Console(record=True, width=width, color_system=None)
        console.print(render_status(s, width))
        text = console.export_text()
        assert f"{s.esn0_db:.2f} dB" in text and f"{s.margin_db:+.2f} dB (qpsk-3/5 needs 2.18 dB" in text
        assert "812,345" in text and "1,234" in text and "LOCKED" in text and "01:02:05" in text
        assert "in step at height 812345" in text
        assert max(len(line) for line in text.splitlines()) <= width


TMUX_SCRIPT = """
import json, sys, time
from chaincast.rxside.status import StatusDisplay, StatusSnapshot
snapshot = StatusSnapshot(**json.loads(open(sys.argv[1]).read()))
display = StatusDisplay(refresh_per_second=10)
for i in range(5):
    display.update(snapshot)
    time.sleep(0.1)
print("a log line meanwhile", file=sys.stderr)
display.update(snapshot)
time.sleep(0.3)
display.close()
print("SUMMARY printed after the panel")
time.sleep(60)
"""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_display_in_a_real_terminal(tmp_path):
    s = sample_snapshot()
    (tmp_path / "snapshot.json").write_text(json.dumps(s.as_dict()))
    (tmp_path / "drive.py").write_text(textwrap.dedent(TMUX_SCRIPT))
    socket_name, session = f"chaincast-status-{tmp_path.name}", "status"
    tmux = ["tmux", "-L", socket_name]
    command = f"cd {REPO} && {sys.executable} {tmp_path / 'drive.py'} {tmp_path / 'snapshot.json'} 2>&1"
    subprocess.run([*tmux, "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True)
    try:
        deadline, screen = time.monotonic() + 20, ""
        while time.monotonic() < deadline and "SUMMARY" not in screen:
            time.sleep(0.2)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert "SUMMARY printed after the panel" in screen, screen
    assert f"Es/N0  {s.esn0_db:.2f} dB" in screen, screen
    assert "tip       812,345" in screen and "dropped    1,234" in screen, screen
    assert "a log line meanwhile" in screen
    lines = screen.splitlines()
    panel_bottom = max(i for i, line in enumerate(lines) if line.startswith("╰"))
    summary = next(i for i, line in enumerate(lines) if "SUMMARY" in line)
    assert summary > panel_bottom and lines[summary].startswith("SUMMARY")  # one panel, the summary under it
    assert sum(1 for line in lines if "╭─ chaincast rx" in line) == 1
