"""Design of the 8PSK bit-level allocation: which LDPC variable-node degree classes go on which bit
of Gray 8PSK, by Gaussian-approximation EXIT analysis (density evolution with the J function).

Model (BICM with an ideal interleaver, cycle-free graph, belief propagation):

- Channel: Gray 8PSK (``chaincast.sdr.psk8``) on AWGN, exact LLRs. Bit level ``l`` (b0, b1, b2 of a
  symbol) is its own binary-input channel; its LLR distribution is measured by Monte Carlo (random
  bits, LLRs multiplied by ``1 - 2 b`` so that all are "as if 0 was sent"), not replaced by a
  Gaussian. b2 sees 4 decision boundaries, b0 and b1 2 each (b0 and b1 are the same channel turned
  by 90 degrees), so b2 is the weak level.
- Code: the IRA degree classes of the chaincast code (``chaincast.fec.ldpc``), read from its
  address table: information columns of the high degree (12 or 13) and of degree 3, parity of
  degree 2 (the single degree-1 parity bit is ignored). ``alloc[c, l]`` = bits of class ``c`` on
  level ``l``; every level carries n / 3 bits.
- Variable node of degree d on level l, a-priori messages Gaussian of J-parameter ``s``: extrinsic
  MI ``T_l(sqrt(d-1) s)`` with ``T_l(s) = 1 - E[log2(1 + exp(-(L_l + X)))]``, ``X ~ N(s^2/2, s^2)``.
- Check node of degree dc (the code's mean): each of its other dc - 1 edges is of type (class,
  level) in proportion to that type's share of all edges; the dual (1 - MI) messages are added in
  the J^-1 domain: ``I_c = 1 - J(sqrt(sum_t (dc - 1) w_t J^-1(1 - I_t)^2))``.

The threshold of an allocation is the lowest Es/N0 (on a 0.01 dB grid) at which the iteration
reaches ``I_c > 1 - 1e-6``. The model ignores finite length, cycles, min-sum and which bits share a
symbol; compare rankings, not absolute values (QPSK, one channel, is printed as the reference:
QPSK 3/5 n=64800 measures FER 1e-3 at 2.21 dB). The search varies what goes on the weak level b2
in whole circulants (z bits), the rest going on b0/b1 in any way (equivalent channels).

Outcome for rate 3/5, n = 64800: the model's thresholds against the frame errors measured at
5.50 dB (``ldpc_fer.py``, 3000 frames or 50 errors); b2's contents as bits of degree 12 / 3 / 2:

====================================  ===================  ===============  ================
interleaver (``--levels``)            b2: d12 / d3 / d2    model threshold  measured 5.50 dB
====================================  ===================  ===============  ================
column order 201 (before): 120        0 / 17280 / 4320     5.37 dB          57/512
model's best on 15 segments           4320 / 4320 / 12960  5.30 dB          54/384
15 segments round robin               4320 / 8640 / 8640   5.35 dB          64/128
b2 window from 12n/30                 0 / 12960 / 8640     5.41 dB          16/3000
b2 window from 13n/30 (adopted)       0 / 10800 / 10800    5.47 dB          1/3000
b2 window from 14n/30                 0 / 8640 / 12960     5.53 dB          7/3000
b2 window from 16n/30                 0 / 4320 / 17280     5.69 dB          55/384
====================================  ===================  ===============  ================

The model ranks the column orders as measured (201 = 021; b2 on the degree-12 bits fails), but
near the optimum it is wrong: it wants a third of the degree-12 bits on b2 and little parity,
while the measured optimum keeps every degree-12 bit on b0/b1 and puts half of b2 on parity. The
allocation was therefore chosen by measurement; the model stays as the documented starting point
(it does not capture the layered offset min-sum decoder, finite length, nor the accumulator chain
as a chain of degree-2 bits).

    python tests/bench/psk8_mapping_design.py [--rate 3/5] [--n 64800]
    python tests/bench/psk8_mapping_design.py --no-search --levels 111111111100022222222220000000
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chaincast.fec.framecodec import deinterleave_bits  # noqa: E402
from chaincast.fec.ldpc.codes import get_code, parity_check_matrix  # noqa: E402
from chaincast.fec.wire.profile import column_levels  # noqa: E402
from chaincast.sdr.psk8 import psk8_llr_fast, psk8_map  # noqa: E402

# --- J function (MI of a consistent Gaussian LLR N(s^2/2, s^2)) and its inverse -------------------
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)  # probabilists' Gauss-Hermite: E[f(Z)], Z ~ N(0,1)
_GH_W = _GH_W / _GH_W.sum()
S_GRID = np.concatenate([np.linspace(0.0, 10.0, 1001), np.linspace(10.02, 80.0, 3500)])


def _mi_after_adding(llr_values: np.ndarray, llr_weights: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``1 - E[log2(1 + exp(-(L + X)))]`` for L from a weighted sample, X ~ N(s^2/2, s^2), per s."""
    out = np.empty(s.size)
    for i, si in enumerate(s):
        x = llr_values[:, None] + si * si / 2 + si * _GH_X[None, :]  # [values, nodes]
        loss = np.logaddexp(0.0, -x) / np.log(2.0)
        out[i] = 1.0 - llr_weights @ loss @ _GH_W
    return out


J_GRID = _mi_after_adding(np.zeros(1), np.ones(1), S_GRID)
J_GRID = np.maximum.accumulate(J_GRID)  # numerically monotone for the inverse


def j_fn(s: np.ndarray) -> np.ndarray:
    return np.interp(s, S_GRID, J_GRID)


def j_inv(mi: np.ndarray) -> np.ndarray:
    return np.interp(mi, J_GRID, S_GRID)


# --- bit-level channels ---------------------------------------------------------------------------
def level_llr_samples(esn0_db: float, symbols: int = 200_000, seed: int = 1) -> np.ndarray:
    """Sign-corrected exact LLRs of Gray 8PSK at ``esn0_db``: float64[3, symbols] (row = level b0..b2).
    The same seed at every Es/N0 (common random numbers) keeps the thresholds smooth."""
    rng = np.random.default_rng(seed)
    n0 = 10.0 ** (-esn0_db / 10.0)
    bits = rng.integers(0, 2, 3 * symbols, dtype=np.uint8)
    noise = rng.standard_normal((symbols, 2)) * np.sqrt(n0 / 2.0)
    y = (psk8_map(bits) + (noise[:, 0] + 1j * noise[:, 1])).astype(np.complex64)
    llr = psk8_llr_fast(y, n0).astype(np.float64) * (1.0 - 2.0 * bits)
    return llr.reshape(symbols, 3).T


def qpsk_llr_samples(esn0_db: float, symbols: int = 200_000, seed: int = 1) -> np.ndarray:
    """QPSK (one bit per real dimension): exact LLRs 2 sqrt(2) y / N0, sign-corrected: float64[1, 2 symbols]."""
    rng = np.random.default_rng(seed)
    n0 = 10.0 ** (-esn0_db / 10.0)
    y = 1 / np.sqrt(2.0) + rng.standard_normal(2 * symbols) * np.sqrt(n0 / 2.0)
    return (2.0 * np.sqrt(2.0) / n0 * y)[None, :]


def level_tables(samples: np.ndarray, bins: int = 600) -> np.ndarray:
    """``T_l(s)`` on ``S_GRID`` for each row of ``samples`` (histogrammed): float64[levels, len(S_GRID)]."""
    tables = []
    for row in samples:
        row = np.clip(row, -60.0, 60.0)
        weights, edges = np.histogram(row, bins=bins)
        centres = (edges[:-1] + edges[1:]) / 2
        keep = weights > 0
        t = _mi_after_adding(centres[keep], weights[keep] / weights.sum(), S_GRID[::10])
        tables.append(np.interp(S_GRID, S_GRID[::10], np.maximum.accumulate(t)))
    return np.array(tables)


def level_mi(samples: np.ndarray) -> np.ndarray:
    """Bit-channel mutual information per level (bits): float64[levels]."""
    return 1.0 - np.mean(np.logaddexp(0.0, -samples) / np.log(2.0), axis=1)


# --- code ------------------------------------------------------------------------------------------
def degree_classes(rate: str, n: int) -> tuple[list[int], list[int], list[int], float, int]:
    """``(degrees, bit counts, codeword start of each class, mean check degree, z)`` of a code:
    information classes in codeword order (high degree first), then parity (degree 2)."""
    code = get_code(rate, n)
    degs = np.array([len(row) for row in code.addresses])
    classes, counts, starts = [], [], []
    for g, d in enumerate(degs):
        if not classes or classes[-1] != d:
            classes.append(int(d))
            counts.append(0)
            starts.append(g * code.z)
        counts[-1] += code.z
    classes.append(2)
    counts.append(code.m)
    starts.append(code.k)
    dc = (int(degs.sum()) * code.z + 2 * code.m - 1) / code.m
    return classes, counts, starts, dc, code.z


def levels_allocation(counts: list[int], starts: list[int], bit_levels: tuple[int, ...], n: int) -> np.ndarray:
    """Allocation ``[class, level]`` (bits) of the interleaver ``bit_levels`` (segment ``j`` of the
    codeword on level ``bit_levels[j]``, ``chaincast.fec.framecodec.interleave_bits``)."""
    alloc = np.zeros((len(counts), 3))
    seg = n // len(bit_levels)
    for j, level in enumerate(bit_levels):
        lo, hi = j * seg, (j + 1) * seg
        for c, (start, count) in enumerate(zip(starts, counts)):
            alloc[c, level] += max(0, min(hi, start + count) - max(lo, start))
    return alloc


def same_symbol_bits(rate: str, n: int, bit_levels: tuple[int, ...]) -> int:
    """Spread check of an interleaver: over all checks, how many of a check's bits share a symbol
    with another of its bits (``sum_checks (bits - distinct symbols)``); 0 is ideal."""
    h = parity_check_matrix(get_code(rate, n))
    symbol = deinterleave_bits(np.arange(n) // 3, bit_levels)  # symbol of each codeword bit
    sym = symbol[h.indices]
    total = 0
    for c in range(h.shape[0]):
        row = sym[h.indptr[c]:h.indptr[c + 1]]
        total += row.size - np.unique(row).size
    return total


def converges(allocs: np.ndarray, degrees: list[int], dc: float, tables: np.ndarray,
              iterations: int = 4000) -> np.ndarray:
    """GA density evolution for many allocations at one Es/N0. ``allocs``: float[A, classes, levels]
    (bits); ``tables``: ``T_l`` of the levels. Returns bool[A]: reached ``I_c > 1 - 1e-6``."""
    deg = np.asarray(degrees, float)[None, :, None]
    edges = allocs * deg
    w = edges / edges.sum(axis=(1, 2), keepdims=True)  # edge share of each (class, level) type
    ic = np.zeros(allocs.shape[0])
    levels = tables.shape[0]
    for _ in range(iterations):
        s_in = np.sqrt(deg - 1) * j_inv(ic)[:, None, None]  # [A, classes, 1]
        iv = np.stack([np.interp(s_in[..., 0], S_GRID, tables[l]) for l in range(levels)], axis=-1)
        dual = j_inv(1.0 - iv) ** 2
        new = 1.0 - j_fn(np.sqrt((dc - 1) * (w * dual).sum(axis=(1, 2))))
        if np.all((new > 1 - 1e-6) | (new - ic < 1e-10)):
            ic = new
            break
        ic = new
    return ic > 1 - 1e-6


def thresholds(allocs: np.ndarray, degrees: list[int], dc: float, esn0_grid: np.ndarray,
               sampler=level_llr_samples) -> np.ndarray:
    """Lowest Es/N0 of ``esn0_grid`` from which on each allocation converges (nan: never)."""
    ok = np.zeros((esn0_grid.size, allocs.shape[0]), bool)
    for i, esn0 in enumerate(esn0_grid):
        ok[i] = converges(allocs, degrees, dc, level_tables(sampler(esn0)))
    # threshold = first grid point after the last failure
    out = np.full(allocs.shape[0], np.nan)
    for a in range(allocs.shape[0]):
        fails = np.flatnonzero(~ok[:, a])
        first = 0 if fails.size == 0 else fails[-1] + 1
        if first < esn0_grid.size:
            out[a] = esn0_grid[first]
    return out


def weak_level_candidates(counts: list[int], z: int, n: int, step: int) -> np.ndarray:
    """Every allocation putting whole circulants (multiples of ``step`` circulants) of each class on
    b2 so that b2 carries n / 3 bits; b0 and b1 share the rest evenly: float[A, classes, 3]."""
    groups = [c // z for c in counts]
    need = n // 3 // z
    out = []

    def rec(prefix):
        c = len(prefix)
        if c == len(groups) - 1:
            last = need - sum(prefix)
            if 0 <= last <= groups[-1]:
                out.append(prefix + [last])
            return
        for g in range(0, min(groups[c], need - sum(prefix)) + 1, step):
            rec(prefix + [g])

    rec([])
    weak = np.array(out, float) * z
    strong = (np.array(counts, float)[None, :] - weak) / 2
    return np.stack([strong, strong, weak], axis=-1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", default="3/5")
    p.add_argument("--n", type=int, default=64800)
    p.add_argument("--esn0", type=float, nargs=3, default=[4.6, 5.8, 0.01], metavar=("LO", "HI", "STEP"))
    p.add_argument("--step", type=int, default=2, help="search step on b2, circulants")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--levels", nargs="*", default=[],
                   help="also evaluate these interleavers (bit level of each codeword segment, e.g. 111110222220000)")
    p.add_argument("--no-search", action="store_true", help="column orders and --levels only")
    args = p.parse_args(argv)

    degrees, counts, starts, dc, z = degree_classes(args.rate, args.n)
    print(f"rate {args.rate} n={args.n}: classes (degree: bits) "
          + ", ".join(f"{d}: {c}" for d, c in zip(degrees, counts)) + f"; mean check degree {dc:.3f}, z={z}")
    for esn0 in (5.5, 6.6):
        mi = level_mi(level_llr_samples(esn0))
        print(f"8PSK bit-channel MI at {esn0} dB: b0 {mi[0]:.4f}, b1 {mi[1]:.4f}, b2 {mi[2]:.4f} "
              f"(mean {mi.mean():.4f}, BICM {3 * mi.mean():.3f} bit/symbol)")

    grid = np.round(np.arange(args.esn0[0], args.esn0[1] + 1e-9, args.esn0[2]), 4)
    if not args.no_search:
        qpsk = np.array(counts, float)[None, :, None]
        q_grid = np.round(np.arange(grid[0] - 4.0, grid[-1] - 2.5, args.esn0[2]), 4)
        print(f"QPSK reference threshold (model): {thresholds(qpsk, degrees, dc, q_grid, qpsk_llr_samples)[0]:.2f} dB")

    orders = [(2, 0, 1), (0, 2, 1), (0, 1, 2), (1, 0, 2), (2, 1, 0), (1, 2, 0)]
    layouts = [column_levels(o) for o in orders] + [tuple(int(c) for c in lv) for lv in args.levels]
    names = ["order " + "".join(map(str, o)) for o in orders] + [f"levels {lv}" for lv in args.levels]
    fixed = np.array([levels_allocation(counts, starts, lv, args.n) for lv in layouts])
    cands = weak_level_candidates(counts, z, args.n, args.step)[: 0 if args.no_search else None]
    allocs = np.concatenate([fixed, cands])
    print(f"{len(cands)} candidate allocations of b2 (step {args.step} circulants); Es/N0 grid {grid[0]}..{grid[-1]}")
    th = thresholds(allocs, degrees, dc, grid)
    header = "  ".join(f"d{d} on b2" for d in degrees)
    print(f"\ninterleavers (model threshold, bits of each class on b2: {header}; same-symbol check bits)")
    for name, lv, t, a in zip(names, layouts, th[: len(fixed)], fixed):
        print(f"  {name:>36s}: {t:.2f} dB   " + "  ".join(f"{int(x):8d}" for x in a[:, 2])
              + f"   {same_symbol_bits(args.rate, args.n, lv)}")
    if not len(cands):
        return 0
    best = np.argsort(np.nan_to_num(th[len(fixed):], nan=99.0), kind="stable")[: args.top]
    print(f"\nbest allocations on b2 (model threshold; {header}; fraction of each class on b2)")
    for i in best:
        a = cands[i]
        print(f"  {th[len(fixed) + i]:.2f} dB   " + "  ".join(f"{int(x):8d}" for x in a[:, 2])
              + "   " + " ".join(f"{x:.3f}" for x in a[:, 2] / np.array(counts)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
