import numpy as np

from chaincast.sdr.modem import pi2_bpsk, qpsk_hard, qpsk_llr, qpsk_map


def test_qpsk_gray_map_values_and_unit_energy():
    bits = np.array([0, 0, 0, 1, 1, 0, 1, 1], dtype=np.uint8)
    s = qpsk_map(bits)
    r = 1 / np.sqrt(2)
    assert s.dtype == np.complex64
    assert np.allclose(s, [r + 1j * r, r - 1j * r, -r + 1j * r, -r - 1j * r])
    assert np.allclose(np.abs(s) ** 2, 1.0)


def test_qpsk_llr_formula_sign_and_hard_decision_roundtrip():
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2, 2000).astype(np.uint8)
    y = qpsk_map(bits)
    llr = qpsk_llr(y, 0.5)
    assert llr.dtype == np.float32 and llr.size == 2000
    assert np.array_equal((llr < 0).astype(np.uint8), bits)
    assert np.allclose(np.abs(llr), 2 * np.sqrt(2) * (1 / np.sqrt(2)) / 0.5, rtol=1e-5)
    assert np.array_equal(qpsk_hard(y), bits)


def test_pi2_bpsk_rotates_by_quarter_turn_on_odd_symbols():
    s = pi2_bpsk(np.array([0, 0, 1, 1], dtype=np.uint8))
    e = np.exp(1j * np.pi / 4)
    assert np.allclose(s, [e, 1j * e, -e, -1j * e])
    assert np.allclose(s ** 4, -1.0)  # same 4th-power line as QPSK (used by coarse CFO)
