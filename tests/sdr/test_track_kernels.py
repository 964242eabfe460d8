"""Carrier tracking's numba kernels (and the front end's NCO ramp) against their readable NumPy versions
(``chaincast.sdr.trackkernels``), on frames built by the modulator's own frame layout."""

import numpy as np
import pytest

from chaincast.fec.wire.plheader import Pls
from chaincast.sdr import plframe as pf
from chaincast.sdr import trackkernels as tk
from chaincast.sdr.modem import qpsk_map
from chaincast.sdr.tracking import pilot_segments, segment_arrays

NORMAL_QPSK_PILOTS = Pls(4, False, True)


def _received_frame(rng, f_cycles=3e-4, phase=0.7, esn0_db=3.0):
    """A normal QPSK frame with pilots after a carrier offset ``f_cycles`` (cycles/symbol), a phase
    and noise; its PLS and its header symbols."""
    pls = NORMAL_QPSK_PILOTS
    payload = qpsk_map(rng.integers(0, 2, 2 * pls.slots * 90).astype(np.uint8))
    frame = pf.build_frame(payload, pls.pack()).astype(np.complex128)
    n = frame.size
    n0 = 10 ** (-esn0_db / 10)
    y = frame * np.exp(1j * (2 * np.pi * f_cycles * np.arange(n) + phase))
    y += np.sqrt(n0 / 2) * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return y, pls, frame[:pf.HEADER_SYMBOLS]


@pytest.mark.parametrize("priors", [(), ((3.1e-4, 1e-4),), ((2e-4, 5e-5), (6e-4, 2e-4))])
def test_segment_phases_equal_the_reference(priors):
    rng = np.random.default_rng(11)
    y, pls, header = _received_frame(rng)
    starts, lengths, known = segment_arrays([(0, header)] + pilot_segments(pls))
    centres = np.array([c for c, _ in priors], np.float64)
    sds = np.array([sd for _, sd in priors], np.float64)
    for f_init in (0.0, 2.9e-4, -1e-3):
        a = tk.segment_phases(y, starts, lengths, known, f_init, centres, sds)
        b = tk.segment_phases_reference(y, starts, lengths, known, f_init, centres, sds)
        for got, want in zip(a, b):
            assert got.shape == want.shape == (starts.size,)
            assert np.allclose(got, want, rtol=1e-9, atol=1e-9)
    # the phases follow the applied ramp (the kernel measures the signal, not only the reference's rounding)
    t_c, ph_c, amp_c = tk.segment_phases(y, starts, lengths, known, 3e-4, centres, sds)
    slope = np.polyfit(t_c, ph_c, 1)[0] / (2 * np.pi)
    assert abs(slope - 3e-4) < 2e-6 and np.all(amp_c > 0.7)


def test_segment_amplitudes_equal_the_reference_and_see_a_blocked_pilot():
    rng = np.random.default_rng(12)
    y, pls, header = _received_frame(rng, esn0_db=8.0)
    segs = [(0, header)] + pilot_segments(pls)
    blocked_start, blocked = segs[5]
    y[blocked_start:blocked_start + blocked.size] = 0.05 * y[blocked_start:blocked_start + blocked.size]
    starts, lengths, known = segment_arrays(segs)
    a = tk.segment_amplitudes(y, starts, lengths, known, 3e-4)
    b = tk.segment_amplitudes_reference(y, starts, lengths, known, 3e-4)
    assert np.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert a[5] < 0.2 and np.all(np.delete(a, 5) > 0.8)


@pytest.mark.parametrize("power", [2, 4, 8])
def test_slot_power_sums_equal_the_reference(power):
    rng = np.random.default_rng(power)
    y = rng.standard_normal(2000) + 1j * rng.standard_normal(2000)
    index = np.sort(rng.choice(2000, 905, replace=False)).astype(np.int64)  # 10 whole slots of 90 and 5 left over
    ramp = np.exp(-2j * np.pi * rng.uniform(-0.01, 0.01) * np.arange(90))
    z, energy = tk.slot_power_sums(y, index, power, ramp)
    z_ref, energy_ref = tk.slot_power_sums_reference(y, index, power, ramp)
    assert z.shape == z_ref.shape == (10,)
    assert np.allclose(z, z_ref, rtol=1e-10) and energy == pytest.approx(energy_ref, rel=1e-10)


def test_slot_means_and_rotations_equal_the_reference():
    rng = np.random.default_rng(4)
    index = np.sort(rng.choice(5000, 2000, replace=False)).astype(np.int64)
    values = rng.standard_normal(5000)
    for got, want in zip(tk.slot_means(index, values, 90), tk.slot_means_reference(index, values, 90)):
        assert got.shape == want.shape == (22,) and np.allclose(got, want, rtol=1e-12)
    p = rng.standard_normal(2000) + 1j * rng.standard_normal(2000)
    correction = rng.uniform(-np.pi, np.pi, 22)
    out = tk.rotate_slots(p, correction, 90)
    assert np.allclose(out, tk.rotate_slots_reference(p, correction, 90), rtol=1e-12, atol=1e-12)
    assert np.array_equal(out[22 * 90:], p[22 * 90:])  # the part slot is left as it was
    # small angles by the series, large ones by cos/sin, both within 1e-10 of exp
    angle = np.concatenate([rng.uniform(-tk.SMALL_ANGLE, tk.SMALL_ANGLE, 1000), rng.uniform(-40, 40, 1000),
                            [tk.SMALL_ANGLE, -tk.SMALL_ANGLE, 0.0]])
    q = rng.standard_normal(angle.size) + 1j * rng.standard_normal(angle.size)
    assert np.max(np.abs(tk.rotate(q, angle) - tk.rotate_reference(q, angle))) < 1e-10 * np.max(np.abs(q))


def test_nco_ramp_equals_exp_over_whole_and_part_stretches():
    from chaincast.sdr.frontend import RAMP_STRETCH, nco_ramp, nco_ramp_reference
    for w in (0.0, 2e-6, 0.05, -0.3, 3.0):
        for n in (1, 100, RAMP_STRETCH, 16384, 5000):
            got = nco_ramp(w, n)
            assert got.dtype == np.complex64 and got.shape == (n,)
            assert np.max(np.abs(got - nco_ramp_reference(w, n))) < 1e-6
