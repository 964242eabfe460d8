"""Streaming channel model and RTL-SDR sample-format helpers.

``Channel.process`` applies, in this order (each stage documented at its code):

1. sample-clock offset: resampling by ``ratio = 1 + clock_ppm * 1e-6`` output samples per input
   sample (the receiver ADC runs ``clock_ppm`` fast), 32-tap Kaiser-windowed sinc evaluated at
   the exact fractional position (error < -50 dB for |f| < 0.35 cycles/sample);
1b. blockage: bursts of ``blank_s`` during which the signal is absent (an obstruction, a passing
   truck, heavy rain), a fraction ``blank_fraction`` of the time: exponential gaps of mean
   ``blank_s * (1 - f) / f`` between them, drawn from their own generator on the absolute output
   timeline; the noise and everything after the signal stays;
2. carrier offset and linear drift, phase 2*pi*(cfo_hz*t + cfo_drift_hz_per_s*t^2/2) on the
   absolute output sample time t = n/fs (continuous across chunks);
3. Wiener phase noise, increments N(0, 2*pi*linewidth/fs) per sample (Mengali & D'Andrea 2.4);
4. interference: another signal received by the same front end (e.g. a real LTE capture), given
   at the output sample rate, normalised to unit power and added at ``interference_db`` relative
   to the unit-power signal; looped, indexed by absolute output sample;
5. I/Q imbalance: I' = I, Q' = g*(Q*cos(phi) - I*sin(phi)), g = 10^(iq_gain_db/20);
6. DC offset;
7. AWGN of power ``sps / 10^(esn0_db/10)`` per sample, i.e. defined over the whole sample
   bandwidth for a unit-power input (Es/N0 = sps * P_signal / P_noise).

Determinism: stages 1, 2 and 4-6 depend only on absolute sample indices; stages 1b, 3 and 7 draw
from their own generators (spawned from ``seed``) one value per output sample in order, so the
same seed gives the same output for any chunking (NumPy's ``standard_normal`` consumes the bit
stream per value; the chunking test checks this).
"""

from __future__ import annotations

import numpy as np

from chaincast.sdr.interp import fir_interp, last_computable, windowed_sinc_table

_RESAMPLER_TAPS = 32
_RESAMPLER_OVERSAMPLE = 512


class Channel:
    """Streaming impairment model; see the module docstring. iq complex64[n] -> complex64[m]."""

    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, esn0_db: float | None, cfo_hz: float = 0.0,
                 cfo_drift_hz_per_s: float = 0.0, clock_ppm: float = 0.0, phase_noise_linewidth_hz: float = 0.0,
                 iq_gain_db: float = 0.0, iq_phase_deg: float = 0.0, dc_offset: complex = 0j, seed: int = 0,
                 interference: np.ndarray | None = None, interference_db: float = -12.0,
                 blank_fraction: float = 0.0, blank_s: float = 0.02):
        self.sample_rate_hz = float(sample_rate_hz)
        self.symbol_rate_hz = float(symbol_rate_hz)
        self.esn0_db = esn0_db
        self.cfo_hz = float(cfo_hz)
        self.cfo_drift_hz_per_s = float(cfo_drift_hz_per_s)
        self.clock_ppm = float(clock_ppm)
        self.phase_noise_linewidth_hz = float(phase_noise_linewidth_hz)
        self.iq_gain = 10.0 ** (float(iq_gain_db) / 20.0)
        self.iq_phase_rad = np.deg2rad(float(iq_phase_deg))
        self.dc_offset = complex(dc_offset)
        sps = self.sample_rate_hz / self.symbol_rate_hz
        self.noise_power = 0.0 if esn0_db is None else sps / 10.0 ** (float(esn0_db) / 10.0)
        self.interference = None
        self.interference_power = 0.0
        if interference is not None and np.size(interference):
            x = np.asarray(interference, dtype=np.complex128).reshape(-1)
            x = x - x.mean()
            power = float(np.mean(np.abs(x) ** 2))
            if power > 0:
                self.interference_power = 10.0 ** (float(interference_db) / 10.0)
                self.interference = (x * np.sqrt(self.interference_power / power)).astype(np.complex64)
        pn_ss, noise_ss, blank_ss = np.random.SeedSequence(seed).spawn(3)  # the first two as before blanking existed
        self._pn_rng = np.random.default_rng(pn_ss)
        self._noise_rng = np.random.default_rng(noise_ss)
        if not 0.0 <= blank_fraction < 1.0 or blank_s <= 0:
            raise ValueError("blank_fraction must be in [0, 1) and blank_s positive")
        self.blank_fraction = float(blank_fraction)
        self._blank_len = int(round(blank_s * self.sample_rate_hz))
        self._blank_rng = np.random.default_rng(blank_ss)
        self._bursts: list[tuple[int, int]] = []  # (start, end) output samples, not yet wholly passed
        self._next_burst = self._burst_gap()
        self._step = 1.0 / (1.0 + self.clock_ppm * 1e-6)  # input samples per output sample
        self._offset = _RESAMPLER_TAPS / 2.0  # centre the sinc: y[m] = x(m * step)
        self._table = windowed_sinc_table(_RESAMPLER_TAPS, _RESAMPLER_OVERSAMPLE)
        self._hist = np.zeros(0, dtype=np.complex64)
        self._n_in = 0
        self._n_out = 0
        self._pn_phase = 0.0

    def _resample(self, iq: np.ndarray, final: bool) -> np.ndarray:
        if self.clock_ppm == 0.0:
            return iq
        buf = np.concatenate([self._hist, iq])
        buf_start = self._n_in - self._hist.size
        self._n_in += iq.size
        if final:  # input ends here: samples past the end count as zero
            m1 = int(np.floor((self._n_in - 1) / self._step)) + 1
        else:
            m1 = last_computable(self._n_in, self._step, self._offset)
        out = fir_interp(buf, buf_start, self._n_out, m1, self._step, self._offset, self._table,
                         _RESAMPLER_OVERSAMPLE, _RESAMPLER_TAPS)
        keep = min(buf.size, _RESAMPLER_TAPS + 2)
        self._hist = buf[buf.size - keep:].copy()
        return out

    def _burst_gap(self) -> int:
        if self.blank_fraction == 0.0:
            return 2**62
        mean = self._blank_len * (1.0 - self.blank_fraction) / self.blank_fraction
        return int(self._blank_rng.exponential(mean))

    def _blocked(self, n0: int, n: int) -> np.ndarray:
        """bool[n]: output samples n0 .. n0+n-1 that fall in a blockage burst."""
        while self._next_burst < n0 + n:
            self._bursts.append((self._next_burst, self._next_burst + self._blank_len))
            self._next_burst += self._blank_len + self._burst_gap()
        mask = np.zeros(n, bool)
        for start, end in self._bursts:
            mask[max(start - n0, 0):max(min(end - n0, n), 0)] = True
        self._bursts = [(s, e) for s, e in self._bursts if e > n0 + n]
        return mask

    def process(self, iq: np.ndarray, _final: bool = False) -> np.ndarray:
        """iq complex64[n] -> complex64[m]; m == n without clock offset, else about n*ratio."""
        x = self._resample(np.asarray(iq, dtype=np.complex64).reshape(-1), _final)
        n0 = self._n_out
        n = x.size
        self._n_out += n
        if n == 0:
            return np.zeros(0, dtype=np.complex64)
        if self.blank_fraction:
            x = np.where(self._blocked(n0, n), np.complex64(0), x)
        t = (n0 + np.arange(n, dtype=np.float64)) / self.sample_rate_hz
        phase = 2 * np.pi * (self.cfo_hz * t + 0.5 * self.cfo_drift_hz_per_s * t * t)
        if self.phase_noise_linewidth_hz > 0:
            # Wiener process: theta[n] = theta[n-1] + N(0, 2 pi linewidth / fs)
            inc = self._pn_rng.standard_normal(n) * np.sqrt(2 * np.pi * self.phase_noise_linewidth_hz / self.sample_rate_hz)
            pn = self._pn_phase + np.cumsum(inc)
            self._pn_phase = float(pn[-1])
            phase = phase + pn
        y = x.astype(np.complex128) * np.exp(1j * phase)
        if self.interference is not None:
            y = y + self.interference[(n0 + np.arange(n)) % self.interference.size]
        if self.iq_gain != 1.0 or self.iq_phase_rad != 0.0:
            i, q = y.real, y.imag
            y = i + 1j * (self.iq_gain * (q * np.cos(self.iq_phase_rad) - i * np.sin(self.iq_phase_rad)))
        y = y + self.dc_offset
        if self.noise_power > 0:
            w = self._noise_rng.standard_normal(2 * n).reshape(n, 2)
            y = y + np.sqrt(self.noise_power / 2) * (w[:, 0] + 1j * w[:, 1])
        return y.astype(np.complex64)

    def flush(self) -> np.ndarray:
        """Emit the resampler's remaining output (input treated as ending here)."""
        return self.process(np.zeros(0, dtype=np.complex64), _final=True)

    def noise(self, n: int) -> np.ndarray:
        """Pass ``n`` samples of silence (zero input) through the channel: complex64[~n]."""
        return self.process(np.zeros(int(n), dtype=np.complex64))


def quantize_cu8(iq: np.ndarray, rms_lsb: float = 40.0) -> np.ndarray:
    """RTL-SDR style 8-bit quantisation: complex[n] -> uint8[2n] interleaved I, Q.

    A sample of value x maps to code floor(127.5 + rms_lsb*x + 0.5) clipped to 0..255 (mid-rise:
    zero lies between codes 127 and 128), so a unit-RMS complex input has a complex RMS of
    ``rms_lsb`` LSB (``rms_lsb/sqrt(2)`` per component). Clipping at 0 and 255 like the real ADC.
    """
    iq = np.asarray(iq).reshape(-1)
    out = np.empty(2 * iq.size, dtype=np.float64)
    out[0::2] = iq.real
    out[1::2] = iq.imag
    return np.clip(np.floor(127.5 + rms_lsb * out + 0.5), 0, 255).astype(np.uint8)


def cu8_to_complex(raw: np.ndarray) -> np.ndarray:
    """uint8[2n] interleaved I, Q -> complex64[n], (x - 127.5) / 127.5."""
    r = np.array(raw, dtype=np.float32).reshape(-1)  # a copy: interleaved I, Q floats are complex64's layout
    if r.size % 2:
        raise ValueError(f"cu8 samples are byte pairs; got {r.size} bytes")
    r -= np.float32(127.5)
    r /= np.float32(127.5)
    return r.view(np.complex64)


def complex_to_cf32_bytes(iq: np.ndarray) -> bytes:
    """complex[n] -> little-endian interleaved float32 I, Q bytes (GNU Radio / SigMF cf32_le)."""
    return np.asarray(iq, dtype="<c8").tobytes()


def cf32_bytes_to_complex(raw: bytes) -> np.ndarray:
    """cf32_le bytes -> complex64[n]."""
    return np.frombuffer(raw, dtype="<c8").astype(np.complex64)
