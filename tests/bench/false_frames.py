"""False frames on noise: ``--minutes`` of complex Gaussian noise, quantised to cu8 like an RTL-SDR
at 40 LSB RMS, through the demodulator at 2.4 Msps (default profile). Counts SOF candidates,
header failures and frames found (must be 0). Streaming: generated and consumed in 0.1 s chunks,
so memory stays flat; prints the real-time factor and peak RSS. Writes bench-out/false_frames.json.

    python tests/bench/false_frames.py --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chaincast.fec.wire.profile import DEFAULT_PROFILE  # noqa: E402
from chaincast.sdr.channel import cu8_to_complex, quantize_cu8  # noqa: E402
from chaincast.sdr.rx import Demodulator  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "bench-out"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    fs = DEFAULT_PROFILE.sample_rate_hz
    chunk = int(0.1 * fs)
    total = int(args.minutes * 60 * fs)
    rng = np.random.default_rng(args.seed)
    demod = Demodulator(fs, DEFAULT_PROFILE.symbol_rate_hz, DEFAULT_PROFILE.rolloff)
    frames = done = 0
    demod_s = 0.0
    while done < total:
        n = min(chunk, total - done)
        noise = (rng.standard_normal(n, dtype=np.float32) + 1j * rng.standard_normal(n, dtype=np.float32)) / np.sqrt(2)
        iq = cu8_to_complex(quantize_cu8(noise, 40.0))
        t0 = time.perf_counter()
        frames += len(demod.process(iq))
        demod_s += time.perf_counter() - t0
        done += n
    frames += len(demod.flush())
    stats = demod.stats
    report = {"minutes": args.minutes, "samples": done, "sof_candidates": stats.sof_candidates,
              "header_failures": stats.header_failures, "frames_found": frames,
              "demod_realtime_factor": round(done / fs / demod_s, 2),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    OUT.mkdir(exist_ok=True)
    (OUT / "false_frames.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0 if frames == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
