"""`make bench` part 3: issue 5's blockage acceptance over many channel seeds.

Mainnet blocks 0..438, ``tx --passes 3`` with each MODCOD, then ``channel`` at Es/N0 10 dB with
20 kHz / 30 ppm offsets and 30% of the air time blanked in 20 ms bursts (exponential gaps, one
draw per seed), then ``rx``. A seed passes when rx reaches tip 438. Writes bench-out/blanking.json
and prints a table: per MODCOD the seeds that reached the tip and the share of frames decoded.

    python tests/bench/blanking.py --seeds 1 2 3 4 5 6 7 8 9 --modcods qpsk-3/5 qpsk-3/5-short
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out"
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
MAINNET_BLK = REPO.parent / "shared" / "data" / "blocks" / "bitcoinj" / "first-100k-blocks.dat"
MAINNET_TIP = 438


def run(*args) -> str:
    done = subprocess.run([CHAINCAST, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"chaincast {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="*", default=list(range(1, 10)))
    p.add_argument("--modcods", nargs="*", default=["qpsk-3/5", "qpsk-3/5-short"])
    p.add_argument("--fraction", type=float, default=0.3)
    p.add_argument("--blank-ms", type=float, default=20.0)
    args = p.parse_args(argv)
    if not MAINNET_BLK.exists():
        raise SystemExit(f"needs the shared mainnet blocks: {MAINNET_BLK}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for modcod in args.modcods:
            up = tmp / "up.sigmf-meta"
            on_air = int(re.search(r"(\d+) frames", run("tx", "--source", MAINNET_BLK, "--chain", "main", "--out", up,
                                                        "--passes", 3, "--modcod", modcod)).group(1))
            for seed in args.seeds:
                down = tmp / "down.sigmf-meta"
                run("channel", up, down, "--esn0-db", 10, "--cfo-hz", 20000, "--clock-ppm", 30, "--seed", seed,
                    "--blank-fraction", args.fraction, "--blank-ms", args.blank_ms)
                report = json.loads(run("rx", down, "--chain", "main", "--datadir", tmp / f"d{modcod.replace('/', '_')}{seed}",
                                        "--json", "--no-state").strip().splitlines()[-1])
                row = {"modcod": modcod, "seed": seed, "frames_on_air": on_air, "frames_ok": report["frames_ok"],
                       "frames_failed": report["frames_failed"], "header_failures": report["header_failures"],
                       "tip_height": report["tip_height"], "reached_tip": report["tip_height"] == MAINNET_TIP}
                results.append(row)
                print(f"  {modcod:16s} seed {seed}: {row['frames_ok']}/{on_air} frames decoded, tip {row['tip_height']}",
                      flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "blanking.json").write_text(json.dumps({"blank_fraction": args.fraction, "blank_ms": args.blank_ms,
                                                   "esn0_db": 10, "passes": 3, "runs": results}, indent=2) + "\n")
    print(f"\n{'MODCOD':16s} {'tip 438':>9s} {'frames decoded':>15s}")
    for modcod in args.modcods:
        rows = [r for r in results if r["modcod"] == modcod]
        share = sum(r["frames_ok"] for r in rows) / sum(r["frames_on_air"] for r in rows)
        print(f"{modcod:16s} {sum(r['reached_tip'] for r in rows):4d} of {len(rows):<2d} {share:15.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
