"""Spectrum estimators (line strength, carrier offset, Es/N0) against the channel simulator's own
Es/N0 and carrier offset: PL frames from the uplink's modulator through ``Channel``, 8-bit
quantised as an RTL-SDR would (an ideal AGC: unit RMS at 40 LSB)."""

import numpy as np
import pytest
from scipy.signal import welch
from scipy.stats import gamma

from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import MODCODS
from chaincast.sdr import plframe as pf
from chaincast.sdr import spectrum
from chaincast.sdr.channel import Channel, cu8_to_complex, quantize_cu8
from chaincast.sdr.modem import psk_map
from chaincast.sdr.tx import Modulator

SYMBOL_RATE_HZ = 1e6
ROLLOFF = 0.2
WINDOW_S = 0.25  # what `chaincast point` measures


def received(esn0_db, cfo_hz, sample_rate_hz=2.4e6, modcod="qpsk-3/5", seed=1, seconds=WINDOW_S):
    """Back-to-back PL frames of random data through the channel: complex64 from cu8."""
    rng = np.random.default_rng(seed)
    m = MODCODS[modcod]
    value = Pls(m.pls_id, m.short_frame, True).pack()
    symbols, n = [], 0
    while n < seconds * SYMBOL_RATE_HZ + 64:
        bits = rng.integers(0, 2, m.coded_bits).astype(np.uint8)
        symbols.append(pf.build_frame(psk_map(bits, m.bits_per_symbol), value))
        n += symbols[-1].size
    tx = Modulator(sample_rate_hz, SYMBOL_RATE_HZ, ROLLOFF).process(np.concatenate(symbols))[:int(seconds * sample_rate_hz)]
    channel = Channel(sample_rate_hz, SYMBOL_RATE_HZ, esn0_db, cfo_hz=cfo_hz, clock_ppm=30, seed=seed)
    rx = channel.process(tx)
    return cu8_to_complex(quantize_cu8(rx, rms_lsb=40 / np.sqrt(1 + channel.noise_power)))


def noise_only(seed, sample_rate_hz=2.4e6, seconds=WINDOW_S):
    channel = Channel(sample_rate_hz, SYMBOL_RATE_HZ, 0.0, seed=seed)
    return cu8_to_complex(quantize_cu8(channel.noise(int(seconds * sample_rate_hz)), rms_lsb=40 / np.sqrt(channel.noise_power)))


@pytest.mark.parametrize("esn0_db", [0.0, 3.0, 6.0, 10.0])
@pytest.mark.parametrize("cfo_hz", [20e3, -75e3])
def test_esn0_and_carrier_offset_agree_with_the_channel(esn0_db, cfo_hz):
    iq = received(esn0_db, cfo_hz, seed=int(esn0_db) * 7 + (cfo_hz > 0))
    figures = spectrum.estimate(iq, 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
    assert figures.line.detected and figures.line.order == 4 and figures.line.blocks == 9
    assert abs(figures.line.cfo_hz - cfo_hz) < 20  # bins of 9 Hz after the 4th power, interpolated
    assert abs(figures.line.frequency_hz - 4 * cfo_hz) < 80
    assert figures.band.centre_hz == figures.line.cfo_hz
    assert abs(figures.band.esn0_db - esn0_db) < 0.7, figures.band
    searched = spectrum.band_esn0(iq, 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)  # no line to centre on: the band is found
    assert abs(searched.centre_hz - cfo_hz) < 20e3
    assert abs(searched.esn0_db - esn0_db) < 0.7, searched


def test_line_strength_grows_with_esn0():
    strengths = [spectrum.spectral_line(received(esn0, 20e3, seed=3), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF).strength_db
                 for esn0 in (-3.0, 0.0, 3.0, 6.0, 10.0)]
    assert strengths == sorted(strengths) and strengths[0] > 8.0, strengths  # -3 dB: 6.6 dB detects
    assert all(b - a > 3 for a, b in zip(strengths, strengths[1:])), strengths


def test_noise_alone_gives_a_line_at_the_floor_and_no_useful_esn0():
    strengths = []
    for seed in range(12):
        figures = spectrum.estimate(noise_only(seed), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
        assert not figures.line.detected and figures.line.threshold_db == spectrum.line_threshold_db(9, 65536)
        assert figures.band.esn0_db is None or figures.band.esn0_db < -15, figures.band
        strengths.append(figures.line.strength_db)
    # the largest of 65536 bins, each the mean of 9 periodograms: 5.0 dB over the median typically
    assert 4.5 < np.mean(strengths) < 5.6 and max(strengths) < spectrum.line_threshold_db(9, 65536), strengths


@pytest.mark.parametrize("blocks", [1, 2, 9, 36, 366])
def test_line_threshold_matches_scipy_gamma(blocks):
    bins = 65536
    expected = gamma.isf(spectrum.LINE_FALSE_ALARM / bins, a=blocks, scale=1 / blocks) / gamma.median(a=blocks, scale=1 / blocks)
    assert spectrum.line_threshold_db(blocks, bins) == pytest.approx(10 * np.log10(expected), abs=0.01)


def test_noise_line_of_short_windows_follows_the_model():
    # 0.05 s: one block of 65536, no averaging: the largest bin is typically 12.0 dB over the median
    strengths = [spectrum.spectral_line(noise_only(seed, seconds=0.05), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
                 for seed in range(20, 28)]
    assert all(line.blocks == 1 and not line.detected for line in strengths)
    assert 11.0 < np.mean([line.strength_db for line in strengths]) < 13.5


def test_a_sample_rate_without_noise_margins_gives_no_esn0_but_still_a_line():
    iq = received(6.0, 20e3, sample_rate_hz=1.2e6, seed=4)  # 1.2 MHz of signal in 1.2 Msps
    figures = spectrum.estimate(iq, 1.2e6, SYMBOL_RATE_HZ, ROLLOFF)
    assert figures.band.esn0_db is None and figures.band.noise_hz < 0.05 * SYMBOL_RATE_HZ
    assert figures.line.detected and abs(figures.line.cfo_hz - 20e3) < 20


def test_narrower_margins_still_measure():
    iq = received(6.0, -20e3, sample_rate_hz=1.92e6, seed=5)
    band = spectrum.estimate(iq, 1.92e6, SYMBOL_RATE_HZ, ROLLOFF).band
    assert abs(band.esn0_db - 6.0) < 0.7 and band.noise_hz > 0.3e6


def test_8psk_line_at_8_times_the_offset():
    iq = received(12.0, 15e3, modcod="8psk-3/5", seed=6)
    line = spectrum.spectral_line(iq, 2.4e6, SYMBOL_RATE_HZ, ROLLOFF, order=spectrum.line_order(3))
    assert line.order == 8 and line.detected and abs(line.cfo_hz - 15e3) < 20


def test_scale_and_dc_do_not_change_the_figures():
    iq = received(3.0, 20e3, seed=7)
    base = spectrum.estimate(iq, 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
    other = spectrum.estimate(iq * np.float32(0.01) + np.complex64(0.002 + 0.001j), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
    assert abs(other.band.esn0_db - base.band.esn0_db) < 0.05  # a DC offset as strong as the signal is removed
    assert abs(other.line.strength_db - base.line.strength_db) < 0.05 and abs(other.line.cfo_hz - base.line.cfo_hz) < 1


def test_welch_psd_matches_scipy():
    iq = received(6.0, 20e3, seed=8, seconds=0.02)
    freqs, psd = spectrum.welch_psd(iq, 2.4e6, 1024)
    ref_f, ref_psd = welch(iq, fs=2.4e6, window="hann", nperseg=1024, noverlap=512, detrend=False,
                           return_onesided=False, scaling="density")
    assert np.allclose(freqs, np.fft.fftshift(ref_f))
    # scipy's periodic Hann ("hann", sym=False) vs numpy's symmetric one: 0.1% apart at 1024 points
    assert np.allclose(psd, np.fft.fftshift(ref_psd), rtol=0.02, atol=1e-3 * psd.max())
    assert np.sum(psd) * 2.4e6 / 1024 == pytest.approx(np.mean(np.abs(iq) ** 2), rel=0.02)


def test_too_few_samples_is_a_value_error():
    with pytest.raises(ValueError):
        spectrum.spectral_line(np.zeros(100, np.complex64), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
    with pytest.raises(ValueError):
        spectrum.band_esn0(np.zeros(100, np.complex64), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)


def test_silence_gives_no_line_and_no_esn0():
    figures = spectrum.estimate(np.zeros(50_000, np.complex64), 2.4e6, SYMBOL_RATE_HZ, ROLLOFF)
    assert figures.line.strength_db == 0.0 and not figures.line.detected and figures.band.esn0_db is None
