"""Issue 5: a receiver killed with SIGKILL at random points and restarted on the rest of the
recording ends where an uninterrupted run ends, and its datadir opens cleanly in libbitcoinkernel."""

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from chaincast.rxside.source import FileSource
from tests.conftest import MAINNET_BLK, MAINNET_TIP, shared_file

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))


def run(*args) -> dict:
    result = subprocess.run([CHAINCAST, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]) if "--json" in args else {}


@pytest.mark.parametrize("bundle_bytes, kills, distinct, reach", [("0", 20, 8, 0.85), (None, 10, 2, 0.7)])
def test_kills_at_random_points_lose_nothing(tmp_path, bundle_bytes, kills, distinct, reach):
    clean, noisy = tmp_path / "up.sigmf-meta", tmp_path / "down.sigmf-meta"
    # one pass, so an object cut by a kill needs its stored symbols; short frames, so the receiver
    # commits often (after each batch of 32 frames: 0.3 s of air) and the kills land at many points.
    # Issue 5's 20 kills run on one object per block; bundled (the default) the recording is a
    # third as long, so it gets 10 kills over fewer commit points, with bundles cut by them.
    run("tx", "--source", shared_file(MAINNET_BLK), "--chain", "main", "--out", clean, "--modcod", "qpsk-1/3-short",
        *(["--bundle-bytes", bundle_bytes] if bundle_bytes is not None else []))
    run("channel", clean, noisy, "--esn0-db", "8", "--cfo-hz", "30000", "--clock-ppm", "40", "--seed", "3")
    whole = run("rx", noisy, "--chain", "main", "--datadir", tmp_path / "whole", "--json")
    assert whole["tip_height"] == 438

    datadir = tmp_path / "killed"
    state = datadir / "chaincast-rx.sqlite"
    key = FileSource(noisy).key
    total = FileSource(noisy).total_samples
    rng = random.Random(5)
    resumed_from = []
    # each run is killed at a random moment after its committed position passed a random point of
    # the recording, so that every kill lands while decoding, whatever this machine's speed: a
    # point the state has already passed gets no run (killed while starting, it would show nothing),
    # and the kill follows that commit within 50 ms
    for target in sorted(rng.uniform(0, reach * total) for _ in range(kills)):
        if _committed(state, key) >= target:
            continue
        proc = subprocess.Popen([CHAINCAST, "rx", str(noisy), "--chain", "main", "--datadir", str(datadir)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and _committed(state, key) < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        resumed_from.append(_committed(state, key))
    assert resumed_from == sorted(resumed_from)  # progress is never lost
    # kills that landed mid-recording, at distinct commits (a fast run may have committed the whole
    # recording in the 50 ms before its kill: that kill shows nothing lost, but no resume point)
    assert len({position for position in resumed_from if position < total}) >= distinct

    last = run("rx", noisy, "--chain", "main", "--datadir", datadir, "--json")
    assert last["resumed_from_s"] > 0
    assert (last["tip_height"], last["tip_hash"]) == (whole["tip_height"], whole["tip_hash"]) == (438, MAINNET_TIP)

    # the datadir opens cleanly in libbitcoinkernel (a fresh process) with the same active chain
    check = subprocess.run([sys.executable, "-c", (
        "import pbk, sys; cm = pbk.load_chainman(sys.argv[1], pbk.ChainType.MAINNET); c = cm.get_active_chain(); "
        "print(c.height, c.block_tree_entries[c.height].block_hash)"), str(datadir)],
        capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split()[-2:] == ["438", MAINNET_TIP]
    assert "error" not in (check.stdout + check.stderr).lower()


def _committed(state: Path, key: str) -> int:
    """The resume position the killed receiver committed (read beside it: SQLite WAL allows it)."""
    if not state.exists():
        return 0
    try:
        with closing(sqlite3.connect(state)) as db:
            row = db.execute("SELECT resume_sample FROM progress WHERE source = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return 0 if row is None else row[0]


def test_a_rerun_after_a_complete_run_reads_nothing_again(tmp_path):
    clean = tmp_path / "up.sigmf-meta"
    run("tx", "--source", shared_file(MAINNET_BLK), "--chain", "main", "--out", clean)
    first = run("rx", clean, "--chain", "main", "--datadir", tmp_path / "d", "--json")
    again = run("rx", clean, "--chain", "main", "--datadir", tmp_path / "d", "--json")
    assert first["frames_ok"] > 0 and again["frames_ok"] == 0 and again["tip_height"] == 438
    fresh = run("rx", clean, "--chain", "main", "--datadir", tmp_path / "d", "--json", "--from-start")
    assert fresh["frames_ok"] == first["frames_ok"] and fresh["blocks_validated"] == 0  # all known already
