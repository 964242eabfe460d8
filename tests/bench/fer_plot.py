"""Draw the results of ``fer_sweep.py`` (``bench-out/fer/*.json``): FER versus Es/N0 for every MODCOD,
with DVB-S2's quasi-error-free thresholds (triangles at FER 1e-3) and the constrained-input
capacity limits (vertical dash-dotted lines). Writes ``bench-out/fer.png`` and ``docs/fer.png``.

    python tests/bench/fer_plot.py [--dir bench-out/fer]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def eval_rate(rate: str) -> float:
    num, den = rate.split("/")
    return int(num) / int(den)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=REPO / "bench-out" / "fer")
    p.add_argument("--out", type=Path, default=REPO / "bench-out" / "fer.png")
    args = p.parse_args(argv)
    results = [json.loads(path.read_text()) for path in sorted(args.dir.glob("*.json"))]
    if not results:
        raise SystemExit(f"no results in {args.dir}: run tests/bench/fer_sweep.py first")
    results.sort(key=lambda r: (r["bits_per_symbol"], eval_rate(r["rate"]), r["n"] != 64800))
    bases = list(dict.fromkeys(r["modcod"].removesuffix("-short") for r in results))
    colours = dict(zip(bases, plt.cm.tab10.colors))
    fig, ax = plt.subplots(figsize=(11, 6.5))
    for r in results:
        base = r["modcod"].removesuffix("-short")
        short = r["modcod"].endswith("-short")
        pts = sorted((pt for pt in r["points"] if pt["frame_errors"] > 0), key=lambda pt: pt["esn0_db"])
        ax.semilogy([pt["esn0_db"] for pt in pts], [pt["fer"] for pt in pts], "--" if short else "-",
                    marker="o" if not short else "s", ms=3, color=colours[base],
                    label=f"{r['modcod']} ({r['spectral_efficiency']:.2f} b/sym)")
        if not short:
            ax.plot([r["dvbs2_threshold_db"]], [1e-3], "v", ms=9, color=colours[base], markeredgecolor="k")
            if r.get("shannon_limit_db") is not None:
                ax.axvline(r["shannon_limit_db"], color=colours[base], ls="-.", lw=0.8, alpha=0.7)
    ax.plot([], [], "v", color="grey", markeredgecolor="k", label="DVB-S2 QEF threshold (normal frames)")
    ax.plot([], [], "-.", color="grey", label="constrained capacity limit")
    ax.axhline(1e-3, color="k", lw=0.5, ls=":")
    ax.set_xlabel("Es/N0 (dB)")
    ax.set_ylabel("frame error rate")
    ax.set_ylim(1e-5, 1.2)
    ax.grid(True, which="both", alpha=0.3)
    iterations = sorted({r.get("max_iterations", 50) for r in results})
    ax.set_title("chaincast LDPC codes on AWGN: FER vs Es/N0 (solid: n=64800, dashed: n=16200; layered self-corrected min-sum, "
                 f"max {'/'.join(map(str, iterations))} it.)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    shutil.copyfile(args.out, REPO / "docs" / "fer.png")
    print(f"wrote {args.out} and docs/fer.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
