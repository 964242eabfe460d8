"""The chaincast LDPC code family, loaded from the address tables in ``fec/ldpc/tables/``.

``get_code(rate, n)`` returns an ``LdpcCode``; ``parity_check_matrix`` builds the sparse ``H``
(checks x bits) and ``check_adjacency`` the layered check-to-bit lists the decoder walks.
See ``construct`` for the structure of the codes and how the tables were made.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from chaincast.fec.ldpc.construct import CIRCULANT_SIZES, FRAME_LENGTHS, RATES, IraDimensions, code_spec, table_path


@dataclass(frozen=True)
class LdpcCode(IraDimensions):
    """One IRA / quasi-cyclic LDPC code.

    ``addresses[g]``: the check indices of the first bit of information group ``g`` (``z`` bits);
    bit ``j`` of the group is in checks ``(x + j * q) % m``. Parity bit ``i`` (coded bit ``k + i``)
    is in checks ``i`` and ``i + 1`` (the last only in check ``m - 1``).
    """

    addresses: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        m = self.n - self.k
        if self.z not in CIRCULANT_SIZES or self.k % self.z or m % self.z:
            raise ValueError(f"circulant size {self.z} does not divide k={self.k} and m={m}")
        if len(self.addresses) != self.k // self.z:
            raise ValueError(f"need {self.k // self.z} address rows, got {len(self.addresses)}")
        q = m // self.z
        for row in self.addresses:
            if any(not 0 <= x < m for x in row) or len({x % q for x in row}) != len(row):
                raise ValueError("address out of range or two addresses of a group in one layer")

    def __hash__(self) -> int:  # tables are tuples: hash on the identity of the code
        return hash((self.rate, self.n, self.k, self.z))


def parse_table(text: str) -> tuple[tuple[int, ...], ...]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append(tuple(int(x) for x in line.split()))
    return tuple(rows)


@functools.cache
def get_code(rate: str, n: int) -> LdpcCode:
    """The code of ``rate`` (one of 1/3, 1/2, 3/5, 2/3, 3/4, 5/6) and length 64800 or 16200."""
    spec = code_spec(rate, n)
    addresses = parse_table(table_path(spec).read_text())
    return LdpcCode(rate=rate, n=n, k=spec.k, z=spec.z, addresses=addresses)


def all_codes() -> list[LdpcCode]:
    return [get_code(rate, n) for n in FRAME_LENGTHS for rate in RATES]


@functools.cache
def info_edges(code: LdpcCode) -> tuple[np.ndarray, np.ndarray]:
    """``(check, bit)`` index arrays of the information part, bit-major (the address-table order)."""
    q, m, z = code.q, code.m, code.z
    checks, bits = [], []
    j = np.arange(z)
    for g, row in enumerate(code.addresses):
        for x in row:
            checks.append((x + j * q) % m)
            bits.append(g * z + j)
    c = np.concatenate(checks).astype(np.int64)
    b = np.concatenate(bits).astype(np.int64)
    order = np.lexsort((c, b))
    return c[order], b[order]


@functools.cache
def parity_check_matrix(code: LdpcCode) -> sp.csr_matrix:
    """``H``: ``m x n`` scipy CSR matrix of 0/1 (uint8), bits ordered info then parity."""
    c_info, b_info = info_edges(code)
    i = np.arange(code.m)
    rows = np.concatenate([c_info, i, i[1:]])
    cols = np.concatenate([b_info, code.k + i, code.k + i[:-1]])
    data = np.ones(rows.size, np.uint8)
    h = sp.csr_matrix((data, (rows, cols)), shape=(code.m, code.n))
    h.sort_indices()
    return h


@functools.cache
def check_adjacency(code: LdpcCode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layered check-node adjacency the decoder walks: ``(order, ptr, bits)``.

    ``order[t]``: the ``t``-th check processed, layer by layer (``i = r + j*q`` for ``r`` in
    ``0..q-1``, then ``j`` in ``0..z-1``); ``bits[ptr[t]:ptr[t+1]]`` are its bits in increasing
    order. The ``z`` checks of a layer share no bit. int32 arrays.
    """
    h = parity_check_matrix(code)
    order = (np.arange(code.q)[:, None] + code.q * np.arange(code.z)[None, :]).ravel()
    hl = h[order]
    hl.sort_indices()
    return order.astype(np.int32), hl.indptr.astype(np.int32), hl.indices.astype(np.int32)


def syndrome(code: LdpcCode, codewords: np.ndarray) -> np.ndarray:
    """``H @ c mod 2`` for ``codewords: uint8[..., n]`` -> ``uint8[..., m]``."""
    c = np.asarray(codewords, dtype=np.uint8)
    flat = c.reshape(-1, code.n).astype(np.int32)
    s = (parity_check_matrix(code).astype(np.int32) @ flat.T).T & 1
    return s.astype(np.uint8).reshape(c.shape[:-1] + (code.m,))
