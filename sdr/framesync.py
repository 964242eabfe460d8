"""Frame sync on the symbol stream: where PL frames start.

* SOF search: differential correlation with the SOF (insensitive to the residual carrier
  offset), normalised by sum |d| so the threshold does not depend on level; local maximum over
  +-32 symbols. Each peak over ``sof_threshold`` is a ``Candidate`` for the header stage (which
  checks the SOF coherently).
* Flywheel: frames are sent back to back, so after a frame its end is also a candidate
  (``predicted``), tried even if the SOF correlation stays under the search threshold, with a
  relaxed SOF check.
* Header-less frames: where the flywheel's candidate has no header because a blockage took it,
  the frame is cut out where the last frame's own symbol period puts it
  (``locate_headerless``) if its pilots are there and its header's power is not.

Symbol indices are absolute (counted from the start of the stream); positions are in input
samples (float64).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from chaincast.fec.kernels import kernel

from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import MODCODS

from chaincast.sdr import plframe as pf
from chaincast.sdr.frontend import SymbolChunk
from chaincast.sdr.header import HeaderDecoder, HeaderResult
from chaincast.sdr.tracking import FADED_AMPLITUDE, faded_segments, pilot_segments

MAX_FRAME_SYMBOLS = max(pf.frame_symbols(m.slots, True) for m in MODCODS.values())
PEAK_HALF_WINDOW = 32
KEEP_SYMBOLS = MAX_FRAME_SYMBOLS + 4 * PEAK_HALF_WINDOW + 256  # symbols a pending frame or search may still need
_HEADERLESS_MIN_PILOTS = 0.5  # share of present pilots a frame with a blocked header needs to be cut out
_BLOCKED_POWER = 0.5  # a blocked header's power against the present pilots' (10 dB: 0.09; present: ~1)


@dataclass
class SymbolBuffer:
    """The recovered symbol stream still needed (bounded: see ``FrameSync.trim``).

    symbols: complex64[n]; positions: float64[n] absolute input-sample position of each;
    nco_phase: float64[n] unwrapped NCO phase (rad) at each position; start: absolute symbol
    index of ``symbols[0]``."""

    symbols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.complex64))
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    nco_phase: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    start: int = 0

    @property
    def end(self) -> int:
        """Absolute index one past the last symbol."""
        return self.start + self.symbols.size

    def append(self, chunk: SymbolChunk) -> None:
        self.symbols = np.concatenate([self.symbols, chunk.symbols])
        self.positions = np.concatenate([self.positions, chunk.positions])
        self.nco_phase = np.concatenate([self.nco_phase, chunk.nco_phase])

    def frame(self, n: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Symbols n .. n+count-1 (absolute): (complex128[count], positions, NCO phases)."""
        i0 = n - self.start
        return (self.symbols[i0:i0 + count].astype(np.complex128), self.positions[i0:i0 + count],
                self.nco_phase[i0:i0 + count])

    def drop_before(self, index: int) -> None:
        cut = index - self.start
        if cut > 0:
            self.symbols = self.symbols[cut:].copy()
            self.positions = self.positions[cut:].copy()
            self.nco_phase = self.nco_phase[cut:].copy()
            self.start = index


@dataclass(frozen=True)
class Candidate:
    """A possible frame start: absolute index of its first SOF symbol. Found by the SOF search
    (``rho``: normalised differential correlation, >= the threshold) or ``predicted`` by the
    flywheel where the last frame ended (then ``rho`` is 0)."""

    start: int
    rho: float = 0.0
    predicted: bool = False


@dataclass
class LastFrame:
    """What the flywheel knows of the last frame, for a header-less successor.

    pls_value: the last frame with a decoded header's PLS (None: none yet);
    header_amplitude: that header's coherent amplitude; position: input sample of the last
    frame's first symbol; symbols: its length in symbols; period: input samples per symbol over
    the last frame with a header."""

    period: float
    pls_value: int | None = None
    header_amplitude: float = 0.0
    position: float = 0.0
    symbols: int = 0


@dataclass
class FrameSyncState:
    """search_next: next absolute candidate start to decide on; next_allowed: candidates before
    this index lie inside a frame already found; pending: candidates waiting for their symbols;
    headers: decoded headers of pending candidates, by start (decoded once)."""

    last_frame: LastFrame
    search_next: int = 0
    next_allowed: int = 0
    pending: list[Candidate] = field(default_factory=list)
    headers: dict[int, HeaderResult] = field(default_factory=dict)


class Headerless(enum.Enum):
    FOUND = "found"  # a frame whose header was blocked: cut it out at ``start``
    WAIT = "wait"  # its symbols are not all in yet
    ABSENT = "absent"  # no header-less frame there


@dataclass(frozen=True)
class HeaderlessPlacement:
    status: Headerless
    start: int = 0  # absolute symbol index (FOUND)


class FrameSync:
    """The SOF search, the flywheel and header-less frames; see the module docstring."""

    def __init__(self, samples_per_symbol: float, *, sof_threshold: float):
        self.sps = float(samples_per_symbol)
        self.sof_threshold = float(sof_threshold)
        sof_diff_ref = (pf.sof_symbols()[1:] * np.conj(pf.sof_symbols()[:-1])).astype(np.complex64)
        # pi/2-BPSK: each differential reference symbol is +-j, so correlating with it is a real
        # +-1 filter and a factor -j: |sum d[n+k] conj(r[k])| = |sum d[n+k] s[k]|
        signs = np.round(sof_diff_ref.imag)
        assert np.allclose(sof_diff_ref, 1j * signs, atol=1e-6)
        self._sof_diff_signs = signs.astype(np.float32)
        self.state = FrameSyncState(LastFrame(period=self.sps))

    def reset(self) -> None:
        self.state = FrameSyncState(LastFrame(period=self.sps))

    def restart_at(self, index: int) -> None:
        """Search afresh from absolute symbol ``index`` (the symbol stream restarts there)."""
        st = self.state
        st.search_next = st.next_allowed = index
        st.pending = []
        st.headers = {}

    def search(self, buf: SymbolBuffer) -> int:
        """Add the SOF correlation peaks decidable in ``buf`` to the pending candidates; returns
        how many were added."""
        st = self.state
        s0 = buf.start
        end = buf.end
        w = PEAK_HALF_WINDOW
        lo = max(st.search_next - w, s0)
        # rho(n) needs symbols n .. n+63; decisions need rho up to n + w
        hi_rho = end - pf.SOF_SYMBOLS  # last n with rho computable (inclusive)
        if hi_rho - lo < 2 * w + 1:
            return 0
        rho = sof_metric(buf.symbols[lo - s0:end - s0], self._sof_diff_signs)
        # decide for n in [search_next, hi_rho - w]
        first = max(st.search_next, lo)
        last = hi_rho - w
        if last < first:
            return 0
        idx = np.arange(first - lo, last - lo + 1)
        above = idx[rho[idx] >= self.sof_threshold]
        found = 0
        for i in above:
            win = rho[max(i - w, 0):i + w + 1]
            if rho[i] >= win.max() and (i == 0 or rho[i] > rho[max(i - w, 0):i].max(initial=0.0)):
                n_abs = lo + int(i)
                if n_abs >= st.next_allowed:
                    st.pending.append(Candidate(n_abs, float(rho[i])))
                    found += 1
        st.search_next = last + 1
        return found

    def frame_found(self, start: int, nsym: int) -> None:
        """A frame with a decoded header occupies symbols start .. start+nsym-1. Frames are sent
        back to back, so the next one most likely starts right after it: try its header even if
        the SOF correlation stays under the search threshold."""
        st = self.state
        st.next_allowed = start + nsym - 8
        st.pending.append(Candidate(start + nsym, predicted=True))

    def headerless_frame_found(self, start: int, nsym: int) -> None:
        """A header-less frame was cut out at ``start``, assumed ``nsym`` long. Its length is a
        guess (a stream may change MODCOD): the search stays open inside it, so a shorter frame's
        successors are still found by their SOF."""
        st = self.state
        st.next_allowed = start + 1
        st.pending.append(Candidate(start + nsym, predicted=True))

    def locate_headerless(self, buf: SymbolBuffer, headers: HeaderDecoder, afc_locked: bool) -> HeaderlessPlacement:
        """The flywheel's candidate whose header did not decode: is it a frame whose header is
        absent (faded) while at least ``_HEADERLESS_MIN_PILOTS`` of its pilots are present? It
        would have the last frame's PLS (a stream keeps its MODCOD; the link decoder's checks
        catch a wrong guess), whose header symbols ``headers`` knows. A header
        that is there but does not decode is not ours to guess, and the end of a transmission
        has no pilots."""
        last = self.state.last_frame
        if last.pls_value is None or not afc_locked:
            return HeaderlessPlacement(Headerless.ABSENT)
        pls = Pls.unpack(last.pls_value)
        if not pls.pilots:
            return HeaderlessPlacement(Headerless.ABSENT)
        # The timing loop may have slipped a symbol while it pulled in after the blockage, and
        # a header-less frame has no SOF to find its start: take the symbol nearest to where the
        # last frame's own symbol period puts it (its pilots, constant blocks, cannot tell).
        expected = last.position + last.symbols * last.period
        positions = buf.positions
        if positions.size < 2:
            return HeaderlessPlacement(Headerless.WAIT)
        i = int(np.searchsorted(positions, expected))
        i = min(max(i, 1), positions.size - 1)
        i -= int(expected - positions[i - 1] < positions[i] - expected)
        if abs(positions[i] - expected) > 0.5 * last.period:
            return HeaderlessPlacement(Headerless.ABSENT if i + 1 < positions.size else Headerless.WAIT)
        n = buf.start + i
        nsym = pf.frame_symbols(pls.slots, True)
        if n + nsym > buf.end:
            return HeaderlessPlacement(Headerless.WAIT)
        y, _, _ = buf.frame(n, nsym)
        segs = [(0, headers.known_symbols(last.pls_value))] + pilot_segments(pls)
        _, amps = faded_segments(y, segs, 0.0, header_decoded=False)
        present = amps >= FADED_AMPLITUDE * last.header_amplitude
        if present[0] or np.mean(present[1:]) < _HEADERLESS_MIN_PILOTS:
            return HeaderlessPlacement(Headerless.ABSENT)
        # Blocked means no power, not merely no match: a header one symbol off (the timing loop
        # jittering at low Es/N0) also fails to match, but it is there, and the SOF search finds
        # it (at 1.2 dB QPSK 1/2 this guess otherwise took 4 frames in 4000 off their real start).
        power = np.abs(y) ** 2
        pilot_power = np.mean([power[st:st + known.size].mean() for (st, known), there in zip(segs[1:], present[1:]) if there])
        if power[:pf.HEADER_SYMBOLS].mean() > _BLOCKED_POWER * pilot_power:
            return HeaderlessPlacement(Headerless.ABSENT)
        return HeaderlessPlacement(Headerless.FOUND, n)

    def trim(self, buf: SymbolBuffer) -> None:
        """Drop symbols no pending frame or future search can need (bounded memory)."""
        st = self.state
        keep_from = st.search_next - PEAK_HALF_WINDOW - 2
        if st.pending:
            keep_from = min(keep_from, min(p.start for p in st.pending))
        keep_from = max(keep_from, buf.end - KEEP_SYMBOLS, buf.start)
        if keep_from > buf.start:
            buf.drop_before(keep_from)
            st.pending = [p for p in st.pending if p.start >= keep_from]


def sof_metric_reference(seg: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Readable version of ``sof_metric``."""
    d = seg[1:].astype(np.complex128) * np.conj(seg[:-1])
    L = signs.size
    c = np.correlate(d, signs.astype(np.float64), mode="valid")
    norm = np.convolve(np.abs(d), np.ones(L), mode="valid")
    return np.where(norm > 0, np.abs(c) / np.where(norm > 0, norm, 1.0), 0.0)


@kernel(cache=True, nogil=True, fastmath=True)
def sof_metric(seg, signs):  # pragma: no cover - compiled
    """rho float64[n - L] for symbols ``seg`` complex64[n] and the SOF's differential signs
    ``signs`` float32[L] (+-1): with d[i] = seg[i+1] conj(seg[i]),
    rho[i] = |sum_k d[i+k] signs[k]| / sum_k |d[i+k]| (0 where the sum is 0), in [0, 1].
    The correlation runs tap by tap over all positions (vectorised, float32 like the symbols);
    the normaliser is a running sum in float64."""
    n_d = seg.size - 1
    L = signs.size
    m = n_d - L + 1
    if m <= 0:
        return np.zeros(0)
    d_re = np.empty(n_d, np.float32)
    d_im = np.empty(n_d, np.float32)
    for i in range(n_d):
        a = seg[i + 1]
        b = seg[i]
        d_re[i] = a.real * b.real + a.imag * b.imag
        d_im[i] = a.imag * b.real - a.real * b.imag
    c_re = np.zeros(m, np.float32)
    c_im = np.zeros(m, np.float32)
    for k in range(L):
        s = signs[k]
        for i in range(m):
            c_re[i] += s * d_re[i + k]
            c_im[i] += s * d_im[i + k]
    absd = np.empty(n_d)
    for i in range(n_d):
        absd[i] = np.sqrt(np.float64(d_re[i]) * d_re[i] + np.float64(d_im[i]) * d_im[i])
    rho = np.empty(m)
    total = 0.0
    for i in range(L - 1):
        total += absd[i]
    for i in range(m):
        total += absd[i + L - 1]
        mag = np.sqrt(np.float64(c_re[i]) * c_re[i] + np.float64(c_im[i]) * c_im[i])
        rho[i] = mag / total if total > 0 else 0.0
        total -= absd[i]
    return rho
