import numpy as np
import pytest

from chaincast.sdr.channel import Channel, cu8_to_complex, quantize_cu8


@pytest.mark.parametrize("esn0_db,sps", [(10.0, 2.4), (-3.0, 2.0), (20.0, 4.0)])
def test_noise_power_matches_esn0_within_0p2_db(esn0_db, sps):
    ch = Channel(sps * 1e6, 1e6, esn0_db, seed=1)
    w = ch.noise(400_000)
    expected = sps / 10 ** (esn0_db / 10)
    assert abs(10 * np.log10(np.mean(np.abs(w) ** 2) / expected)) < 0.2


def test_same_seed_any_chunking_gives_same_output_with_all_impairments():
    rng = np.random.default_rng(10)
    x = (rng.standard_normal(60000) + 1j * rng.standard_normal(60000)).astype(np.complex64) / np.sqrt(2)
    kw = dict(esn0_db=5.0, cfo_hz=12e3, cfo_drift_hz_per_s=500.0, clock_ppm=-80, phase_noise_linewidth_hz=50,
              iq_gain_db=0.5, iq_phase_deg=2.0, dc_offset=0.01 + 0.02j, seed=3)
    a = Channel(2.4e6, 1e6, **kw)
    ya = np.concatenate([a.process(x), a.flush()])
    b = Channel(2.4e6, 1e6, **kw)
    cuts = [0, 1, 4096, 4097, 30000, 60000]
    yb = np.concatenate([b.process(x[c0:c1]) for c0, c1 in zip(cuts[:-1], cuts[1:])] + [b.flush()])
    assert ya.size == yb.size
    assert np.allclose(ya, yb, atol=1e-5)
    c = Channel(2.4e6, 1e6, **{**kw, "seed": 4})
    assert not np.allclose(np.concatenate([c.process(x), c.flush()]), ya)


def test_clock_resampler_error_below_minus_40db_in_band():
    n = np.arange(100_000)
    for f in (0.05, 0.3):  # cycles per sample; 0.3 = band edge at 2.0 samples/symbol + 100 kHz
        x = np.exp(2j * np.pi * f * n).astype(np.complex64)
        ch = Channel(2.4e6, 1e6, None, clock_ppm=100)
        y = np.concatenate([ch.process(x), ch.flush()])
        m = np.arange(y.size)
        ref = np.exp(2j * np.pi * f * m / (1 + 100e-6))
        err = y[100:-100] - ref[100:-100]
        assert 10 * np.log10(np.mean(np.abs(err) ** 2)) < -40
    assert abs(y.size - n.size * (1 + 100e-6)) < 2


def test_carrier_offset_phase_is_continuous_across_chunks():
    ch = Channel(1e6, 1e5, None, cfo_hz=1234.5)
    x = np.ones(10000, dtype=np.complex64)
    y = np.concatenate([ch.process(x[:3333]), ch.process(x[3333:])])
    ref = np.exp(2j * np.pi * 1234.5 * np.arange(10000) / 1e6)
    assert np.allclose(y, ref, atol=1e-5)


def test_cu8_quantisation_scale_midrise_zero_and_clipping():
    x = np.array([0.0, 1.0 / 40, 10.0 + 10j, -10.0 - 10j], dtype=np.complex64)
    raw = quantize_cu8(x, rms_lsb=40.0)
    assert raw.dtype == np.uint8 and raw.size == 8
    assert raw[:2].tolist() == [128, 128]  # 0 rounds to the code just above 127.5
    assert raw[2] == 129
    assert raw[4:6].tolist() == [255, 255] and raw[6:8].tolist() == [0, 0]
    back = cu8_to_complex(raw)
    assert back.dtype == np.complex64
    assert np.isclose(back[0].real, 0.5 / 127.5)
    rng = np.random.default_rng(11)
    z = (rng.standard_normal(10000) + 1j * rng.standard_normal(10000)).astype(np.complex64) / np.sqrt(2)
    zz = cu8_to_complex(quantize_cu8(z, rms_lsb=40.0)) * (127.5 / 40.0)
    assert 10 * np.log10(np.mean(np.abs(zz - z) ** 2)) < -30


def test_interference_is_added_at_its_relative_power_and_looped_by_absolute_sample():
    rng = np.random.default_rng(4)
    other = (rng.normal(size=1000) + 1j * rng.normal(size=1000) + 3.0).astype(np.complex64)  # with DC
    ch = Channel(2.4e6, 1e6, None, interference=other, interference_db=-12.0)
    silence = np.zeros(2500, np.complex64)
    out = np.concatenate([ch.process(silence[:700]), ch.process(silence[700:])])
    period = out[:1000]
    assert abs(np.mean(np.abs(period) ** 2) - 10 ** -1.2) < 1e-3 * 10 ** -1.2
    assert abs(np.mean(period)) < 1e-4  # its DC is removed
    assert np.allclose(out[:1000], out[1000:2000]) and np.allclose(out[:500], out[2000:])
    assert ch.interference_power == pytest.approx(10 ** -1.2)


def test_blockage_blanks_the_signal_in_bursts_for_the_asked_fraction_of_time_whatever_the_chunking():
    fs = 2.4e6
    ones = np.ones(int(10 * fs), np.complex64)  # 10 s of a constant carrier, no noise
    whole = Channel(fs, 1e6, None, blank_fraction=0.3, blank_s=0.02, seed=4).process(ones)
    ch = Channel(fs, 1e6, None, blank_fraction=0.3, blank_s=0.02, seed=4)
    chunked = np.concatenate([ch.process(ones[i:i + 100_000]) for i in range(0, ones.size, 100_000)])
    assert np.array_equal(whole, chunked)
    blocked = whole == 0
    assert 0.25 < blocked.mean() < 0.35
    edges = np.flatnonzero(np.diff(blocked.astype(np.int8)))
    runs = np.diff(edges)[(0 if blocked[edges[0] + 1] else 1)::2]  # lengths of the blocked runs
    assert np.median(runs) == round(0.02 * fs)  # 20 ms bursts (two may merge)
    noisy = Channel(fs, 1e6, 10.0, blank_fraction=0.3, seed=4).process(ones)
    assert np.all(np.abs(noisy[blocked]) > 0)  # the noise stays
