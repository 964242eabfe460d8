import numpy as np

from chaincast.sdr import timing
from chaincast.sdr.interp import fir_interp, fir_interp_reference, windowed_sinc_table


def test_fractional_fir_kernel_equals_numpy_reference_on_random_input():
    rng = np.random.default_rng(7)
    tab = windowed_sinc_table(16, 64)
    x = (rng.standard_normal(500) + 1j * rng.standard_normal(500)).astype(np.complex64)
    for step, offset, x_start, m0 in [(1 / 2.4, 0.0, 0, 0), (1.0001, 8.0, 100, 90), (0.433, 3.3, 7, 20)]:
        a = fir_interp(x, x_start, m0, m0 + 300, step, offset, tab, 64, 16)
        b = fir_interp_reference(x, x_start, m0, m0 + 300, step, offset, tab, 64, 16)
        assert np.allclose(a, b, atol=1e-5)


def test_gardner_kernel_equals_python_reference_on_random_input():
    rng = np.random.default_rng(8)
    x = (rng.standard_normal(3000) + 1j * rng.standard_normal(3000)).astype(np.complex64)
    k1, k2 = timing.loop_gains(0.01)
    s1 = timing.initial_state(2.4)
    s2 = s1.copy()
    a, pa = timing.gardner(x, s1, 2.4, k1, k2)
    b, pb = timing.gardner_reference(x, s2, 2.4, k1, k2)
    assert a.size == b.size > 1000
    assert np.allclose(a, b, atol=1e-4)
    assert np.allclose(pa, pb, atol=1e-6)
    assert np.allclose(s1, s2, atol=1e-6)
