"""Recordings for the live-reception tests, made once per test session by the real uplink and
channel commands (cu8, 2.4 Msps, as an RTL-SDR gives them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MAINNET_BLK, REGTEST_CHAIN, shared_file

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
SAMPLE_RATE = 2.4e6


def chaincast(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([CHAINCAST, *map(str, args)], capture_output=True, text=True, timeout=900, **kwargs)


def make_recording(folder: Path, source: Path, chain: str, passes: int, esn0_db: float, cfo_hz: float,
                   clock_ppm: float) -> Path:
    """tx -> channel: the received cu8 recording's .sigmf-meta."""
    folder.mkdir(parents=True, exist_ok=True)
    clean, noisy = folder / "up.sigmf-meta", folder / "down.sigmf-meta"
    tx = chaincast("tx", "--source", source, "--chain", chain, "--out", clean, "--passes", passes)
    assert tx.returncode == 0, tx.stderr
    ch = chaincast("channel", clean, noisy, "--esn0-db", esn0_db, "--cfo-hz", cfo_hz, "--clock-ppm", clock_ppm,
                   "--seed", 7)
    assert ch.returncode == 0, ch.stderr
    assert json.loads(noisy.read_text())["global"]["core:datatype"] == "cu8"
    clean.with_suffix(".sigmf-data").unlink()
    return noisy


@pytest.fixture(scope="session")
def regtest_recording(tmp_path_factory) -> Path:
    """Bitcoin Core's 206-block regtest chain, 2 passes, Es/N0 8 dB, 20 kHz, 30 ppm."""
    return make_recording(tmp_path_factory.mktemp("live-regtest"), shared_file(REGTEST_CHAIN), "regtest", 2, 8.0, 20e3, 30)


@pytest.fixture(scope="session")
def mainnet_recording(tmp_path_factory) -> Path:
    """Mainnet blocks 0..438, 4 passes, Es/N0 5 dB, 40 kHz, 30 ppm."""
    return make_recording(tmp_path_factory.mktemp("live-mainnet"), shared_file(MAINNET_BLK), "main", 4, 5.0, 40e3, 30)


class Process:
    """A chaincast command running in the background, stdout and stderr going to files in
    ``folder`` (``.out`` / ``.err``) that the test can read while it runs."""

    def __init__(self, folder: Path, name: str, *args, stdin=None):
        self.args = list(map(str, args))
        self.out_path, self.err_path = folder / f"{name}.out", folder / f"{name}.err"
        self._out, self._err = open(self.out_path, "w"), open(self.err_path, "w")
        self.proc = subprocess.Popen([CHAINCAST, *self.args], stdin=stdin, stdout=self._out, stderr=self._err)

    def interrupt(self, signum=signal.SIGINT) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout=180) -> tuple[int, str, str]:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        return self.proc.returncode, self.out_path.read_text(), self.err_path.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()


def wait_for_line(path_or_proc_stderr, pattern: str, timeout: float = 30.0) -> str:
    """The first line of a growing file holding ``pattern`` (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path_or_proc_stderr):
            for line in Path(path_or_proc_stderr).read_text(errors="replace").splitlines():
                if pattern in line:
                    return line
        time.sleep(0.05)
    raise AssertionError(f"no line with {pattern!r} in {path_or_proc_stderr} within {timeout} s")
