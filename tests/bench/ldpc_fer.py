"""FER versus Es/N0 of one chaincast LDPC code on AWGN with QPSK or 8PSK, and decoder throughput.

QPSK with unit-energy symbols, Gray mapped: each real dimension carries one coded bit as
``(1 - 2 c) / sqrt(2)`` plus Gaussian noise of variance ``N0 / 2``; the LLR (positive = 0) is
``2 * sqrt(2) * y / N0``. 8PSK (``--bits-per-symbol 3``): the codeword goes through the column
interleaver of ``--order`` (``chaincast.fec.framecodec``), Gray 8PSK, complex noise of variance
N0, exact LLRs (``chaincast.sdr.psk8``), deinterleaved. ``--levels`` replaces the column
interleaver by the general one (``chaincast.fec.framecodec.interleave_bits``: one digit per
codeword segment, the bit of the symbols it goes on), e.g. ``--levels 120`` is ``--order 201`` and
``--modcod 8psk-3/5`` takes the MODCOD's. Es/N0 in dB is ``-10 log10(N0)``.

For every Es/N0 frames are decoded in batches until ``--errors`` frame errors (decoded information
bits differ from the sent ones) or ``--frames`` frames. Throughput = information bits / decoder
wall time, one core (numba threads pinned to 1), noise generation excluded, after a warm-up:
(a) at ``--speed-esn0`` with early termination and ``--max-iterations``; (b) at exactly 25
iterations per frame (all-zero LLRs never stop, so every frame runs the full 25).

    python tests/bench/ldpc_fer.py --rate 3/5 --n 64800 --esn0 2.0 2.1 2.2 2.3 --frames 300

Prints a table and writes ``bench-out/ldpc_fer_<code>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chaincast.fec.framecodec import deinterleave_bits, interleave_bits  # noqa: E402
from chaincast.fec.ldpc.codes import get_code  # noqa: E402
from chaincast.fec.ldpc.decode import DEFAULT_MAX_ITERATIONS, DEFAULT_WIDTH, decode, decoder_parameters  # noqa: E402
from chaincast.fec.ldpc.encode import encode  # noqa: E402
from chaincast.fec.wire.profile import column_levels, modcod_by_name  # noqa: E402
from chaincast.sdr.psk8 import psk8_llr_fast, psk8_map  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out"


def qpsk_awgn_llr(codewords: np.ndarray, esn0_db: float, rng: np.random.Generator) -> np.ndarray:
    """``codewords: uint8[batch, n]`` -> LLRs ``float32[batch, n]`` after QPSK + AWGN at ``esn0_db``."""
    n0 = np.float32(10.0 ** (-esn0_db / 10.0))
    x = (1.0 - 2.0 * codewords.astype(np.float32)) / np.float32(np.sqrt(2.0))
    y = x + rng.standard_normal(codewords.shape, dtype=np.float32) * np.float32(np.sqrt(n0 / 2.0))
    return (np.float32(2.0 * np.sqrt(2.0)) / n0 * y).astype(np.float32)


def awgn_llr(codewords: np.ndarray, esn0_db: float, rng: np.random.Generator, bits_per_symbol: int = 2,
             levels: tuple[int, ...] = ()) -> np.ndarray:
    """QPSK as ``qpsk_awgn_llr``; 8PSK through the bit interleaver ``levels`` and back."""
    if bits_per_symbol == 2:
        return qpsk_awgn_llr(codewords, esn0_db, rng)
    n0 = 10.0 ** (-esn0_db / 10.0)
    sent = interleave_bits(codewords, levels)
    x = psk8_map(sent.reshape(-1))
    noise = rng.standard_normal((x.size, 2), dtype=np.float32) * np.float32(np.sqrt(n0 / 2.0))
    y = x + (noise[:, 0] + 1j * noise[:, 1]).astype(np.complex64)
    llr = psk8_llr_fast(y, n0).reshape(codewords.shape)
    return np.ascontiguousarray(deinterleave_bits(llr, levels))


def fer_point(code, esn0_db, max_frames, max_errors, batch, max_iterations, rng, bits_per_symbol=2, levels=(),
              **kw) -> dict:
    frames = errors = not_ok = undetected = 0
    iterations = 0
    decode_s = 0.0
    while frames < max_frames and errors < max_errors:
        size = min(batch, max_frames - frames)
        info = rng.integers(0, 2, (size, code.k), dtype=np.uint8)
        llr = awgn_llr(encode(code, info), esn0_db, rng, bits_per_symbol, levels)
        t0 = time.perf_counter()
        result = decode(code, llr, max_iterations=max_iterations, **kw)
        decode_s += time.perf_counter() - t0
        wrong = np.any(result.info_bits != info, axis=1)
        frames += size
        errors += int(wrong.sum())
        not_ok += int((~result.ok).sum())
        undetected += int((wrong & result.ok).sum())
        iterations += int(result.iterations.sum())
    return {
        "esn0_db": esn0_db, "frames": frames, "frame_errors": errors, "fer": errors / frames,
        "not_ok": not_ok, "undetected_errors": undetected, "mean_iterations": iterations / frames,
        "info_mbit_per_s": frames * code.k / decode_s / 1e6,
    }


def throughput(code, llr: np.ndarray, max_iterations: int, repeats: int, **kw) -> dict:
    decode(code, llr[:2], max_iterations=2, **kw)  # warm-up (compilation is cached on disk)
    times, its = [], 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = decode(code, llr, max_iterations=max_iterations, **kw)
        times.append(time.perf_counter() - t0)
        its = float(result.iterations.mean())
    best = float(np.median(times))
    return {"frames": llr.shape[0], "max_iterations": max_iterations, "mean_iterations": its,
            "seconds": best, "info_mbit_per_s": llr.shape[0] * code.k / best / 1e6}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", default="3/5")
    p.add_argument("--n", type=int, default=64800)
    p.add_argument("--esn0", type=float, nargs="*", default=[2.0, 2.1, 2.2, 2.3])
    p.add_argument("--frames", type=int, default=300, help="frames per point at most")
    p.add_argument("--errors", type=int, default=50, help="stop a point after this many frame errors")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-iterations", type=int, default=DEFAULT_MAX_ITERATIONS)
    p.add_argument("--alpha", type=float, default=None, help="default: the rate's")
    p.add_argument("--offset", type=float, default=None, help="default: the rate's")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    p.add_argument("--speed-esn0", type=float, default=None, help="Es/N0 of the throughput run")
    p.add_argument("--speed-frames", type=int, default=128)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--bits-per-symbol", type=int, default=2, choices=[2, 3], help="QPSK (2) or 8PSK (3)")
    p.add_argument("--order", default="201", help="8PSK column order, e.g. 012 or 201")
    p.add_argument("--levels", default=None, help="8PSK bit level of each codeword segment, e.g. 120 (overrides --order)")
    p.add_argument("--modcod", default=None, help="take rate, n, modulation and interleaver from this MODCOD")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.modcod:
        m = modcod_by_name(args.modcod)
        args.rate, args.n, args.bits_per_symbol = m.code_rate, m.coded_bits, m.bits_per_symbol
        levels = m.bit_levels
    elif args.levels:
        levels = tuple(int(c) for c in args.levels)
    else:
        levels = column_levels(tuple(int(c) for c in args.order))
    levels = levels if args.bits_per_symbol == 3 else ()

    code = get_code(args.rate, args.n)
    args.alpha, args.offset = decoder_parameters(code, args.alpha, args.offset)
    kw = {"alpha": args.alpha, "offset": args.offset, "width": args.width}
    rng = np.random.default_rng(args.seed)
    report = {"code": code.name, "rate": code.rate, "n": code.n, "k": code.k, "z": code.z,
              "bits_per_symbol": args.bits_per_symbol, "bit_levels": list(levels),
              "decoder": {"max_iterations": args.max_iterations, **kw},
              "machine": platform.processor() or platform.machine(), "points": [], "throughput": {}}
    print(f"{code.name}: k={code.k}, z={code.z}; alpha={args.alpha} offset={args.offset} "
          f"max_iterations={args.max_iterations} width={args.width}"
          + (f"; 8PSK bit levels {''.join(map(str, levels))}" if levels else ""))
    decode(code, np.zeros((2, code.n), np.float32), max_iterations=1, **kw)  # warm-up
    print(f"{'Es/N0 dB':>9} {'frames':>7} {'errors':>7} {'FER':>9} {'not ok':>7} {'undet.':>7} {'mean it':>8} {'Mbit/s':>7}")
    for esn0 in args.esn0:
        pt = fer_point(code, esn0, args.frames, args.errors, args.batch, args.max_iterations, rng,
                       args.bits_per_symbol, levels, **kw)
        report["points"].append(pt)
        print(f"{esn0:9.2f} {pt['frames']:7d} {pt['frame_errors']:7d} {pt['fer']:9.2e} {pt['not_ok']:7d} "
              f"{pt['undetected_errors']:7d} {pt['mean_iterations']:8.1f} {pt['info_mbit_per_s']:7.2f}", flush=True)

    if args.speed_esn0 is not None:
        info = rng.integers(0, 2, (args.speed_frames, code.k), dtype=np.uint8)
        llr = qpsk_awgn_llr(encode(code, info), args.speed_esn0, rng)
        early = throughput(code, llr, args.max_iterations, 3, **kw)
        fixed = throughput(code, np.zeros_like(llr), 25, 3, **kw)
        report["throughput"] = {"esn0_db": args.speed_esn0, "early_termination": early, "fixed_25_iterations": fixed}
        print(f"throughput at Es/N0 {args.speed_esn0} dB, {args.speed_frames} frames, width {args.width}: "
              f"{early['info_mbit_per_s']:.2f} Mbit/s (mean {early['mean_iterations']:.1f} iterations, "
              f"max {args.max_iterations}); fixed 25 iterations: {fixed['info_mbit_per_s']:.2f} Mbit/s")

    out = args.out or OUT / f"ldpc_fer_{code.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
