import numpy as np
import pytest

from chaincast.sdr.modem import qpsk_map
from chaincast.sdr.rrc import matched_filter_taps, rrc_pulse, rrc_taps
from chaincast.sdr.tx import Modulator


@pytest.mark.parametrize("sps", [2.0, 2.4, 4.0, 2.31])
def test_taps_have_energy_samples_per_symbol_and_are_symmetric(sps):
    h = rrc_taps(sps, 0.2, 16)
    assert np.isclose(np.sum(h.astype(np.float64) ** 2), sps, rtol=1e-5)
    assert np.allclose(h, h[::-1])


def test_singular_points_are_the_limits():
    b = 0.25  # t = +-1/(4b) = +-1 symbol is a sample point at 4 samples/symbol
    for t0 in (0.0, 1.0, -1.0):
        exact = rrc_pulse(np.array([t0]), b)[0]
        near = rrc_pulse(np.array([t0 - 1e-5, t0 + 1e-5]), b)
        assert np.all(np.isfinite(exact))
        assert np.allclose(near, exact, atol=1e-4)


@pytest.mark.parametrize("sps", [2, 4])
def test_tx_shaping_plus_matched_filter_gives_unit_symbols_with_isi_below_30db(sps):
    rng = np.random.default_rng(1)
    s = qpsk_map(rng.integers(0, 2, 2 * 4000).astype(np.uint8))
    mod = Modulator(sps * 1e6, 1e6, 0.2)
    x = np.concatenate([mod.process(s), mod.flush()])
    h = matched_filter_taps(sps, 0.2, 16)
    z = np.convolve(x, h)
    d = int(round(mod.delay_samples)) + (h.size - 1) // 2
    r = z[d::sps][: s.size]
    err = r[50:-50] - s[50:-50]
    assert 10 * np.log10(np.mean(np.abs(err) ** 2)) < -30
    assert abs(np.mean(np.abs(r[50:-50]) ** 2) - 1.0) < 0.02
