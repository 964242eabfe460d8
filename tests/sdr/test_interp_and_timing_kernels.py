import numpy as np
import pytest

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
    for delayed in (False, True):  # the acquiring loop, and the tracking loop with its symbol of delay
        s1 = timing.initial_state(2.4)
        s2 = s1.copy()
        a, pa = timing.gardner(x, s1, 2.4, k1, k2, delayed=delayed)
        b, pb = timing.gardner_reference(x, s2, 2.4, k1, k2, delayed=delayed)
        assert a.size == b.size > 1000
        assert np.allclose(a, b, atol=1e-4)
        assert np.allclose(pa, pb, atol=1e-6)
        assert np.allclose(s1, s2, atol=1e-6)
    delayed_positions = timing.gardner(x, timing.initial_state(2.4), 2.4, k1, k2, delayed=True)[1][:500]
    assert not np.allclose(delayed_positions, timing.gardner(x, timing.initial_state(2.4), 2.4, k1, k2)[1][:500])


def test_the_timing_loop_holds_its_rate_through_a_blockage():
    """Noise alone (the signal blocked, 10 dB down) must not walk the loop: once the level has
    fallen under the hold threshold (a few hundred symbols) its integrator and its averaged rate
    stay exactly as they were and the strobes keep that rate's spacing; the reference agrees."""
    from chaincast.sdr.modem import qpsk_map
    from chaincast.sdr.tx import Modulator

    rng = np.random.default_rng(9)
    sps = 2.4
    signal = Modulator(2.4e6, 1e6, 0.2).process(qpsk_map(rng.integers(0, 2, 2 * 6000).astype(np.uint8)))
    noise = 0.1 * (rng.standard_normal(40000) + 1j * rng.standard_normal(40000)) / np.sqrt(2 * sps)
    x = np.concatenate([signal, noise]).astype(np.complex64)
    k1, k2 = timing.loop_gains(0.002)
    state = timing.initial_state(sps)
    cut = signal.size + 2000  # 830 symbols into the noise
    timing.gardner(x[:cut], state, sps, k1, k2)
    integ, rate = state[timing.S_INTEG], state[timing.S_RATE]
    assert state[timing.S_LEVEL] < timing.HOLD_POWER_RATIO * state[timing.S_PEAK]
    state[timing.S_P] -= cut - 64  # keep 64 samples of look-back
    _, strobes = timing.gardner(x[cut - 64:], state, sps, k1, k2)
    assert state[timing.S_INTEG] == integ and state[timing.S_RATE] == rate
    assert np.allclose(np.diff(strobes), sps * (1 - rate), atol=1e-9)
    a, b = timing.initial_state(sps), timing.initial_state(sps)
    ya, pa = timing.gardner(x[:20000], a, sps, k1, k2)
    yb, pb = timing.gardner_reference(x[:20000], b, sps, k1, k2)
    assert np.allclose(pa, pb, atol=1e-6) and np.allclose(a, b, atol=1e-6)


def test_derotate_kernel_equals_the_numpy_reference():
    """The frame tracker's derotation: a rotator per stretch between known segments against
    np.interp and np.exp per symbol, with one segment, several, and a frame longer than 1024
    symbols per stretch (the rotator's re-anchoring)."""
    from chaincast.sdr.tracking import _derotate, _derotate_reference

    rng = np.random.default_rng(4)
    y = rng.standard_normal(33282) + 1j * rng.standard_normal(33282)
    for t_c in (np.array([95.5]), np.array([95.5, 1571.5, 3047.5]), np.arange(22) * 1476.0 + 95.5 + 7.25):
        ph_c = np.cumsum(rng.normal(0.3, 2.0, t_c.size))
        amp_c = rng.uniform(0.5, 1.5, t_c.size)
        g, phase = _derotate(y, t_c, ph_c, amp_c, 2e-3, -1e-3)
        g_ref, phase_ref = _derotate_reference(y, t_c, ph_c, amp_c, 2e-3, -1e-3)
        assert np.allclose(phase, phase_ref, atol=1e-9)
        assert np.allclose(g, g_ref, rtol=1e-9, atol=1e-9)


def test_payload_frequency_slot_sums_equal_the_direct_ones():
    """The slot sums of (y e^{-j 2 pi f0 t})^M, with one 90-point ramp for all slots, against the
    per-symbol computation."""
    from chaincast.sdr import plframe as pf
    from chaincast.sdr.tracking import _payload_frequency

    rng = np.random.default_rng(5)
    pay_idx = pf.payload_indices(360, True)
    nsym = pf.frame_symbols(360, True)
    f_true = 3e-4
    t = np.arange(nsym)
    y = np.exp(1j * (np.pi / 4 + np.pi / 2 * rng.integers(0, 4, nsym) + 2 * np.pi * f_true * t + 0.7))
    y = y + 0.3 * (rng.standard_normal(nsym) + 1j * rng.standard_normal(nsym))
    f, var = _payload_frequency(y, pay_idx, 2.5e-4, 4)
    # direct: derotate every symbol, 4th power, slot sums, Kay's estimator
    p = y[pay_idx] * np.exp(-2j * np.pi * 2.5e-4 * pay_idx)
    z = np.sum((p ** 4).reshape(360, 90), axis=1)
    dt = float(np.mean(np.diff(pay_idx.reshape(360, 90).mean(axis=1))))
    direct = 2.5e-4 + float(np.angle(np.sum(z[1:] * np.conj(z[:-1])))) / (2 * np.pi * 4 * dt)
    assert f == pytest.approx(direct, abs=1e-9)
    assert abs(f - f_true) < 5 * np.sqrt(var)
