"""A long live run: `chaincast replay --loop` serves mainnet blocks 0..438 (4 passes, Es/N0 5 dB,
40 kHz, 30 ppm, cu8) as an rtl_tcp server at real time, `chaincast rx rtl_tcp://...` receives it
for --seconds (default an hour); the receiver's resident memory is sampled every 10 s from /proc.
Writes bench-out/live_soak.json and prints a table: RSS at start (after the first minute) and at
the end, the peak, samples dropped, overflows, frames and the tip.

    .venv/bin/python tests/bench/live_soak.py [--seconds 3600]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
MAINNET_BLK = ROOT.parent / "shared" / "data" / "blocks" / "bitcoinj" / "first-100k-blocks.dat"


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--out", default=str(ROOT / "bench-out" / "live_soak.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chaincast-soak-"))
    up, down = work / "up.sigmf-meta", work / "down.sigmf-meta"
    subprocess.run([CHAINCAST, "tx", "--source", MAINNET_BLK, "--chain", "main", "--out", up, "--passes", "4"],
                   check=True, capture_output=True)
    subprocess.run([CHAINCAST, "channel", up, down, "--esn0-db", "5", "--cfo-hz", "40000", "--clock-ppm", "30",
                    "--seed", "7"], check=True, capture_output=True)
    up.with_suffix(".sigmf-data").unlink()
    server_err = open(work / "replay.err", "w")
    server = subprocess.Popen([CHAINCAST, "replay", down, "--rtl-tcp", "127.0.0.1:0", "--loop"], stderr=server_err,
                              stdout=subprocess.DEVNULL)
    port = None
    for _ in range(300):
        found = re.search(r"event=listen .*port=(\d+)", (work / "replay.err").read_text())
        if found:
            port = int(found.group(1))
            break
        time.sleep(0.1)
    assert port is not None, "the replay server did not start"
    rx_err = open(work / "rx.err", "w")
    rx = subprocess.Popen([CHAINCAST, "rx", f"rtl_tcp://127.0.0.1:{port}", "--freq", "1316900000", "--chain", "main",
                           "--datadir", work / "datadir", "--json", "--status-interval", "60"],
                          stdout=subprocess.PIPE, stderr=rx_err, text=True)
    samples, started = [], time.monotonic()
    try:
        while time.monotonic() - started < args.seconds and rx.poll() is None:
            time.sleep(10)
            samples.append((round(time.monotonic() - started), *rss_mib(rx.pid)))
            print(f"\r{samples[-1][0]:6d} s  RSS {samples[-1][1]:6.1f} MiB  peak {samples[-1][2]:6.1f} MiB", end="",
                  file=sys.stderr, flush=True)
    finally:
        rx.send_signal(signal.SIGINT)
        out, _ = rx.communicate(timeout=120)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    print(file=sys.stderr)
    report = json.loads(out.strip().splitlines()[-1])
    after_minute = next((s for s in samples if s[0] >= 60), samples[0])
    result = {
        "date": time.strftime("%Y-%m-%d"), "seconds": round(time.monotonic() - started), "exit": rx.returncode,
        "rss_mib_after_1_min": round(after_minute[1], 1), "rss_mib_end": round(samples[-1][1], 1),
        "peak_rss_mib": round(samples[-1][2], 1), "samples_dropped": report["samples_dropped"],
        "overflows": report["overflows"], "reconnects": report["reconnects"], "frames_ok": report["frames_ok"],
        "frames_failed": report["frames_failed"], "tip_height": report["tip_height"],
        "signal_s": report["duration_s"], "rss_samples": samples,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"| run | RSS after 1 min | RSS at end | peak | dropped | overflows | frames ok / failed | tip |\n"
          f"|---|---|---|---|---|---|---|---|\n"
          f"| {result['seconds']} s | {result['rss_mib_after_1_min']} MiB | {result['rss_mib_end']} MiB | "
          f"{result['peak_rss_mib']} MiB | {result['samples_dropped']} | {result['overflows']} | "
          f"{result['frames_ok']} / {result['frames_failed']} | {result['tip_height']} |")
    return 0 if rx.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
