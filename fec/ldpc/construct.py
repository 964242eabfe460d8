"""Deterministic generator of chaincast's IRA / quasi-cyclic LDPC codes and their address tables.

Structure (the DVB-S2 one, EN 302 307-1 section 5.3.2):

- ``n`` coded bits = ``k`` information bits followed by ``m = n - k`` parity bits (systematic).
- Information bits come in groups of ``Z`` (the circulant size: 360 like DVB-S2 when ``Z`` divides
  both ``k`` and ``m``; otherwise the largest of 180, 120, 90, 72, 60, 45, 40, 36 that does: the
  exact-rate short codes 1/2, 3/4 and 5/6 at n = 16200 need 180, 90 and 180).
  With ``q = m / Z``, bit ``j`` (0 <= j < Z) of group ``g`` is connected to the parity checks
  ``(x + j * q) mod m`` for every address ``x`` in row ``g`` of the address table.
- Parity part: check ``i`` contains parity bits ``i - 1`` and ``i`` (the accumulator, dual
  diagonal), so ``p_i = p_{i-1} xor (info part of check i)``: linear-time encoding.

Grouping the checks by ``i mod q`` gives ``q`` *layers* of ``Z`` checks. Address ``x`` is the
circulant ``(layer x mod q, shift x div q)`` of a ``q x (k/Z + q)`` base matrix; the parity bits,
grouped the same way, are identity circulants on layers ``r`` and ``r + 1`` (shift 1 on layer 0
for the last group). The generator gives every information group at most one address per layer,
so the ``Z`` checks of a layer never share a bit: the decoder processes layer after layer.

Degree distributions: taken from the DVB-S2 normal-frame profiles (EN 302 307-1 Table 5a, number
of information columns of the high degree and of degree 3; all parity columns have degree 2 but
the last, of degree 1). As a fraction of the information groups:

====  ============  ======================  ===========================
rate  high degree   fraction of info groups  info edges per check (64800)
====  ============  ======================  ===========================
1/3   12            1/3                     3   (check degree 5)
1/2   8             2/5                     5   (7)
3/5   12            1/3                     9   (11)
2/3   13            1/5                     8   (10)
3/4   12            1/9                     12  (14)
5/6   13            1/10                    20  (22)
====  ============  ======================  ===========================

The remaining information groups have degree 3. At n = 16200 the same fractions are applied to the
``k / Z`` groups (rounded), so check degrees may differ by one between layers.

Edge placement (ours, not the standard's tables): groups are processed high degree first; each new
circulant goes to a layer of least fill (balanced check degrees) not yet used by the group, chosen
at random, and gets a shift drawn at random among those that close no 4-cycle and no 6-cycle in
the lifted graph (the standard QC condition: the alternating sum of shifts around a base-graph
cycle is 0 mod Z), counting the accumulator's circulants too. When every shift closes a 6-cycle
the shift closing the fewest is taken; 4-cycles are never allowed. Result (checked by the tests):
no 4-cycles anywhere; no 6-cycles (girth 8) in every code except 5/6 n=64800 (2 base-graph
6-cycles, i.e. 720 lifted), 3/5 n=16200 (1, i.e. 360), 2/3 n=16200 (2) and 5/6 n=16200 (267
base-graph cycles: only 15 layers of degree-22/23 checks with z = 180). Everything is drawn from
``numpy.random.default_rng(seed)`` with a fixed seed per code, so ``generate`` is deterministic.

Run ``python -m chaincast.fec.ldpc.construct`` to rewrite ``fec/ldpc/tables/``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE_DIR = Path(__file__).resolve().parent / "tables"
CIRCULANT_SIZES = (360, 180, 120, 90, 72, 60, 45, 40, 36)
FRAME_LENGTHS = (64800, 16200)
BASE_SEED = 3_000_003  # the seed the committed tables were generated with

# rate name -> (numerator, denominator, high column degree, fraction of info groups of that degree)
PROFILES: dict[str, tuple[int, int, int, float]] = {
    "1/3": (1, 3, 12, 1 / 3),
    "1/2": (1, 2, 8, 2 / 5),
    "3/5": (3, 5, 12, 1 / 3),
    "2/3": (2, 3, 13, 1 / 5),
    "3/4": (3, 4, 12, 1 / 9),
    "5/6": (5, 6, 13, 1 / 10),
}
RATES = tuple(PROFILES)


@dataclass(frozen=True)
class IraDimensions:
    """Size of an IRA / quasi-cyclic code and what follows from it (shared by spec and code)."""

    rate: str
    n: int
    k: int
    z: int  # circulant size

    @property
    def m(self) -> int:
        """Number of parity bits = number of parity checks."""
        return self.n - self.k

    @property
    def q(self) -> int:
        """Number of layers (``m / z``); check ``i`` belongs to layer ``i % q``."""
        return self.m // self.z

    @property
    def name(self) -> str:
        num, den = self.rate.split("/")
        return f"ldpc_n{self.n}_r{num}_{den}"


@dataclass(frozen=True)
class CodeSpec(IraDimensions):
    """Everything the generator needs to know about one code before placing edges."""

    column_degrees: tuple[int, ...]  # one per information group
    seed: int


def code_spec(rate: str, n: int) -> CodeSpec:
    if rate not in PROFILES:
        raise ValueError(f"unknown rate {rate!r}; have {', '.join(RATES)}")
    if n not in FRAME_LENGTHS:
        raise ValueError(f"unknown frame length {n}; have {FRAME_LENGTHS}")
    num, den, high, fraction = PROFILES[rate]
    k = n * num // den
    z = next(z for z in CIRCULANT_SIZES if k % z == 0 and (n - k) % z == 0)
    groups = k // z
    n_high = int(round(fraction * groups))
    degrees = (high,) * n_high + (3,) * (groups - n_high)
    seed = BASE_SEED + 1000 * FRAME_LENGTHS.index(n) + RATES.index(rate)
    return CodeSpec(rate=rate, n=n, k=k, z=z, column_degrees=degrees, seed=seed)


def _cycle_counts(shift: np.ndarray, row: int, col: int, z: int) -> tuple[np.ndarray, np.ndarray]:
    """For a new circulant at ``(row, col)`` of base matrix ``shift`` (-1 = empty): how many
    4-cycles and how many 4- or 6-cycles each of the ``z`` candidate shifts would close.

    A lifted cycle through base path row -> col -> r1 -> c1 -> r2 -> c2 -> row exists for shift s
    when ``s - S[r1,col] + S[r1,c1] - S[r2,c1] + S[r2,c2] - S[row,c2] == 0 (mod z)``, i.e. for
    ``s == S[r1,col] - S[r1,c1] + S[r2,c1] - S[r2,c2] + S[row,c2]``; the histograms below are
    indexed by that value. Degenerate
    paths (r2 = r1, r2 = row, c1 = col) only give values of the 4-cycle set, so they need no
    exclusion; the 4-cycle set alone is ``S[r1,col] - S[r1,c1] + S[row,c1]``.
    """
    present = shift >= 0
    rows1 = np.flatnonzero(present[:, col])
    count4 = np.zeros(z, np.int64)
    count6 = np.zeros(z, np.int64)
    if rows1.size == 0:
        return count4, count6
    # paths col -> r1 -> c1: value S[r1,col] - S[r1,c1]
    sub = shift[rows1]  # [R1, C]
    ok1 = present[rows1]
    v1 = (shift[rows1, col][:, None] - sub) % z  # [R1, C]
    row_has = present[row]
    four = ok1 & row_has[None, :]
    np.add.at(count4, (v1[four] + shift[row][np.nonzero(four)[1]]) % z, 1)
    # paths col -> r1 -> c1 -> r2: value v1 + S[r2,c1], histogram per r2
    q = shift.shape[0]
    hist2 = np.zeros((q, z), np.float64)
    r1_idx, c1_idx = np.nonzero(ok1)
    vals1 = v1[r1_idx, c1_idx]
    r2_of_c = [np.flatnonzero(present[:, c]) for c in range(shift.shape[1])]
    for value, c1 in zip(vals1, c1_idx):
        r2 = r2_of_c[c1]
        np.add.at(hist2, (r2, (value + shift[r2, c1]) % z), 1)
    # closing r2 -> c2 -> row: value -S[r2,c2] + S[row,c2], circularly convolved per r2
    close = np.zeros((q, z), np.float64)
    both = present & row_has[None, :]
    r2_idx, c2_idx = np.nonzero(both)
    np.add.at(close, (r2_idx, (shift[row, c2_idx] - shift[r2_idx, c2_idx]) % z), 1)
    spectrum = (np.fft.rfft(hist2, axis=1) * np.fft.rfft(close, axis=1)).sum(axis=0)
    count6 = np.rint(np.fft.irfft(spectrum, n=z)).astype(np.int64)
    return count4, count6


def generate(spec: CodeSpec) -> list[list[int]]:
    """Address table of ``spec``: for each information group, the check indices of its first bit."""
    rng = np.random.default_rng(spec.seed)
    z, q = spec.z, spec.q
    groups = len(spec.column_degrees)
    shift = np.full((q, groups + q), -1, np.int64)
    for r in range(q):  # accumulator circulants
        shift[r, groups + r] = 0
        if r + 1 < q:
            shift[r + 1, groups + r] = 0
        else:
            shift[0, groups + r] = 1
    fill = np.zeros(q, np.int64)
    table: list[list[int]] = []
    for g, degree in enumerate(spec.column_degrees):
        addresses = []
        for _ in range(degree):
            free = np.flatnonzero(shift[:, g] < 0)
            candidates = free[fill[free] == fill[free].min()]
            row = int(rng.choice(candidates))
            count4, count6 = _cycle_counts(shift, row, g, z)
            best = count6[count4 == 0].min()
            allowed = np.flatnonzero((count4 == 0) & (count6 == best))
            s = int(rng.choice(allowed))
            shift[row, g] = s
            fill[row] += 1
            addresses.append(s * q + row)
        table.append(sorted(addresses))
    return table


def table_text(spec: CodeSpec, table: list[list[int]]) -> str:
    header = (
        f"# chaincast LDPC address table: rate {spec.rate} n={spec.n} k={spec.k} z={spec.z} "
        f"q={spec.q} seed={spec.seed}\n"
        "# one line per group of z information bits: check indices x of its first bit;\n"
        "# bit j of the group is in checks (x + j*q) mod (n-k). Written by chaincast.fec.ldpc.construct\n"
    )
    return header + "".join(" ".join(str(x) for x in row) + "\n" for row in table)


def table_path(spec: CodeSpec) -> Path:
    return TABLE_DIR / f"{spec.name}.txt"


def write_all(rates=RATES, lengths=FRAME_LENGTHS) -> None:
    for n in lengths:
        for rate in rates:
            spec = code_spec(rate, n)
            table_path(spec).write_text(table_text(spec, generate(spec)))
            print(f"wrote {table_path(spec).name}", file=sys.stderr)


if __name__ == "__main__":
    write_all()
