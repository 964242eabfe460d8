"""Signal figures from the spectrum alone, before any frame decodes: what a person pointing a dish
watches.

Two estimators on a window of complex baseband samples (``complex64[n]``, any scale: a cu8 input
converted by ``chaincast.sdr.channel.cu8_to_complex`` or float samples alike):

* ``spectral_line``: the PSK spectral line. Raising M-PSK symbols to the M-th power removes the
  modulation (QPSK: ((+-1 +-1j)/sqrt(2))^4 = -1; the pi/2-BPSK header and the pilots of every
  chaincast frame also map to -1), so after an RRC matched filter at the symbol rate the
  spectrum of y^M holds a line at M times the carrier offset (Mengali & D'Andrea, "Synchronization
  Techniques for Digital Receivers", ch. 3.5). Its height over the noise floor grows with the
  signal-to-noise ratio and with the window's length; it shows a signal too weak for any frame
  to decode, which is what a dish being moved needs. Reported: the peak's height over the
  median of the bins around it (the floor of y^M is not flat), in dB; the height noise alone
  reaches once in 10^4 windows (``line_threshold_db``: the line is detected above it); and where
  the peak is (divided by M: the carrier offset, within +-fs/(2M)).

* ``band_esn0``: Es/N0 from the power spectral density (Welch, IEEE Trans. Audio Electroacoust.
  AU-15, 1967: Hann segments, 50% overlap, periodograms averaged). A
  signal of symbol rate Rs and roll-off a occupies B = Rs (1 + a) around its carrier; whatever the
  sample rate gives beyond it is noise alone (a 2.4 Msps capture of 1 Mbaud: 1.2 MHz of noise-only
  margins). The noise density N0 is the mean PSD of those margins; the signal power is what the
  band holds above N0 times its width:

      Es/N0 = (P_band - N0 * B_band) / (N0 * Rs)

  (Es = S / Rs: the power S of a signal of Rs symbols/s carries Es per symbol). The band is
  centred on a given carrier offset (``spectral_line``'s estimate) or, without one, where a box of
  width B holds the most power. ``esn0_db`` is None when the margins are too narrow to measure N0
  (the sample rate barely above B) or when the band holds no power above the noise.

``estimate`` runs both on one window, centring the band on the line when the line stands out.
Units are in the names: Hz, samples/s, dB. Pure computation: numpy arrays in, frozen dataclasses
out.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from chaincast.sdr.fir import fir_real_taps
from chaincast.sdr.rrc import matched_filter_taps

LINE_FFT = 1 << 16  # samples per coherent block of y^M (27 ms at 2.4 Msps: bins of 36.6 Hz, /4 = 9.2 Hz)
LINE_ZERO_PAD = 2  # FFT length / block length: the line's height varies by < 0.5 dB with where it falls
LINE_MF_SPAN_SYMBOLS = 8
FLOOR_SEGMENTS = 64  # stretches of the y^M spectrum with a median each: the floor follows its shape
PSD_FFT = 2048  # Welch segment (1.17 kHz bins at 2.4 Msps)
MIN_SAMPLES = 1024
LINE_FALSE_ALARM = 1e-4
"""Chance that noise alone makes a window's line count as detected (``line_threshold_db``)."""
EDGE_FRACTION = 0.05  # of the sample rate left out at each end: a receiver's anti-alias filter rolls off there
GUARD_SYMBOL_RATE = 0.03  # beyond B/2 still counted in the band: the pulse's truncation and the Welch window's leakage
MIN_NOISE_SYMBOL_RATE = 0.05  # noise-only bandwidth, in symbol rates, needed to measure N0
MIN_NOISE_BINS = 8


@dataclass(frozen=True)
class SpectralLine:
    """The strongest line of the spectrum of y^order (y: the matched-filtered input).

    ``strength_db``: the peak bin of the block-averaged power spectrum over the floor around it
    (the median of the bins nearby), in dB; noise alone peaks at about 5 dB for 0.25 s at 2.4 Msps
    (9 blocks averaged), 12 dB for one block: see ``line_threshold_db``;
    ``frequency_hz``: the peak's frequency in that spectrum, in Hz, in [-fs/2, fs/2);
    ``cfo_hz``: ``frequency_hz / order``, the carrier offset estimate in Hz, within +-fs/(2 order);
    ``blocks``: coherent blocks averaged; ``threshold_db``: the strength noise alone exceeds with
    probability ``LINE_FALSE_ALARM`` for this many blocks and bins."""

    strength_db: float
    frequency_hz: float
    cfo_hz: float
    order: int
    blocks: int
    threshold_db: float

    @property
    def detected(self) -> bool:
        return self.strength_db >= self.threshold_db


@dataclass(frozen=True)
class BandEsn0:
    """Es/N0 from the power spectral density.

    ``esn0_db``: None when not measurable (``noise_hz`` under the minimum: the sample rate leaves
    no noise-only margin beside the band) or when the band holds no power above the noise;
    ``centre_hz``: the band's centre used, in Hz (the carrier offset);
    ``n0_per_hz``: the noise density, in input units squared per Hz (0.0 when not measured);
    ``signal_power``: the band's power above the noise, in input units squared (may be negative
    for noise alone);
    ``noise_hz``: the noise-only bandwidth N0 was measured over, in Hz."""

    esn0_db: float | None
    centre_hz: float
    n0_per_hz: float
    signal_power: float
    noise_hz: float


@dataclass(frozen=True)
class SpectrumEstimate:
    line: SpectralLine
    band: BandEsn0


def line_order(bits_per_symbol: int) -> int:
    """The power that removes M-PSK modulation: M = 2^bits_per_symbol (QPSK 4, 8PSK 8)."""
    return 1 << int(bits_per_symbol)


def _as_samples(iq: np.ndarray) -> np.ndarray:
    x = np.asarray(iq).reshape(-1)
    if x.size < MIN_SAMPLES:
        raise ValueError(f"at least {MIN_SAMPLES} samples are needed, got {x.size}")
    return x.astype(np.complex64, copy=False)


def spectral_line(iq: np.ndarray, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, order: int = 4,
                  fft_size: int = LINE_FFT) -> SpectralLine:
    """The PSK spectral line of ``iq`` (complex64[n], n >= MIN_SAMPLES) sampled at
    ``sample_rate_hz`` (samples/s), for a signal of ``symbol_rate_hz`` (baud) and RRC ``rolloff``.

    The mean is removed (a receiver's DC offset would put a line at 0 Hz), the samples go through
    the RRC matched filter, are raised to ``order`` (4 for QPSK, 8 for 8PSK), cut into blocks of
    ``fft_size`` samples (fewer if the window is shorter), Hann-windowed, zero-padded to
    ``LINE_ZERO_PAD`` times, and their power spectra averaged; each bin is divided by the floor
    around it (``_local_floor``) and the largest ratio is the line. Its frequency is refined by
    quadratic interpolation on the log spectrum."""
    x = _as_samples(iq)
    fs = float(sample_rate_hz)
    sps = fs / float(symbol_rate_hz)
    taps = matched_filter_taps(sps, rolloff, LINE_MF_SPAN_SYMBOLS)
    y = fir_real_taps(x - x.mean(), taps)
    if y.size < 64:
        raise ValueError(f"{x.size} samples are too few for a matched filter of {taps.size} taps")
    z = y.astype(np.complex128) ** int(order)
    block = min(int(fft_size), 1 << int(math.log2(z.size)))
    blocks = z.size // block
    window = np.hanning(block)
    nfft = LINE_ZERO_PAD * block
    spectrum = np.zeros(nfft)
    for k in range(blocks):
        spectrum += np.abs(np.fft.fft(z[k * block:(k + 1) * block] * window, nfft)) ** 2
    spectrum /= blocks
    floor = _local_floor(spectrum)
    if not np.all(floor > 0.0):  # an input of constant samples
        return SpectralLine(0.0, 0.0, 0.0, int(order), blocks, line_threshold_db(blocks, block))
    relative = spectrum / floor
    peak = int(np.argmax(relative))
    left, centre, right = (np.log(max(spectrum[(peak + d) % nfft], 1e-300)) for d in (-1, 0, 1))
    curvature = left - 2 * centre + right
    shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    frequency = float((peak + shift) * fs / nfft)
    frequency = (frequency + fs / 2) % fs - fs / 2
    strength = 10 * math.log10(float(relative[peak]))
    return SpectralLine(round(strength, 3), frequency, frequency / order, int(order), blocks,
                        line_threshold_db(blocks, block))


def _erlang_tail(k: int, x: float) -> float:
    """P(X > x) for X the mean of ``k`` unit exponentials (Gamma of shape k, scale 1/k):
    exp(-k x) * sum_{j<k} (k x)^j / j!, summed in the log domain."""
    if x <= 0.0:
        return 1.0
    kx = k * x
    logs = [-kx + j * math.log(kx) - math.lgamma(j + 1) for j in range(k)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def _erlang_quantile(k: int, tail: float) -> float:
    low, high = 0.0, 1.0
    while _erlang_tail(k, high) > tail:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _erlang_tail(k, mid) > tail else (low, mid)
    return high


@functools.lru_cache(maxsize=64)
def line_threshold_db(blocks: int, bins: int, false_alarm: float = LINE_FALSE_ALARM) -> float:
    """The line strength (dB over the median floor) that noise alone exceeds with probability
    ``false_alarm`` in a spectrum of ``bins`` independent bins, each the mean of ``blocks``
    periodograms. Model: y^M of noise over a block is close to complex Gaussian (a sum of many
    terms), so each bin is exponential before averaging and Gamma(blocks, 1/blocks) after; the
    largest of ``bins`` exceeds x with probability about bins * P(bin > x). Checked on cu8 noise
    (tests/sdr/test_spectrum.py): 9 blocks of 65536, model 5.0 dB typical largest bin, measured mean
    5.2 dB over 40 windows; 1 block 12.0 / 12.3 dB; 36 blocks 2.7 / 2.8 dB. Thresholds: 9 blocks
    6.6 dB, 1 block 14.7 dB, 36 blocks 3.7 dB."""
    peak = _erlang_quantile(int(blocks), false_alarm / int(bins))
    median = _erlang_quantile(int(blocks), 0.5)
    return round(10 * math.log10(peak / median), 3)


def _local_floor(spectrum: np.ndarray) -> np.ndarray:
    """The noise floor under each bin: the median of each of ``FLOOR_SEGMENTS`` equal stretches of
    the (circular) spectrum, interpolated linearly between their centres. The spectrum of y^M is
    not flat (y's band convolved with itself M times), so one median for all bins would put the
    floor under the centre too low."""
    n = spectrum.size
    segments = FLOOR_SEGMENTS if n % FLOOR_SEGMENTS == 0 and n >= 64 * FLOOR_SEGMENTS else 1
    medians = np.median(spectrum.reshape(segments, -1), axis=1)
    width = n // segments
    centres = np.arange(segments) * width + (width - 1) / 2
    bins = np.arange(n)
    return np.interp(bins, np.concatenate([[centres[-1] - n], centres, [centres[0] + n]]),
                     np.concatenate([[medians[-1]], medians, [medians[0]]]))


def welch_psd(iq: np.ndarray, sample_rate_hz: float, segment: int = PSD_FFT) -> tuple[np.ndarray, np.ndarray]:
    """Power spectral density of ``iq`` (complex64[n]): (frequencies in Hz, ascending from -fs/2,
    float64[segment]; PSD in input units squared per Hz, float64[segment]). Hann segments of
    ``segment`` samples (fewer for a shorter input), 50% overlap; sum(psd) * fs / segment is the
    input's mean power."""
    x = _as_samples(iq)
    segment = min(int(segment), 1 << int(math.log2(x.size)))
    hop = segment // 2
    window = np.hanning(segment)
    frames = np.lib.stride_tricks.sliding_window_view(x, segment)[::hop]
    power = np.zeros(segment)
    for start in range(0, frames.shape[0], 256):  # bounded memory for long windows
        power += np.sum(np.abs(np.fft.fft(frames[start:start + 256] * window, axis=1)) ** 2, axis=0)
    psd = power / (frames.shape[0] * float(sample_rate_hz) * np.sum(window ** 2))
    freqs = np.fft.fftfreq(segment, d=1.0 / float(sample_rate_hz))
    return np.fft.fftshift(freqs), np.fft.fftshift(psd)


def band_esn0(iq: np.ndarray, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float,
              centre_hz: float | None = None, search_hz: float | None = None,
              segment: int = PSD_FFT) -> BandEsn0:
    """Es/N0 of a signal of ``symbol_rate_hz`` (baud) and RRC ``rolloff`` in ``iq`` (complex64[n]
    at ``sample_rate_hz``), from its power spectral density (see the module docstring).

    ``centre_hz``: the carrier offset in Hz, if known (e.g. ``spectral_line(...).cfo_hz``);
    otherwise the band is searched: the centre within +-``search_hz`` (default: wherever the band
    fits) where a box of width Rs (1 + rolloff) holds the most power. The band counted is B plus a
    guard of ``GUARD_SYMBOL_RATE`` Rs on each side; noise is measured beyond it, leaving out
    ``EDGE_FRACTION`` of the sample rate at each end (where a receiver's anti-alias filter rolls
    off). The window's mean is removed first (a receiver's DC offset is not signal)."""
    fs, rs = float(sample_rate_hz), float(symbol_rate_hz)
    x = _as_samples(iq)
    freqs, psd = welch_psd(x - x.mean(), fs, segment)
    df = fs / freqs.size
    occupied = rs * (1.0 + float(rolloff))
    if centre_hz is None:
        centre_hz = _strongest_band(freqs, psd, occupied, fs / 2 if search_hz is None else float(search_hz))
    half = occupied / 2 + GUARD_SYMBOL_RATE * rs
    offset = np.abs(freqs - centre_hz)
    in_band = offset <= half
    usable = np.abs(freqs) <= fs / 2 * (1.0 - 2 * EDGE_FRACTION)
    noise = usable & ~in_band
    noise_hz = float(np.count_nonzero(noise)) * df
    if np.count_nonzero(noise) < MIN_NOISE_BINS or noise_hz < MIN_NOISE_SYMBOL_RATE * rs:
        return BandEsn0(None, float(centre_hz), 0.0, 0.0, noise_hz)
    n0 = float(np.mean(psd[noise]))
    band_power = float(np.sum(psd[in_band])) * df
    signal = band_power - n0 * float(np.count_nonzero(in_band)) * df
    esn0 = 10 * math.log10(signal / (n0 * rs)) if signal > 0 and n0 > 0 else None
    return BandEsn0(None if esn0 is None else round(esn0, 3), float(centre_hz), n0, signal, noise_hz)


def _strongest_band(freqs: np.ndarray, psd: np.ndarray, width_hz: float, search_hz: float) -> float:
    """Centre (Hz) within +-``search_hz`` of the ``width_hz`` box of bins holding the most power."""
    n = freqs.size
    df = freqs[1] - freqs[0]
    width = max(1, min(n, int(round(width_hz / df))))
    sums = np.convolve(psd, np.ones(width), mode="valid")  # sums[i]: bins i .. i + width - 1
    centres = freqs[:sums.size] + (width - 1) * df / 2
    allowed = np.abs(centres) <= search_hz + df / 2
    if not allowed.any():
        return 0.0
    return float(centres[np.flatnonzero(allowed)[np.argmax(sums[allowed])]])


def estimate(iq: np.ndarray, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float,
             order: int = 4) -> SpectrumEstimate:
    """Both figures for one window (complex64[n] at ``sample_rate_hz``): the band is centred on the
    line's carrier offset when the line is detected (``SpectralLine.detected``), searched otherwise."""
    line = spectral_line(iq, sample_rate_hz, symbol_rate_hz, rolloff, order)
    band = band_esn0(iq, sample_rate_hz, symbol_rate_hz, rolloff, centre_hz=line.cfo_hz if line.detected else None)
    return SpectrumEstimate(line, band)
