"""Live reception end to end, with no radio: `chaincast replay` serves mainnet blocks 0..438 (4
passes, Es/N0 5 dB, 40 kHz, 30 ppm, cu8) as an rtl_tcp server on loopback, and `chaincast rx
rtl_tcp://...` receives it as it would a remote dongle: the tip, the settings the server saw, a
dropped connection, the status display in a real terminal, the metrics endpoint, SIGINT."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MAINNET_TIP
from tests.rxside.live_fixtures import CHAINCAST, Process, mainnet_recording  # noqa: F401


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def wait_for(path, pattern: str, timeout: float = 60.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = path.exists() and re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in {path} within {timeout} s:\n{path.read_text(errors='replace')[-3000:]}")


def start_replay(tmp_path, recording, *extra, name="replay") -> tuple[Process, int]:
    server = Process(tmp_path, name, "replay", recording, "--rtl-tcp", "127.0.0.1:0", *extra)
    port = int(wait_for(server.err_path, r"event=listen .*port=(\d+)", 30).group(1))
    return server, port


def receive_until_tip(tmp_path, port: int, name: str = "rx", *extra) -> tuple[int, dict, str]:
    rx = Process(tmp_path, name, "rx", f"rtl_tcp://127.0.0.1:{port}", "--freq", "1316900000", "--gain", "40",
                 "--chain", "main", "--datadir", tmp_path / f"{name}-datadir", "--json", "--status-interval", "0.5", *extra)
    try:
        wait_for(rx.err_path, r"event=status .* tip=438 ", 120)
        rx.interrupt()
        code, out, err = rx.wait(timeout=60)
    finally:
        rx.kill()
    return code, last_json(out), err


def test_rx_from_an_rtl_tcp_replay_reaches_the_tip_and_stops_on_sigint(tmp_path, mainnet_recording):
    server, port = start_replay(tmp_path, mainnet_recording)
    try:
        code, report, err = receive_until_tip(tmp_path, port)
    finally:
        server.interrupt()
        server.wait(timeout=30)
    assert code == 0, err
    assert report["tip_height"] == 438 and report["tip_hash"] == MAINNET_TIP
    assert report["stopped_by"] == "SIGINT" and report["source_live"] and report["reconnects"] == 0
    log = server.err_path.read_text()
    assert re.search(r"event=command .*command=set_sample_rate value=2400000\b", log), log
    assert re.search(r"event=command .*command=set_freq value=1316900000\b", log), log
    assert re.search(r"event=command .*command=set_gain value=400\b", log), log  # tenths of a dB


def test_rx_reconnects_when_the_server_drops_the_connection(tmp_path, mainnet_recording):
    """One pass takes 0.87 s: dropped after 0.4 s, the tip needs the samples of the new connection."""
    server, port = start_replay(tmp_path, mainnet_recording, "--drop-after", "0.4")
    try:
        code, report, err = receive_until_tip(tmp_path, port)
    finally:
        server.interrupt()
        server.wait(timeout=30)
    assert code == 0, err
    assert report["tip_height"] == 438 and report["tip_hash"] == MAINNET_TIP
    assert report["reconnects"] == 1 and report["discontinuities"] >= 1
    assert "event=source_lost" in err
    # the settings are sent again on the new connection
    assert len(re.findall(r"command=set_sample_rate value=2400000", server.err_path.read_text())) == 2


def test_status_display_in_a_terminal_and_metrics_over_http_during_a_replayed_run(tmp_path, mainnet_recording):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: the terminal display cannot be captured")
    server, port = start_replay(tmp_path, mainnet_recording, "--loop")
    session = f"chaincast-rx-{port}"
    err_path = tmp_path / "rx.err"
    with socket.socket() as probe:  # a free port for the metrics
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    command = (f"{CHAINCAST} rx rtl_tcp://127.0.0.1:{port} --chain main --datadir {tmp_path / 'datadir'} "
               f"--metrics 127.0.0.1:{metrics_port} 2> {err_path}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "140", "-y", "50", command], check=True)
    try:
        url = wait_for(err_path, r"event=metrics url=(\S+)", 60).group(1)
        deadline, families = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            tip = families.get("chaincast_rx_tip_height")
            if tip is not None and tip.samples and tip.samples[0].value == 438:
                break
            time.sleep(0.5)
        assert families["chaincast_rx_tip_height"].samples[0].value == 438
        assert families["chaincast_rx_locked"].samples[0].value == 1
        esn0 = families["chaincast_rx_esn0_db"].samples[0].value
        assert 4.0 < esn0 < 6.5
        status = json.loads(urllib.request.urlopen(url.replace("/metrics", "/status"), timeout=5).read())
        assert status["tip_height"] == 438 and status["locked"] and status["samples_dropped"] == 0
        time.sleep(1.0)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
        assert "438" in screen and "qpsk-3/5" in screen, screen
        assert re.search(r"Es/N0", screen) and re.search(r"dropped|Dropped", screen), screen
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        wait_for(err_path, r"event=end ", 60)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        server.interrupt()
        server.wait(timeout=30)
