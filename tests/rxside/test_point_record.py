"""``chaincast point`` and ``chaincast record``, as a user runs them: subprocesses on uplink
recordings, standard input through a pipe, and an rtl_tcp server (``chaincast replay``); the
recorded samples are compared with the source's and received with ``chaincast rx``; the metadata
is checked with the ``sigmf`` package's own validation. Also the shared radio options."""

from __future__ import annotations

import argparse
import json
import math
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sigmf.sigmffile

from chaincast.fec.wire.recording import parse_sigmf_meta
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.bigdigits import big_text
from chaincast.rxside.live import input_level
from chaincast.rxside.point import Meter, Peaks, WindowFigures
from chaincast.rxside.record import output_paths, recording_metadata
from chaincast.rxside.tuningargs import add_tuning_arguments, tuning_from_args
from tests.conftest import REGTEST_CHAIN, shared_file

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "recordings" / "regtest-5blocks-8db.sigmf-meta"  # regtest blocks 1-5, cu8 at 2.4 Msps, 0.074 s
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
CHANNEL_ESN0_DB, CHANNEL_CFO_HZ = 4.0, -30000.0


def chaincast(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([CHAINCAST, *map(str, args)], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def uplink(tmp_path_factory) -> Path:
    """Regtest blocks 1-10 sent 8 times by ``chaincast tx`` (0.81 s of air), through ``chaincast
    channel`` at Es/N0 4 dB with a 30 kHz carrier offset and a 30 ppm clock: cu8."""
    folder = tmp_path_factory.mktemp("uplink")
    blocks = folder / "blocks.txt"
    blocks.write_text("\n".join(shared_file(REGTEST_CHAIN).read_text().split()[:10]) + "\n")
    tx = chaincast("tx", "--source", blocks, "--chain", "regtest", "--out", folder / "up.sigmf-meta", "--passes", 8)
    assert tx.returncode == 0, tx.stderr
    down = folder / "down.sigmf-meta"
    channel = chaincast("channel", folder / "up.sigmf-meta", down, "--esn0-db", CHANNEL_ESN0_DB, "--cfo-hz", CHANNEL_CFO_HZ,
                        "--clock-ppm", 30, "--seed", 3)
    assert channel.returncode == 0, channel.stderr
    return down


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def rx_tip(recording: Path, datadir: Path) -> dict:
    rx = chaincast("rx", recording, "--chain", "regtest", "--datadir", datadir, "--json", "--no-state")
    assert rx.returncode == 0, rx.stderr
    return json.loads(rx.stdout.strip().splitlines()[-1])


def assert_one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def assert_valid_sigmf(meta_path: Path) -> dict:
    """sigmf's own reading: jsonschema validation and the core:sha512 checksum over the data."""
    recording = sigmf.sigmffile.fromfile(str(meta_path), skip_checksum=False)
    recording.validate()
    return json.loads(meta_path.read_text())


# ------------------------------------------------------------------------------------------ point


def test_point_on_an_uplink_recording_reports_the_channel_esn0(uplink):
    result = chaincast("point", uplink, "--fast", "--json")
    assert result.returncode == 0, result.stderr
    *windows, summary = json_lines(result.stdout)
    assert [w["kind"] for w in windows] == ["window"] * 3 and summary["kind"] == "summary"
    assert [w["t_s"] for w in windows] == [0.25, 0.5, 0.75]
    for w in windows:
        assert abs(w["esn0_db"] - CHANNEL_ESN0_DB) < 0.7, w
        assert w["line_detected"] and w["line_db"] > 20 and abs(w["cfo_hz"] - CHANNEL_CFO_HZ) < 20, w
        assert w["line_threshold_db"] == 6.6  # 9 blocks of 65536 in 0.25 s
        assert w["clipping"] < 0.001 and -20 < w["level_dbfs"] < 0 and w["dropped"] == 0
    assert summary["windows"] == 3 and summary["best_esn0_db"] == max(w["esn0_db"] for w in windows)
    assert summary["best_line_db"] == max(w["line_db"] for w in windows)
    assert summary["best_line_t_s"] in (0.25, 0.5, 0.75) and abs(summary["best_cfo_hz"] - CHANNEL_CFO_HZ) < 20


def test_point_paces_a_recording_at_real_time(uplink):
    proc = subprocess.Popen([CHAINCAST, "point", str(uplink), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    arrivals = [(time.monotonic(), json.loads(line)) for line in proc.stdout]
    assert proc.wait(30) == 0
    windows = [when for when, line in arrivals if line["kind"] == "window"]
    assert len(windows) == 3
    # released as a radio would deliver them: a window every 0.25 s (with --fast, as soon as measured;
    # the first one may come late, after the first measurement's set-up)
    assert 0.15 < windows[2] - windows[1] < 0.6 and 0.3 < windows[2] - windows[0] < 1.0, windows


def test_point_prints_plain_lines_when_stdout_is_not_a_terminal(uplink):
    result = chaincast("point", uplink, "--seconds", "0.5", "--fast")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("t=0.25s line=") and "esn0=" in lines[0] and "cfo=-30000Hz" in lines[0]
    assert lines[-1].startswith("summary: best Es/N0 ") and "(2 windows, 0.50 s)" in lines[-1]


def test_point_reads_standard_input_until_sigint(uplink):
    raw = uplink.with_suffix(".sigmf-data").read_bytes()
    proc = subprocess.Popen([CHAINCAST, "point", "-", "--json", "--sample-rate", "2.4e6"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        proc.stdin.write(raw[: 2 * 1_400_000])  # 0.58 s: two windows, and the pipe stays open
        proc.stdin.flush()
        first, second = (json.loads(lines.get(timeout=30)) for _ in range(2))
        assert first["t_s"] == 0.25 and second["t_s"] == 0.5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    summary = json.loads(lines.get(timeout=5))
    assert summary["kind"] == "summary" and summary["windows"] == 2
    err = proc.stderr.read()
    assert b"event=stopping signal=SIGINT" in err and b"Traceback" not in err


def test_point_refuses_radio_options_for_a_recording_and_bad_windows(uplink):
    assert_one_line_error(chaincast("point", uplink, "--gain", "30"), "--gain is for a live source")
    assert_one_line_error(chaincast("point", uplink, "--window-seconds", "0"), "--window-seconds")
    assert_one_line_error(chaincast("point", "-", "--fast"), "--fast is for a recording")
    assert_one_line_error(chaincast("point", "rtl_tcp://127.0.0.1:1", "--seconds", "1"), "rtl_tcp://127.0.0.1:1")


def test_meter_windows_do_not_depend_on_chunking_and_restart_at_a_gap():
    rng = np.random.default_rng(1)
    iq = ((rng.standard_normal(30_000) + 1j * rng.standard_normal(30_000)) * 0.1).astype(np.complex64)

    def run(chunks, gaps=()):
        meter = Meter(2.4e6, 1e6, 0.2, 4, 8_000)
        out, start = [], 0
        for i, n in enumerate(chunks):
            out += list(meter.feed(iq[start:start + n], gap=i in gaps, dropped=100 if i in gaps else 0))
            start += n
        return out + list(meter.flush())

    whole, pieces = run([30_000]), run([7, 9_000, 1, 12_000, 8_992])
    # the last window, of 6000 samples (more than half a window), is measured too
    assert whole == pieces and [w.t_s for w in whole] == [round(n / 2.4e6, 3) for n in (8_000, 16_000, 24_000, 30_000)]
    gapped = run([5_000, 25_000], gaps={1})  # the first 5000 samples are not measured with the ones after
    assert [w.t_s for w in gapped] == [round(n / 2.4e6, 3) for n in (13_100, 21_100, 29_100)]  # 1000 left over: not measured
    assert [w.dropped for w in gapped] == [100, 0, 0]


def test_peaks_keep_the_best_and_when():
    peaks = Peaks()
    for t, line, esn0 in ((0.25, 12.0, None), (0.5, 30.0, 4.0), (0.75, 25.0, 5.0)):
        peaks.update(WindowFigures(t, line, 6.6, line > 6.6, -3e4, esn0, -10.0, 0.0, 0))
    assert (peaks.best_line_db, peaks.best_line_t_s, peaks.best_esn0_db, peaks.best_esn0_t_s) == (30.0, 0.5, 5.0, 0.75)
    assert peaks.summary() == ("summary: best Es/N0 5.0 dB at 0.75 s; best line 30.0 dB at 0.50 s, CFO -30000 Hz "
                               "(3 windows, 0.75 s)")
    assert Peaks().summary().startswith("summary: no window measured")


def test_input_level_and_large_figures():
    full = np.full(1000, 1 + 0j, np.complex64)  # cu8 code 255 on I, a full-scale complex sine's power
    assert input_level(full) == (0.0, 0.5)
    assert input_level(np.zeros(0, np.complex64)) == (None, 0.0)
    rows = big_text("-1.5", scale=2)  # as point shows its figures
    assert len(rows) == 5 and len({len(row) for row in rows}) == 1 and rows[2].startswith("██████")


# ----------------------------------------------------------------------------------------- record


def test_record_from_a_pipe_gives_the_same_samples_and_rx_decodes_them(tmp_path):
    raw = GOLDEN.with_suffix(".sigmf-data").read_bytes()
    out = tmp_path / "f1815.3_s1.92_0.08s.sigmf-meta"  # dots in the name: only the last suffix is SigMF's
    proc = subprocess.Popen([CHAINCAST, "record", "-", "--out", str(out), "--sample-rate", "2.4e6"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for start in range(0, len(raw), 65_537):  # odd-sized writes: reads end inside samples
        proc.stdin.write(raw[start:start + 65_537])
    out_text, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    data = tmp_path / "f1815.3_s1.92_0.08s.sigmf-data"
    assert data.read_bytes() == raw
    assert out_text.decode().strip() == f"{len(raw) // 2} samples, 0.07 s, 0 dropped -> {out}"
    meta = assert_valid_sigmf(out)
    info = parse_sigmf_meta(out.read_text())
    assert info.datatype == "cu8" and info.sample_rate_hz == 2.4e6
    g = meta["global"]
    assert g["core:hw"] == "standard input" and g["core:recorder"] == "chaincast record" and g["chaincast:source"] == "-"
    assert g["chaincast:samples_dropped"] == 0 and g["core:extensions"][0]["name"] == "chaincast"
    assert [c["core:sample_start"] for c in meta["captures"]] == [0] and meta["captures"][0]["core:datetime"].endswith("Z")
    assert not list(tmp_path.glob(".*partial"))
    report = rx_tip(out, tmp_path / "datadir")
    assert report["tip_height"] == 5 and report["blocks_validated"] == 5


def test_record_stops_after_seconds_and_on_sigint_keeps_a_valid_recording(tmp_path):
    raw = GOLDEN.with_suffix(".sigmf-data").read_bytes()
    seconds = chaincast("record", "-", "--out", tmp_path / "part", "--seconds", "0.05",
                        stdin=open(GOLDEN.with_suffix(".sigmf-data"), "rb"))
    assert seconds.returncode == 0, seconds.stderr
    assert (tmp_path / "part.sigmf-data").read_bytes() == raw[: 2 * 120_000]
    assert_valid_sigmf(tmp_path / "part.sigmf-meta")

    out = tmp_path / "stopped.sigmf-meta"
    proc = subprocess.Popen([CHAINCAST, "record", "-", "--out", str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(raw[:200_000])
        proc.stdin.flush()
        partial = tmp_path / ".stopped.sigmf-data.partial"
        deadline = time.monotonic() + 20
        while not (partial.exists() and partial.stat().st_size == 200_000) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not out.exists()  # nothing under the final names while recording
        proc.send_signal(signal.SIGINT)  # the pipe is still open: a radio that keeps sending
        out_text, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.with_suffix(".sigmf-data").read_bytes() == raw[:200_000]
    assert out_text.decode().startswith("100000 samples, 0.04 s, 0 dropped")
    assert_valid_sigmf(out)
    assert not partial.exists()


def test_record_does_not_replace_a_recording_without_force(tmp_path):
    out = tmp_path / "r.sigmf-meta"
    shutil.copy(GOLDEN, out)
    shutil.copy(GOLDEN.with_suffix(".sigmf-data"), out.with_suffix(".sigmf-data"))
    data = GOLDEN.with_suffix(".sigmf-data")
    refused = chaincast("record", "-", "--out", out, stdin=open(data, "rb"))
    assert_one_line_error(refused, "exists (--force replaces it)")
    assert out.read_text() == GOLDEN.read_text()
    forced = chaincast("record", "-", "--out", tmp_path / "r.sigmf-data", "--force", "--seconds", "0.01", stdin=open(data, "rb"))
    assert forced.returncode == 0, forced.stderr
    assert out.with_suffix(".sigmf-data").stat().st_size == 2 * 24_000
    assert json.loads(out.read_text())["global"]["core:recorder"] == "chaincast record"


def test_record_refuses_bad_requests(tmp_path):
    assert_one_line_error(chaincast("record", GOLDEN, "--out", tmp_path / "x"), "a recording is already one")
    assert_one_line_error(chaincast("record", "-", "--out", tmp_path / "no" / "x.sigmf-meta"), "no such folder")
    assert_one_line_error(chaincast("record", "-", "--out", tmp_path / "x", "--seconds", "nan"), "--seconds")
    assert_one_line_error(chaincast("record", "-", "--out", tmp_path / "x", "--gain", "99"), "--gain 99")
    empty = chaincast("record", "-", "--out", tmp_path / "x", stdin=subprocess.DEVNULL)  # opened, then at its end at once
    assert empty.returncode == 1 and empty.stderr.splitlines()[-1].endswith("-: no samples came; nothing recorded")
    assert list(tmp_path.iterdir()) == []


class Replay:
    """``chaincast replay REC --rtl-tcp 127.0.0.1:0``, its port read from its ``event=listen`` line."""

    def __init__(self, recording: Path):
        self.proc = subprocess.Popen([CHAINCAST, "replay", str(recording), "--rtl-tcp", "127.0.0.1:0"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()
        deadline = time.monotonic() + 30
        while not any("event=listen" in line for line in self.lines):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.lines
            time.sleep(0.05)
        self.port = int(re.search(r" port=(\d+)", next(line for line in self.lines if "event=listen" in line)).group(1))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)


def test_record_over_rtl_tcp_from_a_replay(tmp_path):
    pytest.importorskip("chaincast.rxside.replay")
    raw = GOLDEN.with_suffix(".sigmf-data").read_bytes()
    samples = len(raw) // 2
    replay = Replay(GOLDEN)
    try:
        out = tmp_path / "pass.sigmf-meta"
        result = chaincast("record", f"rtl_tcp://127.0.0.1:{replay.port}", "--out", out, "--seconds", repr(samples / 2.4e6),
                           "--downlink-freq", "11.2e9", "--lnb-lo", "9.75e9", "--gain", "30", "--ppm", "-3")
    finally:
        replay.close()
    assert result.returncode == 0, result.stderr
    assert out.with_suffix(".sigmf-data").read_bytes() == raw  # the server sends the recording from its first sample
    meta = assert_valid_sigmf(out)
    g, capture = meta["global"], meta["captures"][0]
    assert capture["core:frequency"] == 1.45e9 and g["chaincast:downlink_hz"] == 11.2e9 and g["chaincast:lnb_lo_hz"] == 9.75e9
    assert g["chaincast:gain_db"] == 30.0 and g["chaincast:ppm"] == -3 and g["chaincast:bias_tee"] is False
    assert g["chaincast:tuner"] == "R820T" and g["core:hw"] == f"rtl_tcp 127.0.0.1:{replay.port}"
    assert g["chaincast:source"] == f"rtl_tcp://127.0.0.1:{replay.port}" and g["core:sample_rate"] == 2.4e6
    assert any("command=set_gain value=300" in line for line in replay.lines)
    report = rx_tip(out, tmp_path / "datadir")
    assert report["tip_height"] == 5


def test_output_paths_and_metadata_with_gaps(tmp_path):
    assert output_paths("a/f1815.3_s1.92_0.08s.sigmf-meta") == (Path("a/f1815.3_s1.92_0.08s.sigmf-meta"),
                                                                Path("a/f1815.3_s1.92_0.08s.sigmf-data"))
    assert output_paths("f1815.3_s1.92.sigmf-data")[0] == Path("f1815.3_s1.92.sigmf-meta")
    assert output_paths("f1815.3_s1.92") == (Path("f1815.3_s1.92.sigmf-meta"), Path("f1815.3_s1.92.sigmf-data"))
    segments = [{"core:sample_start": 0, "core:datetime": "2026-01-01T00:00:00.000000Z"},
                {"core:sample_start": 1000, "core:datetime": "2026-01-01T00:00:01.000000Z", "chaincast:dropped_before": 24}]
    meta = recording_metadata("cf32_le", 1.92e6, "soapy://driver=rtlsdr", {"device": "SoapySDR rtlsdr", "frequency_hz": 1.2e9,
                              "gain_db": "auto", "ppm": 0}, segments, 24, "00" * 64)
    assert [c["core:frequency"] for c in meta["captures"]] == [1.2e9, 1.2e9]
    assert meta["global"]["chaincast:samples_dropped"] == 24 and meta["global"]["core:hw"] == "SoapySDR rtlsdr"
    info = parse_sigmf_meta(json.dumps(meta))
    assert info.frequency_hz == 1.2e9 and info.datatype == "cf32_le" and info.sample_rate_hz == 1.92e6


# ------------------------------------------------------------------------------------ radio options


def tuning(*argv: str, kind: str = "rtl_tcp"):
    parser = argparse.ArgumentParser()
    add_tuning_arguments(parser)
    return tuning_from_args(parser.parse_args(list(argv)), kind)


def test_radio_options_give_the_tuner_frequency_and_check_every_value():
    t = tuning("--downlink-freq", "11.2e9", "--lnb-lo", "9.75e9", "--gain", "38.6", "--ppm", "-12", "--bias-tee")
    assert (t.frequency_hz, t.gain_db, t.ppm, t.bias_tee, t.sample_rate_hz) == (1.45e9, 38.6, -12, True, 2.4e6)
    assert tuning("--freq", "1316.9e6", "--gain", "AUTO", "--sample-rate", "1.92e6").gain_db is None
    assert tuning().frequency_hz is None and math.isclose(tuning("--sample-rate", "1e3").sample_rate_hz, 1e3)
    assert tuning("--downlink-freq", "10.7e9", "--lnb-lo", "10.6e9").frequency_hz == pytest.approx(100e6)
    for argv, needle in [(("--downlink-freq", "11.2e9"), "go together"),
                         (("--freq", "1e9", "--downlink-freq", "11.2e9", "--lnb-lo", "9.75e9"), "not both"),
                         (("--downlink-freq", "9.7e9", "--lnb-lo", "9.75e9"), "below --lnb-lo"),
                         (("--downlink-freq", "12.7e9", "--lnb-lo", "9.75e9"), "outside an RTL-SDR"),
                         (("--downlink-freq", "11.2e9", "--lnb-lo", "40e9"), "--lnb-lo"),
                         (("--freq", "10e6",), "outside an RTL-SDR"),
                         (("--gain", "61",), "--gain 61"), (("--gain", "loud",), "--gain 'loud'"), (("--gain", "nan",), "--gain"),
                         (("--ppm", "1001",), "--ppm 1001"), (("--sample-rate", "nan",), "--sample-rate"),
                         (("--sample-rate", "999",), "--sample-rate"), (("--sample-rate", "2e8",), "--sample-rate")]:
        with pytest.raises(ReceiverError, match=re.escape(needle)):
            tuning(*argv)
    # an E4000 dongle tunes to 2200 MHz; other radios are checked by their drivers
    assert tuning("--freq", "2.1e9").frequency_hz == 2.1e9
    assert tuning("--downlink-freq", "12.7e9", "--lnb-lo", "9.75e9", kind="soapy").frequency_hz == pytest.approx(2.95e9)


def test_point_json_into_a_reader_that_stops_early_ends_quietly(uplink):
    """`chaincast point ... --json | head -1`: the reader has what it wanted; no traceback, no error."""
    point = subprocess.Popen([CHAINCAST, "point", str(uplink), "--json", "--fast"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = point.stdout.readline()
    point.stdout.close()
    code = point.wait(timeout=120)
    err = point.stderr.read()
    assert json.loads(first)["t_s"] > 0
    assert code == 0 and "Traceback" not in err and "error" not in err, err
