"""`make bench` part 1: real-time factors of the uplink and the receiver for the default profile,
and decoder speeds (LDPC, RS, Viterbi). Part 2 is ``fer_sweep.py`` + ``fer_plot.py``, part 3 ``blanking.py``.

Real-time factor = air time of the signal / wall time to produce or consume it, on one core
(numba threads pinned to 1). Medians of REPEATS runs after a warm-up run (numba compilation is
cached and excluded). Writes bench-out/bench.json and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chaincast.fec import convolutional  # noqa: E402
from chaincast.fec.outer import InterleavedReedSolomon  # noqa: E402
from chaincast.fec.ldpc.codes import get_code  # noqa: E402
from chaincast.fec.ldpc.decode import DEFAULT_MAX_ITERATIONS  # noqa: E402
from chaincast.fec.ldpc.encode import encode  # noqa: E402
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS  # noqa: E402
from chaincast.rxside.kernel import ChainDelivery  # noqa: E402
from chaincast.rxside.receiver import Receiver  # noqa: E402
from chaincast.rxside.source import FileSource  # noqa: E402
from chaincast.sdr.channel import Channel  # noqa: E402
from chaincast.txside.chain.sources import read_blocks  # noqa: E402
from chaincast.txside.cli import pass_through_channel, write_broadcast  # noqa: E402
from chaincast.txside.recording import read_sigmf_info  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ldpc_fer import awgn_llr, throughput  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MAINNET = REPO.parent / "shared" / "data" / "blocks" / "bitcoinj" / "first-100k-blocks.dat"
REPEATS = 3
OUT = REPO / "bench-out"


def median_of(fn, repeats: int = REPEATS) -> tuple[float, list[float]]:
    fn()  # warm-up
    runs = [fn() for _ in range(repeats)]
    return statistics.median(runs), runs


def bench_link(workdir: Path) -> dict:
    blocks = list(read_blocks(MAINNET))
    clean = workdir / "up.sigmf-meta"

    frames_on_air = 0

    def tx() -> float:
        nonlocal frames_on_air
        stats = write_broadcast(blocks, DEFAULT_PROFILE, clean, passes=3)
        frames_on_air = stats["frames"]
        return stats["realtime_factor"]

    tx_rtf, tx_runs = median_of(tx)
    noisy = workdir / "down.sigmf-meta"
    info = read_sigmf_info(clean)
    channel = Channel(info.sample_rate_hz, info.symbol_rate_hz, esn0_db=10.0, cfo_hz=20e3, clock_ppm=30.0, seed=1)
    pass_through_channel(clean, noisy, channel)

    rx_rtf, rx_runs = median_of(lambda: receive(noisy, expect_tip=438)[0])
    # the peers' workload (REFERENCE.md: gr-dvbs2rx 8.9x at 4.0 dB, 7.6x and 85% of frames at 2.5 dB;
    # leandvb nothing at 2.5 dB), here at 2.4 Msps cu8 with a small CFO and clock offset
    peers = {}
    for esn0 in (4.0, 2.5):
        channel = Channel(info.sample_rate_hz, info.symbol_rate_hz, esn0_db=esn0, cfo_hz=20e3, clock_ppm=30.0, seed=2)
        pass_through_channel(clean, noisy, channel)
        runs = [receive(noisy) for _ in range(REPEATS)]
        report = runs[0][1]
        peers[f"{esn0:g}"] = {"realtime_factor": float(np.median([r for r, _ in runs])),
                              "frames_ok": report.frames_ok, "frames_on_air": frames_on_air,
                              "mean_ldpc_iterations": report.ldpc_mean_iterations, "tip_height": report.tip_height}
    return {"air_s": FileSource(noisy).duration_s, "tx_realtime_factor": tx_rtf, "tx_runs": tx_runs,
            "rx_realtime_factor": rx_rtf, "rx_runs": rx_runs, "rx_like_peers": peers}


def receive(noisy: Path, expect_tip: int | None = None):
    """``chaincast rx``'s work on a recording, in process: (real-time factor, ReceiveReport)."""
    with tempfile.TemporaryDirectory() as datadir:
        source = FileSource(noisy)
        delivery = ChainDelivery(datadir, "main")
        receiver = Receiver(source.info.sample_rate_hz, DEFAULT_PROFILE.symbol_rate_hz, DEFAULT_PROFILE.rolloff, delivery)
        started = time.perf_counter()
        for chunk in source.chunks():
            receiver.feed(chunk)
        report = receiver.finish()
        wall = time.perf_counter() - started
        delivery.close()
    if expect_tip is not None and report.tip_height != expect_tip:
        raise SystemExit(f"rx bench run did not reach tip {expect_tip} (got {report.tip_height})")
    return source.duration_s / wall, report


# gr-dvbs2rx 1.4 on this machine (REFERENCE.md): whole receiver, one core, 1 Mbaud QPSK 3/5 normal
# frames with pilots at Es/N0 2.5 dB: 7.6x real time. DVB-S2 carries 38688 information bits per
# 33282-symbol frame, so that is 7.6 x 1.1625 Mbit/s = 8.8 Mbit/s, a lower bound for its decoder.
GR_DVBS2RX_INFO_MBIT_S = 7.6 * 38688 / 33282


def bench_ldpc() -> dict:
    """Decoder alone, qpsk-3/5 normal frames: 128 frames at Es/N0 2.43 dB (early termination, at
    most DEFAULT_MAX_ITERATIONS) and at a fixed 25 iterations; information Mbit/s on one core."""
    code = get_code("3/5", 64800)
    rng = np.random.default_rng(1)
    llr = awgn_llr(encode(code, rng.integers(0, 2, (128, code.k), dtype=np.uint8)), 2.43, rng)
    early = throughput(code, llr, DEFAULT_MAX_ITERATIONS, REPEATS)
    fixed = throughput(code, np.zeros_like(llr), 25, REPEATS)
    return {"ldpc_3_5_at_2_43_db_mbit_s": early["info_mbit_per_s"], "ldpc_3_5_mean_iterations": early["mean_iterations"],
            "ldpc_3_5_fixed_25_mbit_s": fixed["info_mbit_per_s"],
            "ldpc_vs_gr_dvbs2rx_receiver": early["info_mbit_per_s"] / GR_DVBS2RX_INFO_MBIT_S}


def bench_decoders() -> dict:
    rng = np.random.default_rng(0)
    n = 8064
    llr = (1 - 2 * convolutional.encode(rng.integers(0, 2, n).astype(np.uint8)).astype(np.float32)) * 3
    llr += rng.normal(0, 2, llr.size).astype(np.float32)

    def viterbi() -> float:
        started = time.perf_counter()
        for _ in range(50):
            convolutional.viterbi_decode(llr, n)
        return 50 * n / (time.perf_counter() - started) / 1e6

    m = MODCODS[DEFAULT_PROFILE.modcod]
    rs = InterleavedReedSolomon(m.rs_n, m.rs_nsym, m.rs_codewords)
    coded = rs.encode(bytes(rng.integers(0, 256, rs.data_bytes, dtype=np.uint8)))

    def rs_decode() -> float:
        started = time.perf_counter()
        for _ in range(50):
            rs.decode(coded)
        return 50 * rs.data_bytes * 8 / (time.perf_counter() - started) / 1e6

    v, _ = median_of(viterbi)
    r, _ = median_of(rs_decode)
    return {"viterbi_info_mbit_s": v, "rs_decode_clean_mbit_s": r}


def main() -> int:
    if not MAINNET.exists():
        print(f"bench needs the shared data: {MAINNET}", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        link = bench_link(Path(tmp))
    results = {"machine": platform.processor() or platform.machine(), "cores_used": 1, "profile": DEFAULT_PROFILE.name,
               "modcod": DEFAULT_PROFILE.modcod, "workload": "mainnet blocks 0..438, 3 passes, Es/N0 10 dB, CFO 20 kHz, 30 ppm, cu8",
               **link, **bench_ldpc(), **bench_decoders()}
    (OUT / "bench.json").write_text(json.dumps(results, indent=1))
    m = MODCODS[DEFAULT_PROFILE.modcod]
    rows = [
        ("uplink (tx) real-time factor", f"{results['tx_realtime_factor']:.2f}x", "air time / wall time, median of 3"),
        ("receiver (rx) real-time factor", f"{results['rx_realtime_factor']:.2f}x", "2.4 Msps cu8 in, blocks validated out"),
        *[(f"rx like the peers, {esn0} dB", f"{r['realtime_factor']:.2f}x",
           f"{r['frames_ok']}/{r['frames_on_air']} frames, mean {r['mean_ldpc_iterations']} LDPC iterations (gr-dvbs2rx: "
           + ("8.9x, all frames" if esn0 == "4" else "7.6x, 85% of frames; leandvb: none") + ")")
          for esn0, r in results["rx_like_peers"].items()],
        ("LDPC 3/5 n=64800 at 2.43 dB", f"{results['ldpc_3_5_at_2_43_db_mbit_s']:.1f} Mbit/s",
         f"information bits, one core, mean {results['ldpc_3_5_mean_iterations']:.1f} iterations"),
        ("LDPC 3/5 n=64800, 25 iterations", f"{results['ldpc_3_5_fixed_25_mbit_s']:.1f} Mbit/s", "information bits, one core"),
        ("LDPC vs gr-dvbs2rx", f"{results['ldpc_vs_gr_dvbs2rx_receiver']:.2f}x",
         f"our decoder / gr-dvbs2rx's whole receiver ({GR_DVBS2RX_INFO_MBIT_S:.1f} Mbit/s at 2.5 dB)"),
        ("Viterbi decoder (qpsk-cc1/2)", f"{results['viterbi_info_mbit_s']:.1f} Mbit/s", "information bits, one core"),
        (f"RS({m.rs_n},{m.rs_k}) x{m.rs_codewords} decode, clean", f"{results['rs_decode_clean_mbit_s']:.1f} Mbit/s", "data bits"),
    ]
    print(f"\nchaincast bench ({results['workload']}; {results['air_s']:.2f} s of air time)\n")
    print(f"| {'measure':32} | {'value':>14} | note |\n|{'-' * 34}|{'-' * 16}|------|")
    for name, value, note in rows:
        print(f"| {name:32} | {value:>14} | {note} |")
    print(f"\nJSON: {OUT / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
