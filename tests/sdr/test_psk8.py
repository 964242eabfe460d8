import itertools

import numpy as np
import pytest

from chaincast.sdr.psk8 import POINTS, psk8_hard, psk8_llr, psk8_map


def test_constellation_has_unit_energy_and_gray_neighbours():
    assert np.allclose(np.abs(POINTS), 1.0)
    labels = [4 * a + 2 * b + c for a, b, c in itertools.product((0, 1), repeat=3)]
    order = sorted(labels, key=lambda label: np.angle(POINTS[label]) % (2 * np.pi))
    for here, there in zip(order, order[1:] + order[:1]):
        assert bin(here ^ there).count("1") == 1  # neighbours on the circle differ in one bit


def test_map_then_hard_decision_round_trips():
    bits = np.random.default_rng(0).integers(0, 2, 3 * 500).astype(np.uint8)
    assert np.array_equal(psk8_hard(psk8_map(bits)), bits)


@pytest.mark.parametrize("exact", [True, False])
def test_llrs_equal_a_brute_force_oracle(exact):
    # independent oracle: per-symbol Python loop over the 8 hypotheses with explicit bit labels
    rng = np.random.default_rng(1)
    y = (rng.normal(size=50) + 1j * rng.normal(size=50)).astype(np.complex64)
    n0 = 0.3
    got = psk8_llr(y, n0, exact=exact).reshape(-1, 3)
    for sym, llr in zip(y, got):
        for i in range(3):
            metrics = {0: [], 1: []}
            for a, b, c in itertools.product((0, 1), repeat=3):
                point = psk8_map(np.array([a, b, c], np.uint8))[0]
                metrics[(a, b, c)[i]].append(-abs(sym - point) ** 2 / n0)
            if exact:
                want = np.log(np.sum(np.exp(metrics[0]))) - np.log(np.sum(np.exp(metrics[1])))
            else:
                want = max(metrics[0]) - max(metrics[1])
            assert llr[i] == pytest.approx(want, rel=1e-4, abs=1e-4)


def test_llr_signs_match_the_transmitted_bits_without_noise():
    bits = np.random.default_rng(2).integers(0, 2, 300).astype(np.uint8)
    llr = psk8_llr(psk8_map(bits), 0.1)
    assert np.array_equal((llr < 0).astype(np.uint8), bits)


@pytest.mark.parametrize("exact", [True, False])
def test_numba_demapper_matches_the_numpy_reference(exact):
    from chaincast.sdr.psk8 import psk8_llr_fast

    rng = np.random.default_rng(11)
    y = (rng.normal(size=5000) + 1j * rng.normal(size=5000)).astype(np.complex64)
    for n0 in (0.005, 0.05, 0.3, 2.0):  # 0.005: classes beyond float32's exp, the per-class path
        ref = psk8_llr(y, n0, exact=exact)
        fast = psk8_llr_fast(y, n0, exact=exact)
        assert fast.dtype == np.float32 and fast.shape == ref.shape
        assert np.allclose(fast, ref, rtol=1e-4, atol=1e-3)
