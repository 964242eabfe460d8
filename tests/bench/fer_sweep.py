"""FER versus Es/N0 on AWGN for every LDPC MODCOD, to FER 1e-3, and decoder throughput.

For each MODCOD (``chaincast.fec.wire.profile``): LDPC code of its rate and length, its modulation
and 8PSK bit interleaver, exact LLRs; see ``ldpc_fer.py``. Es/N0 starts below DVB-S2's
quasi-error-free threshold (``../shared/REFERENCE.md``; normal frames 0.5 dB below, short frames
0.4 dB below) and rises by ``--step`` until a point measures FER <= 1e-3. Decoder: the receiver's
settings (``DEFAULT_MAX_ITERATIONS``, the rate's alpha/offset). A point stops after 50 frame
errors or 20000 frames. "Es/N0 at FER 1e-3" is interpolated linearly in log10(FER) between the two points that
bracket 1e-3; where the upper one saw no error at all, it is the upper point (a bound), and
``--refine`` measures the midpoint of such a pair for the MODCODs already swept (one midpoint per
run, with other noise than the sweep's).

Throughput (one core): information Mbit/s decoding 128 frames in batches of 32 at the DVB-S2
threshold + 0.5 dB (early termination) and at exactly 25 iterations.

    python tests/bench/fer_sweep.py [--modcods qpsk-1/2 qpsk-3/5 ...] [--quick]

Writes ``bench-out/fer/<modcod>.json`` per MODCOD (skipped if present unless ``--force``) and
``bench-out/fer_sweep.json``; ``fer_plot.py`` draws them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chaincast.fec.ldpc.codes import get_code  # noqa: E402
from chaincast.fec.ldpc.decode import DEFAULT_MAX_ITERATIONS, decode  # noqa: E402
from chaincast.fec.ldpc.encode import encode  # noqa: E402
from chaincast.fec.wire.profile import MODCODS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ldpc_fer import awgn_llr, fer_point, throughput  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out"

# DVB-S2 quasi-error-free Es/N0 (normal FECFRAME, AWGN; EN 302 307-1 Table 13, via REFERENCE.md)
DVBS2_THRESHOLD_DB = {
    "qpsk-1/3": -1.24, "qpsk-1/2": 1.00, "qpsk-3/5": 2.23, "qpsk-2/3": 3.10, "qpsk-3/4": 4.03,
    "qpsk-5/6": 5.18, "8psk-3/5": 5.50, "8psk-2/3": 6.62,
}
# Constrained-input capacity limits from REFERENCE.md (QPSK: per code rate; 8PSK coded modulation)
SHANNON_LIMIT_DB = {
    "qpsk-1/3": -2.26, "qpsk-1/2": 0.19, "qpsk-3/5": 1.47, "qpsk-2/3": 2.31, "qpsk-3/4": 3.39,
    "8psk-3/5": 4.66, "8psk-2/3": 5.76,
}
TARGET_FER = 1e-3
ORDER = ["qpsk-1/2", "qpsk-3/5", "qpsk-1/3", "qpsk-2/3", "qpsk-3/4", "qpsk-5/6", "8psk-3/5", "8psk-2/3"]


def base_name(modcod_name: str) -> str:
    return modcod_name.removesuffix("-short")


def bracket(points: list[dict], target: float = TARGET_FER) -> tuple[dict, dict] | None:
    """The neighbouring points (by Es/N0) whose FER falls from above ``target`` to at most it."""
    pts = sorted(points, key=lambda p: p["esn0_db"])
    for lo, hi in zip(pts, pts[1:]):
        if lo["fer"] > target >= hi["fer"]:
            return lo, hi
    return None


def esn0_at_target(points: list[dict], target: float = TARGET_FER) -> float | None:
    """Es/N0 where FER crosses ``target``, log-linear between the bracketing points."""
    pair = bracket(points, target)
    if pair is None:
        return None
    lo, hi = pair
    if hi["fer"] == 0:
        return hi["esn0_db"]  # no error seen in the upper point: a conservative bound
    f = (math.log10(lo["fer"]) - math.log10(target)) / (math.log10(lo["fer"]) - math.log10(hi["fer"]))
    return lo["esn0_db"] + f * (hi["esn0_db"] - lo["esn0_db"])


def sweep(modcod, step: float, max_frames: int, max_errors: int, max_points: int, seed: int,
          max_iterations: int = DEFAULT_MAX_ITERATIONS) -> dict:
    code = get_code(modcod.code_rate, modcod.coded_bits)
    bps, levels = modcod.bits_per_symbol, modcod.bit_levels
    dvb = DVBS2_THRESHOLD_DB[base_name(modcod.name)]
    start = dvb - (0.4 if modcod.short_frame else 0.5)  # below the crossing of the self-correcting decoder
    rng = np.random.default_rng(seed)
    points = []
    for i in range(max_points):
        esn0 = round(start + i * step, 3)
        t0 = time.perf_counter()
        pt = fer_point(code, esn0, max_frames, max_errors, 32, max_iterations, rng, bps, levels)
        pt["wall_s"] = round(time.perf_counter() - t0, 1)
        points.append(pt)
        print(f"  {modcod.name:16s} {esn0:6.2f} dB  {pt['frame_errors']:5d}/{pt['frames']:6d}  FER {pt['fer']:.2e}  "
              f"it {pt['mean_iterations']:5.1f}  ({pt['wall_s']:.0f} s)", flush=True)
        if pt["fer"] <= TARGET_FER and pt["frames"] >= min(max_frames, 1000):
            break
    # throughput at threshold + 0.5 dB (early termination) and at a fixed 25 iterations
    info = rng.integers(0, 2, (128, code.k), dtype=np.uint8)
    llr = awgn_llr(encode(code, info), dvb + 0.5, rng, bps, levels)
    early = throughput(code, llr, max_iterations, 3)
    fixed = throughput(code, np.zeros_like(llr), 25, 3)
    return {
        "modcod": modcod.name, "code": code.name, "rate": code.rate, "n": code.n, "k": code.k,
        "bits_per_symbol": bps, "bit_levels": list(levels),
        "spectral_efficiency": round(modcod.spectral_efficiency, 4),
        "dvbs2_threshold_db": dvb, "shannon_limit_db": SHANNON_LIMIT_DB.get(base_name(modcod.name)),
        "max_iterations": max_iterations, "esn0_at_fer_1e-3_db": esn0_at_target(points), "points": points,
        "throughput": {"esn0_db": dvb + 0.5, "early_termination": early, "fixed_25_iterations": fixed},
    }


def refine(modcod, result: dict, max_frames: int, max_errors: int, seed: int) -> dict:
    """``result`` with one more point halfway into the bracket whose upper point saw no error."""
    pair = bracket(result["points"])
    if pair is None or pair[1]["frame_errors"] > 0 or pair[1]["esn0_db"] - pair[0]["esn0_db"] < 0.015:
        return result
    lo, hi = pair
    esn0 = round((lo["esn0_db"] + hi["esn0_db"]) / 2, 3)
    code = get_code(modcod.code_rate, modcod.coded_bits)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    pt = fer_point(code, esn0, max_frames, max_errors, 32, result["max_iterations"], rng,
                   modcod.bits_per_symbol, modcod.bit_levels)
    pt["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"  {modcod.name:16s} {esn0:6.2f} dB  {pt['frame_errors']:5d}/{pt['frames']:6d}  FER {pt['fer']:.2e}"
          f"  (refine)", flush=True)
    points = result["points"] + [pt]
    return {**result, "points": points, "esn0_at_fer_1e-3_db": esn0_at_target(points)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [n for base in ORDER for n in (base, base + "-short")]
    p.add_argument("--modcods", nargs="*", default=names)
    p.add_argument("--step", type=float, default=0.1)
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--errors", type=int, default=50)
    p.add_argument("--max-points", type=int, default=10)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--max-iterations", type=int, default=DEFAULT_MAX_ITERATIONS)
    p.add_argument("--force", action="store_true", help="rerun MODCODs that already have results")
    p.add_argument("--quick", action="store_true", help="1000 frames / 20 errors per point (a smoke run)")
    p.add_argument("--refine", action="store_true",
                   help="measure the midpoint where the bracketing upper point saw no error")
    args = p.parse_args(argv)
    if args.quick:
        args.frames, args.errors = 1000, 20
    outdir = OUT / "fer"
    outdir.mkdir(parents=True, exist_ok=True)
    decode(get_code("1/2", 16200), np.zeros((2, 16200), np.float32), max_iterations=1)  # warm-up
    results = []
    for name in args.modcods:
        path = outdir / f"{name.replace('/', '_')}.json"
        if args.refine:
            if path.exists():
                result = refine(MODCODS[name], json.loads(path.read_text()), args.frames, args.errors,
                                args.seed + 1000)
                path.write_text(json.dumps(result, indent=2) + "\n")
                results.append(result)
            continue
        if path.exists() and not args.force:
            results.append(json.loads(path.read_text()))
            continue
        result = sweep(MODCODS[name], args.step, args.frames, args.errors, args.max_points, args.seed,
                       args.max_iterations)
        path.write_text(json.dumps(result, indent=2) + "\n")
        results.append(result)
    # the summary covers every MODCOD measured so far, not only this run's
    ran = {r["modcod"] for r in results}
    for name in names:
        path = outdir / f"{name.replace('/', '_')}.json"
        if name not in ran and path.exists():
            results.append(json.loads(path.read_text()))
    (OUT / "fer_sweep.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'MODCOD':18s} {'b/sym':>6s} {'FER 1e-3 at':>11s} {'DVB-S2':>7s} {'margin':>7s} "
          f"{'Mbit/s @+0.5':>12s} {'Mbit/s 25it':>11s}")
    for r in results:
        at = r["esn0_at_fer_1e-3_db"]
        margin = f"{r['dvbs2_threshold_db'] - at:+7.2f}" if at is not None else "    n/a"
        at_s = f"{at:11.2f}" if at is not None else "        n/a"
        t = r["throughput"]
        print(f"{r['modcod']:18s} {r['spectral_efficiency']:6.3f} {at_s} {r['dvbs2_threshold_db']:7.2f} {margin} "
              f"{t['early_termination']['info_mbit_per_s']:12.2f} {t['fixed_25_iterations']['info_mbit_per_s']:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
