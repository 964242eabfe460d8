import numpy as np
import pytest

from chaincast.fec.wire.plheader import Pls
from chaincast.sdr import plframe as pf
from chaincast.sdr.modem import qpsk_map


def _psl(a):
    c = np.correlate(a, a, "full")
    c[a.size - 1] = 0
    return np.max(np.abs(c))


def test_sof_aperiodic_and_differential_sidelobes_are_low():
    a = 1 - 2 * pf.SOF_BITS.astype(float)
    assert _psl(a) <= 8  # of 64: -18 dB
    assert _psl(a[1:] * a[:-1]) <= 8  # of 63


def test_no_header_shift_looks_like_the_sof_differentially():
    sof = pf.sof_symbols()
    r = sof[1:] * np.conj(sof[:-1])
    worst = 0.0
    for v in range(256):
        h = np.concatenate([np.zeros(64, np.complex64), pf.header_symbols(v), np.zeros(64, np.complex64)])
        d = h[1:] * np.conj(h[:-1])
        c = np.abs(np.correlate(d, r, "valid")) / 63
        c[64] = 0
        worst = max(worst, c.max())
    assert worst < 0.4


@pytest.mark.parametrize("slots,pilots,expected", [(90, True, 192 + 8100 + 5 * 36), (90, False, 192 + 8100),
                                                   (360, True, 192 + 32400 + 22 * 36), (16, True, 192 + 1440)])
def test_frame_length_and_indices_partition_the_frame(slots, pilots, expected):
    n = pf.frame_symbols(slots, pilots)
    assert n == expected
    pay = pf.payload_indices(slots, pilots)
    pil = pf.pilot_indices(slots, pilots)
    assert pay.size == slots * 90
    allidx = np.sort(np.concatenate([np.arange(192), pay, pil]))
    assert np.array_equal(allidx, np.arange(n))
    if pilots and slots > 16:
        assert pf.pilot_block_starts(slots, pilots)[0] == 192 + 16 * 90


def test_build_frame_places_header_payload_and_pilots():
    rng = np.random.default_rng(4)
    pls = Pls(1, True, True).pack()
    payload = qpsk_map(rng.integers(0, 2, 2 * 8100).astype(np.uint8))
    f = pf.build_frame(payload, pls)
    assert np.allclose(f[:64], pf.sof_symbols())
    assert np.allclose(f[pf.payload_indices(90, True)], payload)
    assert np.allclose(f[pf.pilot_indices(90, True)], (1 + 1j) / np.sqrt(2))
    assert np.allclose(np.abs(f) ** 2, 1.0)


def test_pls_roundtrip_for_all_256_values():
    for v in range(256):
        got, metric = pf.decode_pls(pf.pls_soft_from_symbols(pf.encode_pls(v)))
        assert got == v and metric > 0.999


def test_pls_frame_error_rate_below_1e_3_at_minus_3db():
    rng = np.random.default_rng(5)
    trials = 4000
    n0 = 10 ** (3 / 10)  # Es/N0 = -3 dB
    values = rng.integers(0, 256, trials)
    tx = np.array([pf.encode_pls(v) for v in values])
    noise = np.sqrt(n0 / 2) * (rng.standard_normal(tx.shape) + 1j * rng.standard_normal(tx.shape))
    soft = np.array([pf.pls_soft_from_symbols(row) for row in tx + noise])
    got, metric = pf.decode_pls_batch(soft)
    assert np.mean(got != values) < 1e-3
    assert np.median(metric) > 0.6


def test_pls_metric_is_low_on_noise():
    rng = np.random.default_rng(6)
    _, metric = pf.decode_pls_batch(rng.standard_normal((2000, 128)))
    assert metric.max() < 0.5
