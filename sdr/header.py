"""PL header decoding: the SOF's coherent check and the PLS code word.

A candidate frame start's 192 header symbols (64 SOF + 128 PLS, ``plframe``) are checked
and decoded jointly with the residual carrier frequency:

* Residual frequency and phase from the SOF: peak of the zero-padded DFT of y conj(sof) (ML
  frequency estimate on a grid, Rife & Boorstyn 1974). The differential correlation angle is too
  noisy for this (its 63 products have half the SNR). A peak under the coherence threshold means
  no SOF there (``HeaderStatus.NO_SOF``).
* PLS: soft ML RM(1,7) decode (``plframe.decode_pls_batch``) under several frequency hypotheses
  around the SOF peak; rejected (``HeaderStatus.UNUSABLE``) if the metric is low, the modcod is not
  wanted, or the frame's length is unknown.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from chaincast.fec.wire.plheader import Pls

from chaincast.sdr import plframe as pf
from chaincast.sdr.modem import pi2_bpsk_carrier

_SOF_FFT = 512
_PLS_FREQ_OFFSETS = np.arange(-6, 7) / 2048.0  # cycles/symbol around the SOF's DFT peak
_PREDICTED_SOF_COHERENCE = 0.2  # where the last frame says the next one starts, the PLS decides


class HeaderStatus(enum.Enum):
    DECODED = "decoded"
    NO_SOF = "no_sof"  # the SOF does not match coherently: no frame starts here
    UNUSABLE = "unusable"  # a SOF, but its PLS did not decode, is not wanted, or is not known


@dataclass(frozen=True)
class HeaderResult:
    """status; for a decoded header also its PLS (``pls_value``), the decoder's confidence
    (``metric``, see ``plframe.decode_pls``) and the frequency hypothesis it decoded under
    (``f_sym``, cycles/symbol)."""

    status: HeaderStatus
    pls_value: int = 0
    metric: float = 0.0
    f_sym: float = 0.0

    @property
    def decoded(self) -> bool:
        return self.status is HeaderStatus.DECODED


class HeaderDecoder:
    """Decodes the PL header at a candidate frame start (stateless apart from a cache of the
    known header symbols per PLS)."""

    def __init__(self, *, sof_coherent_threshold: float, pls_threshold: float, modcod_ids: set[int] | None):
        self.sof_coherent_threshold = float(sof_coherent_threshold)
        self.pls_threshold = float(pls_threshold)
        self.modcod_ids = None if modcod_ids is None else set(modcod_ids)
        self._sof = pf.sof_symbols()
        self._pls_carrier = pi2_bpsk_carrier(pf.PLS_SYMBOLS, start=pf.SOF_SYMBOLS)
        self._known: dict[int, np.ndarray] = {}

    def known_symbols(self, pls_value: int) -> np.ndarray:
        """The header's 192 symbols (SOF + PLS) for ``pls_value``, complex[192] (cached)."""
        h = self._known.get(pls_value)
        if h is None:
            h = pf.header_symbols(pls_value)
            self._known[pls_value] = h
        return h

    def decode(self, y: np.ndarray, predicted: bool = False) -> HeaderResult:
        """Decode the header ``y: complex128[192]`` (symbols from the SOF's first on).
        ``predicted``: the flywheel's guess, where a frame is expected whether or not the SOF
        correlation showed it: the SOF check is relaxed and the PLS decides."""
        zs = y[:pf.SOF_SYMBOLS] * np.conj(self._sof)
        spec = np.fft.fft(zs, _SOF_FFT)
        k = int(np.argmax(np.abs(spec)))
        coh = abs(spec[k]) / np.sqrt(pf.SOF_SYMBOLS * max(float(np.sum(np.abs(zs) ** 2)), 1e-30))
        if coh < (_PREDICTED_SOF_COHERENCE if predicted else self.sof_coherent_threshold):
            return HeaderResult(HeaderStatus.NO_SOF)
        f0 = (k if k < _SOF_FFT // 2 else k - _SOF_FFT) / _SOF_FFT  # cycles per symbol
        # 64 symbols pin the frequency only to ~1/(2*64) cycle/symbol when timing is still settling,
        # which can rotate the far end of the PLS by 90 degrees and flip a RM(1,7) bit; so decode
        # the PLS under several frequency hypotheses around the SOF peak and keep the most likely
        # (joint ML over frequency and codeword on a grid).
        f_hyp = f0 + _PLS_FREQ_OFFSETS
        ks = np.arange(pf.SOF_SYMBOLS)
        kk = np.arange(pf.SOF_SYMBOLS, pf.HEADER_SYMBOLS)
        a = (zs[None, :] * np.exp(-2j * np.pi * f_hyp[:, None] * ks[None, :])).sum(axis=1)
        rot = np.exp(-1j * (np.angle(a)[:, None] + 2 * np.pi * f_hyp[:, None] * kk[None, :]))
        soft = np.real(y[None, pf.SOF_SYMBOLS:] * rot * np.conj(self._pls_carrier)[None, :])
        values, metrics = pf.decode_pls_batch(soft)
        best = int(np.argmax(metrics))
        value, metric, f_sym = int(values[best]), float(metrics[best]), float(f_hyp[best])
        if metric < self.pls_threshold:
            return HeaderResult(HeaderStatus.UNUSABLE)
        if self.modcod_ids is not None and (value >> 2) not in self.modcod_ids:
            return HeaderResult(HeaderStatus.UNUSABLE)
        if not Pls.unpack(value).known:  # its length is unknown: cannot cut the frame out
            return HeaderResult(HeaderStatus.UNUSABLE)
        return HeaderResult(HeaderStatus.DECODED, value, metric, f_sym)
