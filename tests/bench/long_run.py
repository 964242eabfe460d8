"""Streaming memory over a long recording (issue 4): ``--minutes`` of 2.4 Msps cu8 through ``chaincast rx``.

The recording is mainnet 0..438 (``--modcod qpsk-3/5 --passes 3``) through ``chaincast channel`` with
issue 4's impairments (3.3 dB, CFO 230 kHz, 800 Hz/s drift, 150 ppm, 20 Hz phase noise, I/Q imbalance,
DC, 8-bit), about 8.5 s, written back to back until the file lasts ``--minutes`` (a carousel that
repeats; every seam is an abrupt restart the receiver must reacquire). ``rx`` runs as a subprocess;
its resident set is sampled every few seconds from /proc and its peak read from the kernel
(wait4's ru_maxrss). The big file is deleted afterwards unless ``--keep``. Writes bench-out/long_run.json.

    python tests/bench/long_run.py --minutes 60          # about 17 GB of disk while it runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out"
SHARED = REPO.parent / "shared" / "data"
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
IMPAIRMENTS = ["--esn0-db", "3.3", "--cfo-hz", "230000", "--drift-hz-per-s", "800", "--clock-ppm", "150",
               "--phase-noise-hz", "20", "--iq-gain-db", "0.5", "--iq-phase-deg", "3", "--dc", "0.1", "--seed", "11"]


def run(*args) -> subprocess.CompletedProcess:
    result = subprocess.run([CHAINCAST, *map(str, args)], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"chaincast {args[0]} failed: {result.stderr.strip()}")
    return result


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--workdir", default=None, help="where the big recording goes (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the recording")
    args = p.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="chaincast-long-"))
    work.mkdir(parents=True, exist_ok=True)
    clean, piece, hour = work / "up.sigmf-meta", work / "piece.sigmf-meta", work / "long.sigmf-meta"
    run("tx", "--source", SHARED / "blocks" / "bitcoinj" / "first-100k-blocks.dat", "--chain", "main",
        "--out", clean, "--passes", 3, "--modcod", "qpsk-3/5")
    run("channel", clean, piece, *IMPAIRMENTS)
    meta = json.loads(piece.read_text())
    rate = meta["global"]["core:sample_rate"]
    data = piece.with_suffix(".sigmf-data").read_bytes()
    copies = max(1, round(args.minutes * 60 * rate * 2 / len(data)))
    with open(hour.with_suffix(".sigmf-data"), "wb") as f:
        for _ in range(copies):
            f.write(data)
    hour.write_text(json.dumps(meta))
    seconds = copies * len(data) / 2 / rate
    print(f"{seconds / 60:.1f} min of cu8 at {rate / 1e6:g} Msps ({copies} copies, "
          f"{copies * len(data) / 1e9:.1f} GB) in {work}", flush=True)

    started = time.time()
    with open(work / "rx.out", "w+") as out, open(work / "rx.err", "w+") as err:
        proc = subprocess.Popen([CHAINCAST, "rx", str(hour), "--chain", "main", "--datadir", str(work / "datadir"),
                                 "--json"], stdout=out, stderr=err, text=True)
        samples = []
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            mb = rss_mb(proc.pid)
            if mb is not None:
                samples.append((round(time.time() - started, 1), round(mb, 1)))
            time.sleep(5)
        wall = time.time() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"rx failed: {stderr.strip()}")
    rx = json.loads(stdout.strip().splitlines()[-1])
    peak = usage.ru_maxrss / 1024  # rx alone (tx and channel ran before it)
    tenth = max(1, len(samples) // 10)
    report = {
        "minutes": round(seconds / 60, 2), "copies": copies, "sample_rate_hz": rate,
        "peak_rss_mb": round(peak, 1),
        "rss_mb_first_tenth_max": max((m for _, m in samples[:tenth]), default=None),
        "rss_mb_last_tenth_max": max((m for _, m in samples[-tenth:]), default=None),
        "rss_samples": samples[:: max(1, len(samples) // 60)],
        "wall_s": round(wall, 1), "realtime_factor": round(seconds / wall, 2),
        "tip_height": rx["tip_height"], "frames_ok": rx["frames_ok"], "frames_failed": rx["frames_failed"],
        "frames_found": rx["frames_found"], "header_failures": rx["header_failures"],
        "blocks_validated": rx["blocks_validated"],
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "long_run.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rss_samples"}))
    return 0 if report["peak_rss_mb"] < 500 and report["tip_height"] == 438 else 1


if __name__ == "__main__":
    sys.exit(main())
