"""The LDPC decoder's giving up on hopeless frames (``chaincast.fec.ldpc.decode.ABANDON_AFTER`` /
``ABANDON_SHARE``): what it costs near the threshold and what it saves on garbage.

For each code, frames of random data through QPSK + AWGN at an Es/N0 0.05-0.15 dB under the code's
FER 1e-3 point are decoded twice from the same LLRs, with the default abandoning and without
(``abandon_after=0``): the frames the first loses that the second decodes are the cost. Then a
batch of 16 pure-noise frames (LLRs of four scales) and 16 frames cut by noise from 30-70% of their
length: how many are given up, and the time of a batch of 31 good frames with one noise frame
against 32 good ones; and the same through the receiver's link decoder, retries included.

    .venv/bin/python tests/bench/ldpc_abandon.py [--frames 640]

Prints a table and writes bench-out/ldpc_abandon.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ldpc_fer import qpsk_awgn_llr  # noqa: E402

from chaincast.fec.ldpc.codes import get_code  # noqa: E402
from chaincast.fec.ldpc.decode import ABANDON_AFTER, ABANDON_SHARE, DEFAULT_MAX_ITERATIONS, decode  # noqa: E402
from chaincast.fec.ldpc.encode import encode  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "bench-out"
POINTS = [("1/3", 64800, -1.60), ("1/2", 64800, 0.80), ("1/2", 16200, 0.95), ("3/5", 64800, 2.05),
          ("3/5", 64800, 2.10), ("3/5", 16200, 2.10), ("3/5", 16200, 2.15), ("2/3", 64800, 2.65),
          ("3/4", 64800, 3.85), ("5/6", 64800, 4.95)]


def near_threshold(code, esn0_db: float, frames: int, rng) -> dict:
    lost = errors = errors_never = 0
    for _ in range(frames // 32):
        info = rng.integers(0, 2, (32, code.k), dtype=np.uint8)
        llr = qpsk_awgn_llr(encode(code, info), esn0_db, rng)
        good = (decode(code, llr).info_bits == info).all(axis=1)
        good_never = (decode(code, llr, abandon_after=0).info_bits == info).all(axis=1)
        errors += int((~good).sum())
        errors_never += int((~good_never).sum())
        lost += int((good_never & ~good).sum())
    return {"frames": frames // 32 * 32, "errors": errors, "errors_never_abandoning": errors_never, "lost_to_abandoning": lost}


def garbage(code, esn0_db: float, rng) -> dict:
    info = rng.integers(0, 2, (32, code.k), dtype=np.uint8)
    llr = qpsk_awgn_llr(encode(code, info), esn0_db + 1.0, rng)
    for f in range(16):
        llr[f] = rng.normal(0, [1, 3, 8, 20][f % 4], code.n)
    for f in range(16, 32):
        cut = int(code.n * (0.3 + 0.4 * (f - 16) / 16))
        llr[f, cut:] = rng.normal(0, 3, code.n - cut)
    given_up = decode(code, llr).iterations < DEFAULT_MAX_ITERATIONS
    return {"noise_given_up": int(given_up[:16].sum()), "cut_given_up": int(given_up[16:].sum())}


def batch_times(rng) -> dict:
    code = get_code("3/5", 64800)
    info = rng.integers(0, 2, (32, code.k), dtype=np.uint8)
    llr = qpsk_awgn_llr(encode(code, info), 3.0, rng)
    spoiled = llr.copy()
    spoiled[17] = rng.normal(0, 3, code.n)
    times = {}
    for name, x, kw in (("32 good", llr, {}), ("31 good + 1 noise", spoiled, {}),
                        ("31 good + 1 noise, never abandoning", spoiled, {"abandon_after": 0})):
        decode(code, x, **kw)
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            decode(code, x, **kw)
            runs.append(time.perf_counter() - started)
        times[name] = round(min(runs) * 1e3, 1)
    return times


def link_times(rng) -> dict:
    """What a garbage frame (a valid header, a payload of noise) costs the receiver's link decoder,
    retries included: 32 QPSK 3/5 frames at Es/N0 3 dB against 31 of them and one garbage frame, ms."""
    from chaincast.fec.framecodec import FrameCodec
    from chaincast.fec.wire.linkframe import LinkFrame
    from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS
    from chaincast.rxside.linkdecode import LinkDecoder
    from chaincast.sdr import plframe as pf
    from chaincast.txside.uplink import Uplink

    modcod = MODCODS["qpsk-3/5"]
    uplink = Uplink(DEFAULT_PROFILE, modcod)
    pay_idx = pf.payload_indices(modcod.slots, True)
    n0 = 10 ** (-3.0 / 10)
    frames = []
    for _ in range(32):
        field = LinkFrame((rng.bytes(1000),)).pack(FrameCodec(modcod).data_bytes)
        sym = uplink.frame_symbols(field)[pay_idx]
        frames.append((sym + np.sqrt(n0 / 2) * (rng.normal(size=sym.size) + 1j * rng.normal(size=sym.size))).astype(np.complex64))
    spoiled = list(frames)
    spoiled[17] = (np.sqrt(0.5) * (rng.normal(size=pay_idx.size) + 1j * rng.normal(size=pay_idx.size))).astype(np.complex64)
    pls_value = (modcod.pls_id << 2) | 1
    times = {}
    for name, batch in (("32 good", frames), ("31 good + 1 garbage", spoiled)):
        runs = []
        for _ in range(4):
            link = LinkDecoder()
            started = time.perf_counter()
            for payload in batch:
                link.push(pls_value, payload, n0)
            link.flush()
            runs.append(time.perf_counter() - started)
        times[name] = round(min(runs[1:]) * 1e3, 1)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=640)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    rows = []
    for rate, n, esn0 in POINTS:
        code = get_code(rate, n)
        rng = np.random.default_rng(args.seed)
        row = {"rate": rate, "n": n, "esn0_db": esn0, "share": ABANDON_SHARE.get(rate)}
        row |= near_threshold(code, esn0, args.frames, rng) | garbage(code, esn0, rng)
        rows.append(row)
        print(f"{rate:>4} n={n:5d} {esn0:5.2f} dB share {row['share']}: lost to abandoning {row['lost_to_abandoning']}"
              f"/{row['frames']} (errors {row['errors']} against {row['errors_never_abandoning']}); given up: noise "
              f"{row['noise_given_up']}/16, cut {row['cut_given_up']}/16", flush=True)
    times = batch_times(np.random.default_rng(args.seed))
    print(f"QPSK 3/5 n=64800, 32 frames at 3 dB, ms (after {ABANDON_AFTER} iterations): {times}")
    link = link_times(np.random.default_rng(args.seed))
    print(f"the link decoder (retries included), QPSK 3/5, 32 frames at 3 dB, ms: {link}")
    OUT.mkdir(exist_ok=True)
    (OUT / "ldpc_abandon.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "abandon_after": ABANDON_AFTER,
                                                        "points": rows, "batch_ms": times, "link_ms": link},
                                                       indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
