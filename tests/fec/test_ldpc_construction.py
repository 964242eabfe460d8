"""The LDPC code family: stored tables, structure and degree profiles."""

import hashlib

import numpy as np
import pytest

from chaincast.fec.ldpc import construct
from chaincast.fec.ldpc.codes import all_codes, check_adjacency, get_code, parity_check_matrix

ALL = [(rate, n) for n in construct.FRAME_LENGTHS for rate in construct.RATES]


@pytest.mark.parametrize("rate,n", ALL)
def test_stored_table_equals_a_fresh_regeneration(rate, n):
    spec = construct.code_spec(rate, n)
    fresh = construct.table_text(spec, construct.generate(spec))
    stored = construct.table_path(spec).read_text()
    assert hashlib.sha256(fresh.encode()).hexdigest() == hashlib.sha256(stored.encode()).hexdigest()


def test_tables_are_small():
    total = sum(construct.table_path(construct.code_spec(r, n)).stat().st_size for r, n in ALL)
    assert total < 200_000


@pytest.mark.parametrize("rate,n", ALL)
def test_code_has_its_rate_length_and_degree_profile(rate, n):
    code = get_code(rate, n)
    num, den, high, fraction = construct.PROFILES[rate]
    assert code.n == n and code.k * den == n * num
    h = parity_check_matrix(code)
    assert h.shape == (code.m, code.n)
    col_deg = np.diff(h.tocsc().indptr)
    info_deg = col_deg[: code.k]
    assert set(info_deg.tolist()) == {high, 3}
    assert np.count_nonzero(info_deg == high) == code.z * round(fraction * code.k / code.z)
    assert np.all(col_deg[code.k : -1] == 2) and col_deg[-1] == 1  # accumulator
    row_deg = np.diff(h.indptr)
    assert row_deg[1:].max() - row_deg[1:].min() <= 1  # balanced checks (check 0 has one parity bit)


@pytest.mark.parametrize("rate,n", ALL)
def test_code_has_no_4_cycles(rate, n):
    h = parity_check_matrix(get_code(rate, n)).astype(np.int32)
    overlap = (h @ h.T).tocoo()
    off_diagonal = overlap.row != overlap.col
    assert overlap.data[off_diagonal].max() == 1


@pytest.mark.parametrize("rate,n", [("1/2", 64800), ("3/5", 64800), ("1/2", 16200), ("3/4", 16200)])
def test_checks_of_a_layer_share_no_bit(rate, n):
    code = get_code(rate, n)
    order, ptr, bits = check_adjacency(code)
    assert sorted(order.tolist()) == list(range(code.m))
    for layer in range(code.q):
        lo, hi = ptr[layer * code.z], ptr[(layer + 1) * code.z]
        assert np.unique(bits[lo:hi]).size == hi - lo


def test_unknown_rate_or_length_is_refused():
    with pytest.raises(ValueError):
        get_code("4/5", 64800)
    with pytest.raises(ValueError):
        get_code("1/2", 1000)


def test_all_codes_lists_twelve_codes():
    assert len(all_codes()) == 12


@pytest.mark.parametrize("rate,n", [("1/2", 16200), ("1/2", 64800), ("3/5", 64800)])
def test_main_codes_have_no_6_cycles(rate, n):
    # Without 4-cycles a 6-cycle is a triangle of the check graph (checks adjacent when they share
    # a bit) whose three shared bits differ; triangles through one bit of degree d number C(d, 3).
    h = parity_check_matrix(get_code(rate, n)).astype(np.int64)
    adjacent = (h @ h.T).tocsr()
    adjacent.setdiag(0)
    adjacent.eliminate_zeros()
    adjacent.data[:] = 1
    triangles = int((adjacent @ adjacent).multiply(adjacent).sum()) // 6
    degrees = np.diff(h.tocsc().indptr)
    assert triangles == int(np.sum(degrees * (degrees - 1) * (degrees - 2) // 6))
