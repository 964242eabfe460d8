"""Coarse carrier acquisition: the carrier offset from the 4th-power line, and the scan.

Feed-forward: periodogram of x^4 (QPSK, pi/2-BPSK and the pilots all map to -1 under the 4th
power, so the whole frame gives a line at 4*cfo; Mengali & D'Andrea ch. 3.5) of the search
window's band over the last >= 6827 symbols, Hann window, averaged across blocks with a
forgetting factor, quadratic peak interpolation on the log spectrum. The estimate is adopted
only when the line stands out (noise-only stretches keep the last frequency).

Scan (``search_hz``) for offsets beyond the line's range: while no line and no frames are seen,
the 4th-power search window (+-max_cfo_hz) steps through centres 0, +-step, +-2 step...
covering +-search_hz, dwelling ``search_dwell_s`` on each; a line re-centres the window on the
signal, so drift is followed.

While frames steer the mixer (the AFC, data-aided and far more accurate than the line) the
acquisition only follows: its average starts afresh if they stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from chaincast.fec.kernels import kernel

_LINE_SYMBOLS = 6827  # symbols in the 4th-power periodogram (one 16384-sample block at 2.4 Msps, 1 Mbaud)
_LINE_OVER_FLOOR = 30.0  # the line's peak against the median of the searched bins


@dataclass
class AcquisitionState:
    """spectrum: the averaged 4th-power periodogram, float[line_blocks * block_samples] (None:
    start afresh); search_centre: Hz, the search window's centre; search_step: index into the
    scan's grid of the last centre visited; blocks_at_centre: blocks there without a line."""

    spectrum: np.ndarray | None = None
    search_centre: float = 0.0
    search_step: int = 0
    blocks_at_centre: int = 0


class CarrierAcquisition:
    """The coarse carrier offset estimator and its scan; see the module docstring.

    ``max_cfo_hz``: half-width of the 4th-power search window (the line's range);
    ``line_blocks``: input blocks (of ``block_samples`` DC-free samples) each estimate uses."""

    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, *, block_samples: int,
                 max_cfo_hz: float, cfo_forget: float, search_hz: float, search_dwell_s: float, max_blocks: int):
        self.sample_rate_hz = float(sample_rate_hz)
        self.max_cfo_hz = float(max_cfo_hz)
        self.cfo_forget = float(cfo_forget)
        sps = self.sample_rate_hz / float(symbol_rate_hz)
        step = 1.8 * self.max_cfo_hz
        n_side = int(np.ceil(max(float(search_hz) - self.max_cfo_hz, 0.0) / step))
        self.search_grid = [0.0] + [sign * k * step for k in range(1, n_side + 1) for sign in (1, -1)]  # Hz
        self.scanning = len(self.search_grid) > 1
        self.dwell_blocks = max(1, int(np.ceil(search_dwell_s * self.sample_rate_hz / block_samples)))
        # spectral search bins for the 4th-power line, over the last line_blocks blocks (a tone's
        # peak stands out of the noise floor in proportion to the span's duration, not its samples)
        self.line_blocks = min(max_blocks, int(np.ceil(_LINE_SYMBOLS * sps / block_samples)))
        f = np.fft.fftfreq(self.line_blocks * block_samples, d=1.0 / self.sample_rate_hz)
        self._search_mask = np.abs(f) <= 4 * self.max_cfo_hz
        # the floor the line must stand out of: the median of every 8th searched bin (as good an
        # estimate of a noise floor as all of them, at an eighth of the partitioning every block)
        self._floor_bins = np.flatnonzero(self._search_mask)[::8]
        # only the window's band goes into the 4th power: less noise at high sample rates, and
        # while scanning a carrier further out would alias its line into the window (4 f wraps)
        self._search_band = np.abs(f) <= self.max_cfo_hz + (1 + rolloff) * float(symbol_rate_hz) / 2
        # (two FFTs per block while unlocked: skipped where the band is most of the recording anyway,
        # e.g. 1.74 of 2.4 MHz, unless scanning)
        self._band_limit = self.scanning or self._search_band.mean() < 0.7
        self._hann = np.hanning(f.size).astype(np.float32)
        self.state = AcquisitionState()

    def reset(self) -> None:
        self.state = AcquisitionState()

    def follow(self, nco_hz: float) -> None:
        """Frames steer the mixer (at ``nco_hz``): drop the average, keep the window on them."""
        self.state.spectrum = None
        self.state.blocks_at_centre = 0
        if self.scanning:
            self.state.search_centre = nco_hz

    def update(self, recent: list[np.ndarray], receiving_frames: bool) -> float | None:
        """One more block: ``recent`` are the last ``line_blocks`` DC-free input blocks
        (complex64[block_samples] each, oldest first). Returns the carrier offset in Hz when the
        line stands out, else None (keep the last estimate). ``receiving_frames``: frames were
        found in the last blocks (the scan stays where it is)."""
        st = self.state
        x = np.concatenate(recent)
        # normalise first: the 4th power of a loud block would overflow float32 (and the
        # estimate must not depend on the input level anyway)
        power = mean_power(x)
        if not np.isfinite(power) or power <= 0.0:
            return None
        scale = np.float32(1.0 / np.sqrt(power))
        if st.search_centre or self._band_limit:
            x = x * scale
            scale = np.float32(1.0)
        if st.search_centre:  # the window's centre to 0 Hz (the magnitude spectrum needs no phase continuity)
            x = x * np.exp(-2j * np.pi * st.search_centre / self.sample_rate_hz
                           * np.arange(x.size)).astype(np.complex64)
        if self._band_limit:
            # scipy's FFT: complex64 in place, about 4x numpy's at 32768 points (this runs every block while unlocked)
            spectrum = scipy.fft.fft(x)
            spectrum[~self._search_band] = 0
            x = scipy.fft.ifft(spectrum, overwrite_x=True)
        line = scipy.fft.fft(windowed_fourth_power(x, scale, self._hann), overwrite_x=True)
        if st.spectrum is None:
            st.spectrum = np.zeros(line.size, np.float32)
            forget = np.float32(0.0)
        else:
            forget = np.float32(self.cfo_forget)
        k = accumulate_periodogram(line, st.spectrum, forget, self._search_mask)
        peak = float(st.spectrum[k]) if self._search_mask[k] else 0.0
        med = float(np.median(st.spectrum[self._floor_bins]))
        if med <= 0 or peak < _LINE_OVER_FLOOR * med:
            self._next_search_centre(receiving_frames)
            return None
        n = st.spectrum.size
        lm, l0, lp = (np.log(st.spectrum[(k + d) % n] + 1e-30) for d in (-1, 0, 1))
        den = lm - 2 * l0 + lp
        delta = 0.5 * (lm - lp) / den if den < 0 else 0.0
        kk = k if k < n // 2 else k - n
        cfo_hz = st.search_centre + float((kk + np.clip(delta, -0.5, 0.5)) * self.sample_rate_hz / n / 4.0)
        st.blocks_at_centre = 0
        if self.scanning:
            st.search_centre = cfo_hz
        return cfo_hz

    def _next_search_centre(self, receiving_frames: bool) -> None:
        """Scan: after a dwell without a line (and no frames), move the search window on."""
        if not self.scanning:
            return
        st = self.state
        st.blocks_at_centre += 1
        if st.blocks_at_centre < self.dwell_blocks or receiving_frames:
            return
        st.search_step = (st.search_step + 1) % len(self.search_grid)
        st.search_centre = self.search_grid[st.search_step]
        st.blocks_at_centre = 0
        st.spectrum = None


# The estimator's passes over each window (two blocks, 32768 samples, every block while unlocked),
# fused into single loops beside their NumPy expressions: scipy's FFT is then most of the update.

def mean_power_reference(x: np.ndarray) -> float:
    return float(np.mean(np.abs(x) ** 2, dtype=np.float64))


@kernel(cache=True, nogil=True)
def mean_power(x):  # pragma: no cover - compiled
    """mean |x|^2 of complex64[n] in float64 (nan when n is 0)."""
    total = 0.0
    for k in range(x.size):
        v = x[k]
        total += np.float64(v.real) * v.real + np.float64(v.imag) * v.imag
    return total / x.size if x.size else np.nan


def windowed_fourth_power_reference(x: np.ndarray, scale: np.float32, hann: np.ndarray) -> np.ndarray:
    x = x * scale
    x2 = x * x
    return x2 * x2 * hann


@kernel(cache=True, nogil=True)
def windowed_fourth_power(x, scale, hann):  # pragma: no cover - compiled
    """complex64[n]: (scale x)^4 hann, float32 arithmetic (``hann`` float32[n])."""
    out = np.empty(x.size, np.complex64)
    for k in range(x.size):
        v = x[k] * scale
        v2 = v * v
        out[k] = v2 * v2 * hann[k]
    return out


def accumulate_periodogram_reference(line, spectrum, forget, mask):
    spectrum[:] = forget * spectrum + (line.real ** 2 + line.imag ** 2)
    return int(np.argmax(np.where(mask, spectrum, 0.0)))


@kernel(cache=True, nogil=True)
def accumulate_periodogram(line, spectrum, forget, mask):  # pragma: no cover - compiled
    """spectrum (float32[n], in place) <- forget spectrum + |line|^2 (``line`` complex64[n]);
    returns the first index of its largest value where ``mask`` (bool[n]) is set (0 if none is
    above 0), the line's bin."""
    best = 0
    best_value = np.float32(0.0)
    for k in range(line.size):
        v = line[k]
        value = forget * spectrum[k] + (v.real * v.real + v.imag * v.imag)
        spectrum[k] = value
        if mask[k] and value > best_value:
            best = k
            best_value = value
    return best
