"""`chaincast rx` on live sources: raw IQ on standard input (a file redirected, a pipe paced like a
radio, a pipe 20 times faster than real time), the signals that stop it, and the options that
tune a radio. No radio exists here: the pipes are written by the test at a radio's pace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.rxside.live_fixtures import CHAINCAST, SAMPLE_RATE, Process, chaincast, regtest_recording  # noqa: F401
from tests.conftest import REGTEST_TIP


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def paced_writer(pipe, data: bytes, speed: float, loop: bool, stop: threading.Event, chunk_samples: int = 24_000):
    """Writes ``data`` (cu8) to ``pipe`` at ``speed`` x real time (2.4 Msps), again and again if
    ``loop``, until ``stop``; closes the pipe at the end."""
    step = chunk_samples * 2
    started, sent = time.monotonic(), 0
    try:
        while not stop.is_set():
            for offset in range(0, len(data), step):
                if stop.is_set():
                    break
                due = started + sent / (SAMPLE_RATE * speed)
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
                pipe.write(data[offset:offset + step])
                sent += len(data[offset:offset + step]) // 2
            if not loop:
                break
    except (BrokenPipeError, ValueError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_standard_input_redirected_from_a_file_reaches_the_tip(tmp_path, regtest_recording):
    data = regtest_recording.with_suffix(".sigmf-data")
    with open(data, "rb") as stdin:
        rx = chaincast("rx", "-", "--chain", "regtest", "--datadir", tmp_path / "d", "--json", stdin=stdin)
    assert rx.returncode == 0, rx.stderr
    report = last_json(rx.stdout)
    assert report["tip_height"] == 206 and report["tip_hash"] == REGTEST_TIP
    # a redirected file waits for the receiver: nothing is dropped, every sample is fed
    assert report["source_live"] and report["samples_dropped"] == 0
    assert report["samples"] == data.stat().st_size // 2
    assert "event=start" in rx.stderr and "event=end" in rx.stderr


def test_a_pipe_paced_like_a_radio_reaches_the_tip_and_ends_with_its_input(tmp_path, regtest_recording):
    data = regtest_recording.with_suffix(".sigmf-data").read_bytes()
    rx = Process(tmp_path, "rx", "rx", "-", "--chain", "regtest", "--datadir", tmp_path / "d", "--json",
                 stdin=subprocess.PIPE)
    stop = threading.Event()
    writer = threading.Thread(target=paced_writer, args=(rx.proc.stdin, data, 1.0, False, stop))
    writer.start()
    code, out, err = rx.wait(timeout=120)
    stop.set()
    writer.join()
    assert code == 0, err
    report = last_json(out)
    assert report["tip_height"] == 206 and report["source_ended"]


def test_sigint_and_sigterm_finish_commit_and_print_the_summary(tmp_path, regtest_recording):
    """An endless pipe (the recording over and over, at real time): a signal ends the run with
    exit 0 and the --json summary; the state is committed, so a second run knows the chain."""
    data = regtest_recording.with_suffix(".sigmf-data").read_bytes()
    for signum in (signal.SIGINT, signal.SIGTERM):
        rx = Process(tmp_path, f"rx-{signum}", "rx", "-", "--chain", "regtest", "--datadir", tmp_path / "d", "--json",
                     "--status-interval", "0.5", stdin=subprocess.PIPE)
        stop = threading.Event()
        writer = threading.Thread(target=paced_writer, args=(rx.proc.stdin, data, 1.0, True, stop))
        writer.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "tip=206" not in rx.err_path.read_text():
            time.sleep(0.2)
        rx.interrupt(signum)
        code, out, err = rx.wait(timeout=60)
        stop.set()
        writer.join()
        assert code == 0, err
        report = last_json(out)
        assert report["stopped_by"] == signal.Signals(signum).name
        assert report["tip_height"] == 206, report
        assert "event=stopping" in err and "Traceback" not in err
    # the second run found the chain in the datadir and its objects done in the state file: the
    # first run committed both before it exited
    assert report["blocks_validated"] == 0 and report["objects_complete"] == 0


def test_a_source_20_times_faster_than_real_time_is_dropped_counted_and_bounded(tmp_path, regtest_recording):
    data = regtest_recording.with_suffix(".sigmf-data").read_bytes()
    rx = Process(tmp_path, "rx", "rx", "-", "--overflow", "drop", "--chain", "regtest", "--datadir", tmp_path / "d",
                 "--json", "--status-interval", "0.5", stdin=subprocess.PIPE)
    stop = threading.Event()
    writer = threading.Thread(target=paced_writer, args=(rx.proc.stdin, data, 20.0, True, stop))
    writer.start()
    time.sleep(15)
    peak = vm_hwm_mib(rx.proc.pid)
    rx.interrupt()
    code, out, err = rx.wait(timeout=60)
    stop.set()
    writer.join()
    assert code == 0, err
    report = last_json(out)
    assert report["samples_dropped"] > 0 and report["overflows"] > 0
    assert report["frames_ok"] > 0  # decoding goes on between the drops
    assert report["discontinuities"] > 0  # each drop made the demodulator acquire again
    assert peak < 600, f"peak RSS {peak:.0f} MiB"
    assert "dropped=" in err  # the status line shows it


def test_rtlsdr_without_a_dongle_is_one_line_and_nothing_is_written(tmp_path):
    """pyrtlsdr with pyrtlsdrlib's librtlsdr is real here; only the dongle is missing, so opening
    fails (what is not exercised without hardware: tuning, streaming, unplugging)."""
    rx = chaincast("rx", "rtlsdr://0", "--chain", "regtest", "--datadir", tmp_path / "d", "--freq", "1316.9e6")
    assert rx.returncode != 0
    lines = rx.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chaincast rx: error: rtlsdr://0:"), rx.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("args, message", [
    (["--freq", "5e9"], "outside an RTL-SDR"),
    (["--downlink-freq", "11.7e9"], "go together"),
    (["--downlink-freq", "9e9", "--lnb-lo", "9.75e9"], "below --lnb-lo"),
    (["--gain", "loud"], "a number of dB or auto"),
    (["--ppm", "5000"], "--ppm 5000"),
    (["--sample-rate", "1e12"], "--sample-rate"),
    (["--buffer-seconds", "0"], "--buffer-seconds"),
    (["--cores", "3"], "--cores 3: 1 or 2"),
])
def test_bad_radio_options_are_one_line_errors(tmp_path, args, message):
    rx = chaincast("rx", "rtl_tcp://127.0.0.1:9", "--chain", "regtest", "--datadir", tmp_path / "d", *args)
    assert rx.returncode != 0 and message in rx.stderr, rx.stderr
    assert len(rx.stderr.strip().splitlines()) == 1 and not (tmp_path / "d").exists()


def test_radio_options_on_a_recording_are_refused(tmp_path, regtest_recording):
    rx = chaincast("rx", regtest_recording, "--chain", "regtest", "--datadir", tmp_path / "d", "--gain", "40")
    assert rx.returncode != 0 and "--gain is for a live source" in rx.stderr


def test_settings_come_from_a_toml_config(tmp_path, regtest_recording):
    config = tmp_path / "rx.toml"
    config.write_text(f'source = "{regtest_recording}"\nchain = "regtest"\ndatadir = "{tmp_path / "d"}"\njson = true\n')
    rx = chaincast("rx", "--config", config)
    assert rx.returncode == 0, rx.stderr
    assert last_json(rx.stdout)["tip_height"] == 206
    config.write_text('chain = "regtest"\nloudness = 3\n')
    bad = chaincast("rx", "-", "--config", config, "--datadir", tmp_path / "e")
    assert bad.returncode != 0 and f"--config {config}: unknown setting 'loudness'" in bad.stderr
    config.write_text('chain = "regtest\n')
    bad = chaincast("rx", "-", "--config", config, "--datadir", tmp_path / "e")
    assert bad.returncode != 0 and "not TOML" in bad.stderr


def test_the_command_line_frequency_wins_over_the_configs_other_form(tmp_path):
    """A service's rx.toml gives the downlink and the LNB's LO; --freq on the command line (to try
    another IF by hand) replaces both, and --downlink-freq/--lnb-lo replace the file's freq."""
    from chaincast.rxside.cli import build_parser, parse_with_config
    from chaincast.rxside.tuningargs import tuning_from_args

    config = tmp_path / "rx.toml"
    config.write_text('source = "rtl_tcp://127.0.0.1:1234"\nchain = "main"\ndatadir = "/srv/btc"\n'
                      'downlink_freq = 11.2e9\nlnb_lo = 9.75e9\ngain = 30\n')
    from_file = tuning_from_args(parse_with_config(build_parser(), ["--config", str(config)]), "rtl_tcp")
    assert from_file.frequency_hz == pytest.approx(1.45e9) and from_file.gain_db == 30
    args = parse_with_config(build_parser(), ["--config", str(config), "--freq", "1316.9e6"])
    tuning = tuning_from_args(args, "rtl_tcp")
    assert tuning.frequency_hz == 1316.9e6 and tuning.downlink_hz is None and tuning.gain_db == 30
    config.write_text('source = "rtl_tcp://127.0.0.1:1234"\nchain = "main"\ndatadir = "/srv/btc"\nfreq = 1.2e9\n')
    args = parse_with_config(build_parser(), ["--config", str(config), "--downlink-freq", "11.5e9", "--lnb-lo", "10.6e9"])
    assert tuning_from_args(args, "rtl_tcp").frequency_hz == pytest.approx(0.9e9)
    both = chaincast("rx", "rtl_tcp://127.0.0.1:9", "--chain", "main", "--datadir", tmp_path / "d", "--freq", "1.2e9",
                     "--downlink-freq", "11.2e9", "--lnb-lo", "9.75e9")
    assert both.returncode != 0 and "not both" in both.stderr  # on one command line it is still a mistake


def test_radio_options_with_standard_input_are_refused(tmp_path):
    for command in (["rx", "-", "--chain", "regtest", "--datadir", tmp_path / "d"], ["point", "-"]):
        run = chaincast(*command, "--gain", "40", input="")
        assert run.returncode != 0 and "--gain is for a radio" in run.stderr and "rtl_sdr -f" in run.stderr, run.stderr
    assert not (tmp_path / "d").exists()


def test_the_summary_of_a_run_without_frames_has_no_none(tmp_path):
    rx = chaincast("rx", "-", "--chain", "regtest", "--datadir", tmp_path / "d", "--no-state", input="\x80" * 480_000)
    assert rx.returncode == 0, rx.stderr
    assert "0 frames ok" in rx.stdout and "None" not in rx.stdout, rx.stdout


def test_seconds_is_wall_clock_so_a_silent_source_stops_too(tmp_path):
    """A pipe that delivers nothing: --seconds counts running time, not samples."""
    reader, writer = os.pipe()
    try:
        started = time.monotonic()
        rx = subprocess.run([CHAINCAST, "rx", "-", "--chain", "regtest", "--datadir", str(tmp_path / "d"), "--seconds", "1.5",
                             "--json"], stdin=reader, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    finally:
        os.close(reader)
        os.close(writer)
    assert rx.returncode == 0, rx.stderr
    assert last_json(rx.stdout)["samples"] == 0 and 1.5 <= took < 30


def test_a_recording_named_with_dots_is_found_by_every_command(tmp_path, regtest_recording):
    """Captures are often named by frequency: f1815.3_s1.92_0.08s.sigmf-meta is that file, not f1815.sigmf-meta."""
    import shutil
    dotted = tmp_path / "f1315.3_s2.4_1.0s.sigmf-meta"
    shutil.copy(regtest_recording, dotted)
    shutil.copy(regtest_recording.with_suffix(".sigmf-data"), dotted.with_suffix(".sigmf-data"))
    ch = chaincast("channel", dotted, tmp_path / "again.1.5.sigmf-meta", "--esn0-db", "30")
    assert ch.returncode == 0, ch.stderr
    assert (tmp_path / "again.1.5.sigmf-data").exists() and not (tmp_path / "again.1.sigmf-data").exists()
    for recording in (dotted, tmp_path / "again.1.5.sigmf-meta"):
        rx = chaincast("rx", recording, "--chain", "regtest", "--datadir", tmp_path / f"d-{recording.name}", "--json")
        assert rx.returncode == 0, rx.stderr
        assert last_json(rx.stdout)["tip_height"] == 206


def test_rx_options_load_nothing_heavy():
    """`chaincast rx --help` and usage errors answer before the demodulator and libbitcoinkernel
    load: the launcher and rx's parser import none of them (the wall time is the bench's)."""
    import sys as _sys
    script = ("import sys; from chaincast.txside.launcher import load_command; rx = load_command('rx'); "
              "from chaincast.rxside.cli import build_parser; build_parser().format_help(); "
              "print(sorted(m for m in ('numpy', 'numba', 'scipy', 'pbk', 'chaincast.txside.cli', 'chaincast.sdr.rx', "
              "'chaincast.rxside.rxrun') if m in sys.modules))")
    out = subprocess.run([_sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    bad = chaincast("rx", "-", "--chain", "nosuchchain", "--datadir", "x")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
