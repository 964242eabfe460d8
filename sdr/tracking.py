"""Carrier tracking over one PL frame: phase, frequency, amplitude, noise level and fades.

The frame's known symbols (the header, SOF+PLS, once the PLS is decoded, and each pilot block)
give a phase estimate at their centre (ML: arg sum y conj(known), Mengali & D'Andrea 5.7),
unwrapped against the running frequency estimate and interpolated linearly over the payload;
amplitude likewise; N0 from the residual on the known symbols. Then:

* frequency: the header's zero-padded DFT peak refined by its two halves, combined with the AFC's
  prior and the payload's own 4th-power estimate (``_payload_frequency``) to pick the first
  pilot's cycle (``_track_phase``);
* phase noise: a random-walk Kalman filter with a Rauch-Tung-Striebel smoother over the pilots'
  and the slots' phase estimates (``_smooth_phase``, ``_kalman_rts``), its walk variance learnt
  from the pilots (``updated_phase_walk``);
* frames without pilots: feed-forward M-th power tracking (Viterbi & Viterbi 1983);
* fades: pilots that lost the signal (a blockage) are left out and the symbols around them
  erased (``faded_symbols``);
* ``refine_phase_with_reference``: decision-aided re-estimation for the link decoder's retries.

Shapes: a frame is ``y: complex128[nsym]`` (symbols from the SOF's first on, already mixed
with one frequency throughout, see ``FrontEnd.as_mixed_at_one_frequency``); known segments are
``[(start symbol, known complex128[n])]`` with the header first; frequencies are in cycles per
symbol, phases in radians, times in symbols from the frame's start. The passes over a frame's
symbols (segment correlations, M-th power slot sums, slot rotations) are numba kernels in
``chaincast.sdr.trackkernels``, each beside its readable NumPy version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from chaincast.fec.kernels import kernel

from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import SLOT_SYMBOLS

from chaincast.sdr import plframe as pf
from chaincast.sdr.trackkernels import rotate_slots, segment_amplitudes, segment_phases, slot_means, slot_power_sums

_HDR_FFT = 2048
_SAME_FREQUENCY = 2e-5  # cycles/symbol: two frequency hypotheses closer than this are one
_GATE = 9.0  # a slot estimate further than 3 sigma from the prediction is an outlier
_MIN_NOISE_SYMBOLS = 256  # pilot symbols enough for the N0 estimate (+-0.3 dB at 1 sigma)
_WALK_FORGET = 0.2  # weight of each frame in the running phase-wander estimate
_AFC_JUMP_SIGMAS = 4.0  # a header this far from the AFC's frequency also gets tracked on its own
FADED_AMPLITUDE = 0.35  # a known segment under this share of the frame's strongest one is blocked

KnownSegment = tuple[int, np.ndarray]
"""(start symbol in the frame, known symbols complex128[n])."""


def pilot_segments(pls: Pls) -> list[KnownSegment]:
    """The frame's pilot blocks as known segments (none for a frame without pilots)."""
    pilot = np.full(pf.PILOT_BLOCK_SYMBOLS, pf.PILOT_SYMBOL, dtype=np.complex128)
    return [(int(st), pilot) for st in pf.pilot_block_starts(pls.slots, pls.pilots)]


def segment_arrays(segs: list[KnownSegment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Known segments as the kernels take them (``chaincast.sdr.trackkernels``): starts and
    lengths, int64[m], and the known symbols concatenated, complex128[sum of lengths]."""
    starts = np.array([st for st, _ in segs], np.int64)
    lengths = np.array([kn.size for _, kn in segs], np.int64)
    known = np.concatenate([kn for _, kn in segs]).astype(np.complex128, copy=False) if segs else np.zeros(0, np.complex128)
    return starts, lengths, known


def header_frequency(y: np.ndarray, header: np.ndarray) -> tuple[float, np.ndarray]:
    """Residual frequency on the 192 known header symbols, cycles/symbol, and the header's
    matched products complex128[192] with the DFT grid's frequency removed.

    Zero-padded DFT peak (grid 1/2048 cycle per symbol), then the phase difference of the two
    halves (no wrap: error < 1/4096)."""
    z = y[:pf.HEADER_SYMBOLS] * np.conj(header)
    spec = np.abs(np.fft.fft(z, _HDR_FFT))
    k = int(np.argmax(spec))
    f_sym = (k if k < _HDR_FFT // 2 else k - _HDR_FFT) / _HDR_FFT
    z = z * np.exp(-2j * np.pi * f_sym * np.arange(pf.HEADER_SYMBOLS))
    h = pf.HEADER_SYMBOLS // 2
    f_sym += float(np.angle(np.sum(z[h:]) * np.conj(np.sum(z[:h]))) / (2 * np.pi * h))
    return f_sym, z


def updated_phase_walk(walk_var: float, pilot_phases: np.ndarray, pilot_var: float) -> float:
    """The running estimate of how fast the oscillator's phase wanders (Wiener increment
    variance per symbol, rad^2) after one more frame's pilots (unwrapped phases, rad, float64[n];
    ``pilot_var`` the variance of each, rad^2).

    The pilots' second differences D have var = 2 q T + 6 var_pilot (T the pilot distance; a
    constant frequency cancels). Averaged over frames; the smoother then trusts the payload's
    slot estimates only as far as the phase can really move."""
    if pilot_phases.size < 4:
        return walk_var
    d = pilot_phases[2:] - 2 * pilot_phases[1:-1] + pilot_phases[:-2]
    period = pf.PILOT_PERIOD_SLOTS * SLOT_SYMBOLS + pf.PILOT_BLOCK_SYMBOLS
    q = max(float(np.mean(d * d)) - 6 * pilot_var, 0.0) / (2 * period)
    return (1 - _WALK_FORGET) * walk_var + _WALK_FORGET * q


@dataclass(frozen=True)
class FrameTrack:
    """One frame after carrier tracking.

    payload: complex64[slots*90], derotated, unit average energy, erased symbols set to 0.
    noise_var: N0 per symbol (Es = 1) from the residual on the known symbols.
    f_fine: the frame's residual frequency, cycles/symbol (on top of the mixer's).
    erased_fraction: share of the payload erased because its signal was absent.
    header_amplitude: the header's coherent amplitude (a frame with pilots whose header decoded;
        else None): the level a later header-less frame's pilots are judged against.
    phase_walk_var: the running phase-wander estimate after this frame, rad^2 per symbol.
    """

    payload: np.ndarray
    noise_var: float
    f_fine: float
    erased_fraction: float
    header_amplitude: float | None
    phase_walk_var: float


def track_frame(y: np.ndarray, header: np.ndarray, pls: Pls, *, headerless: bool, afc_locked: bool,
                afc_sigma_cycles: float, phase_walk_var: float) -> FrameTrack:
    """Track one frame ``y: complex128[nsym]`` with known header symbols ``header:
    complex128[192]`` (its own PLS's, or for a header-less frame the PLS it is assumed to have).

    ``afc_locked``: the mixer runs at the last frame's own estimate, so the residual is ~0 within
    ``afc_sigma_cycles`` (cycles/symbol, 1 sigma). ``phase_walk_var``: the phase-wander
    estimate before this frame (rad^2 per symbol)."""
    segs = [(0, header)] + pilot_segments(pls)
    f_sym, z = header_frequency(y, header)
    if headerless:  # the header is noise: the AFC's frequency (residual 0) it is
        f_sym = 0.0
    # A blockage (a truck, a tree) removes the signal for milliseconds: its pilots carry no
    # phase or amplitude, and its symbols are noise. Track on the other known segments only
    # and erase the blocked symbols, instead of letting the faded pilots' tiny amplitudes blow
    # the noise up by 20 dB and drag the whole frame's N0 estimate with it.
    erased = None
    header_amplitude = None
    if pls.pilots:
        faded, amps = faded_segments(y, segs, f_sym, header_decoded=not headerless)
        if not headerless:
            header_amplitude = float(amps[0])
        if faded.any():
            erased = faded_symbols(y, segs, faded)
            segs = [seg for seg, gone in zip(segs, faded) if not gone]
    # N0 from the known symbols' residual: the pilots' alone when they are enough, because a
    # burst's first header is still hit by the timing loop's pull-in
    noise_segs = segs[1:] if sum(kn.size for _, kn in segs[1:]) >= _MIN_NOISE_SYMBOLS else segs
    noise_idx = np.concatenate([np.arange(st, st + kn.size) for st, kn in noise_segs])
    noise_sym = np.concatenate([kn for _, kn in noise_segs])
    pay_idx = pf.payload_indices(pls.slots, pls.pilots)
    power = 2 ** pls.bits_per_symbol
    nh = pf.HEADER_SYMBOLS
    a2 = abs(np.mean(z)) ** 2
    n0_hdr = max(float(np.mean(np.abs(z) ** 2)) / max(a2, 1e-30) - 1.0, 1e-3)
    # the header's frequency variance: the Cramer-Rao bound for 192 symbols, x1.5 for the
    # DFT-grid estimator
    var_hdr = 1.5 * 6.0 * n0_hdr / ((2 * np.pi) ** 2 * nh * (nh * nh - 1))
    f_hyps = frequency_hypotheses(f_sym, var_hdr, afc_locked=afc_locked, afc_sigma_cycles=afc_sigma_cycles,
                                  n_segments=len(segs))
    best = None
    for f_init in f_hyps:
        priors = [(f_sym, np.sqrt(var_hdr))]
        if power == 4:  # the 8th power of 8PSK is too noisy at its working Es/N0 to help
            f_pay, var_pay = _payload_frequency(y, pay_idx, f_init, power)
            priors += [(f_pay, np.sqrt(var_pay))] if np.isfinite(var_pay) else []
        track = _track_phase(y, segs, f_init, priors)
        nv = float(np.mean(np.abs(track.g[noise_idx] - noise_sym) ** 2))
        if best is None or nv < best[0]:
            best = (nv, track)
    noise_var, track = best
    noise_var = max(noise_var, 1e-6)
    payload = track.g[pay_idx]
    if pls.pilots:
        known_vars = np.array([0.5 * noise_var / kn.size for _, kn in segs])
        phase_walk_var = updated_phase_walk(phase_walk_var, track.seg_phases[1:],
                                            0.5 * noise_var / pf.PILOT_BLOCK_SYMBOLS)
        payload = _smooth_phase(payload, pay_idx, power, track, known_vars, phase_walk_var)
    else:
        payload = _viterbi_viterbi(payload, power=power)
    erased_fraction = 0.0
    if erased is not None:
        gone = erased[pay_idx]
        payload[gone] = 0  # LLR 0
        erased_fraction = float(np.mean(gone))
    return FrameTrack(payload=payload.astype(np.complex64), noise_var=noise_var, f_fine=track.f_fine,
                      erased_fraction=erased_fraction, header_amplitude=header_amplitude,
                      phase_walk_var=phase_walk_var)


def frequency_hypotheses(f_header: float, var_header: float, *, afc_locked: bool, afc_sigma_cycles: float,
                         n_segments: int) -> list[float]:
    """Initial frequencies (cycles/symbol) to track a frame with; the one leaving the least
    residual on the known symbols wins.

    While frames keep arriving, the NCO runs at the last frame's own estimate (AFC), so the
    residual is ~0 within ``afc_sigma_cycles``; combine it with the header's estimate by inverse
    variances. Before lock, track with the header's frequency and, as a second hypothesis, with
    the coarse NCO's (residual 0): a header hit by timing acquisition can mis-estimate the
    frequency, and the wrong one shows as a large residual on the known symbols.
    The pilots fix the frequency only modulo one cycle per pilot period, so the cycle of the
    first pilot is chosen with the header's and the payload's own estimates (not the AFC's):
    a frame that slipped would otherwise hand its wrong frequency on to the next ones."""
    if afc_locked:
        var_afc = afc_sigma_cycles ** 2
        f_hyps = [f_header * var_afc / (var_afc + var_header)]
        if f_header * f_header > _AFC_JUMP_SIGMAS ** 2 * (var_afc + var_header):
            # the carrier jumped (an LNB mode hop, a spliced stream): the prior would hold the
            # tracker on the old frequency, and each failed frame would steer the NCO back there
            f_hyps.append(f_header)
    else:
        f_hyps = [f_header]
        if n_segments > 1 and abs(f_header) > _SAME_FREQUENCY:
            f_hyps.append(0.0)
    return f_hyps


def faded_segments(y: np.ndarray, segs: list, f_sym: float, header_decoded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(faded bool[len(segs)], amplitudes float[len(segs)])``: known segments whose coherent
    amplitude |sum y conj(known)| / n, with the header's frequency removed, is under
    ``FADED_AMPLITUDE`` of the strongest segment's. A header that decoded (segment 0) is never
    counted as faded. Present segments measure
    1 +- sqrt(N0 / 2n) (0.14 for 36 pilot symbols at Es/N0 -1.3 dB, the lowest MODCOD's
    threshold: 4 sigma above the cut), absent ones sqrt(N0 / n) (Rayleigh)."""
    amps = segment_amplitudes(np.ascontiguousarray(y, np.complex128), *segment_arrays(segs), float(f_sym))
    faded = amps < FADED_AMPLITUDE * amps.max()
    faded[0] &= not header_decoded
    # A blockage lasts milliseconds, several pilot periods (1.5 ms at 1 Mbaud): a lone faded
    # segment between two present ones is noise (at Es/N0 -1.3 dB a present pilot falls under the
    # cut with probability ~3e-5, which would cost a frame in ~1e-3), so it stays. At the frame's
    # ends a run may be cut short by the frame itself.
    inner = np.flatnonzero(faded[1:-1]) + 1
    lone = inner[~faded[inner - 1] & ~faded[inner + 1]]
    faded[lone] = False
    return faded, amps


def faded_symbols(y: np.ndarray, segs: list, faded: np.ndarray) -> np.ndarray:
    """bool[y.size]: the symbols of a frame where the signal was absent.

    Between two faded known segments everything is absent; between a present and a faded one the
    edge is the change point of |y|^2 (the split into two constant-power stretches with the least
    squared error), and a faded last segment is absent to the end of the frame."""
    out = np.zeros(y.size, np.bool_)
    power = np.abs(y) ** 2
    bounds = [(st, st + known.size) for st, known in segs] + [(y.size, y.size)]
    for i, (start, end) in enumerate(bounds[:-1]):
        if not faded[i]:
            continue
        out[start:end] = True
        if i > 0:  # (a faded header, segment 0, starts the frame)
            prev_end = bounds[i - 1][1]
            out[prev_end if faded[i - 1] else _change_point(power, prev_end, start):start] = True
        next_start = bounds[i + 1][0]
        if i + 1 == len(segs) or faded[i + 1]:
            out[end:next_start] = True
        else:
            out[end:_change_point(power, end, next_start)] = True
    return out


def _change_point(power: np.ndarray, a: int, b: int) -> int:
    """The k in [a, b] splitting power[a:b] into two stretches of constant mean with the least
    squared error (max of k (n - k) (mean1 - mean2)^2 / n)."""
    x = power[a:b]
    n = x.size
    if n < 2:
        return a
    c = np.concatenate([[0.0], np.cumsum(x)])
    k = np.arange(1, n)
    m1 = c[k] / k
    m2 = (c[n] - c[k]) / (n - k)
    return a + 1 + int(np.argmax(k * (n - k) * (m1 - m2) ** 2))


def _payload_frequency(y: np.ndarray, pay_idx: np.ndarray, f0: float, power: int) -> tuple[float, float]:
    """Frequency of a frame from its payload alone, around ``f0`` (cycles/symbol), and its variance.

    Non-data-aided: after derotating by ``f0``, the M-th power (4 for QPSK, 8 for 8PSK) strips the
    modulation; slot sums z_k (90 symbols) rotate by M 2 pi df dt from one slot to the next, and the
    angle of sum z_{k+1} conj(z_k) gives df (Kay's estimator on slot sums; range
    +-1/(2 M 90) cycles/symbol: +-1.4 kHz for QPSK at 1 Mbaud). Slot-to-slot differences make it
    immune to phase noise that moves little within a slot. The variance comes from the spread of
    the individual products' angles. QPSK at Es/N0 1 dB: ~20 Hz rms over a normal frame. Not used
    for 8PSK: at 5.5 dB the 8th power gives ~300 Hz rms with outliers that wrap.
    """
    nslots = pay_idx.size // SLOT_SYMBOLS
    if nslots < 3:
        return f0, np.inf
    # (y e^{-j 2 pi f0 t})^M summed over a slot's 90 consecutive symbols starting at t_s is
    # e^{-j 2 pi M f0 t_s} sum_k y[t_s + k]^M e^{-j 2 pi M f0 k}: one 90-point ramp for all slots
    used = nslots * SLOT_SYMBOLS
    starts = pay_idx[:used:SLOT_SYMBOLS].astype(np.float64)
    ramp = np.exp(-2j * np.pi * power * f0 * np.arange(SLOT_SYMBOLS))
    z, _ = slot_power_sums(np.ascontiguousarray(y, np.complex128), pay_idx, power, ramp)
    z *= np.exp(-2j * np.pi * power * f0 * starts)
    centres = starts + (SLOT_SYMBOLS - 1) / 2.0
    dt = float(np.mean(np.diff(centres)))
    prods = z[1:] * np.conj(z[:-1])
    total = np.sum(prods)
    if total == 0:
        return f0, np.inf
    angle = float(np.angle(total))
    spread = np.angle(prods * np.exp(-1j * angle))
    var_angle = float(np.mean(spread ** 2)) / prods.size
    scale = 2 * np.pi * power * dt
    return f0 + angle / scale, var_angle / scale ** 2


def _smooth_phase(p: np.ndarray, pay_idx: np.ndarray, power: int, track: "_Track", known_vars: np.ndarray,
                  walk_var_per_symbol: float) -> np.ndarray:
    """Re-estimate the carrier phase of every slot with a Kalman / Rauch-Tung-Striebel smoother.

    p: complex128[n] payload after pilot tracking (``track``: the phase it removed, linearly
    interpolated between the header's and pilots' estimates). The phase theta(t), less the frame's
    frequency ramp, is modelled as a random walk with ``walk_var_per_symbol`` (2 pi x Wiener
    linewidth / symbol rate: the oscillator's phase noise, learnt from the pilots). Observations:
    each known segment's phase (variance ``known_vars``: N0 / 2 per known symbol), and per slot the
    interpolated phase plus arg(sum p^M exp(-j M pi/4)) / M (points at pi/4 + k 2pi/M), taken in
    +-pi/M around the interpolation, with the variance of that estimator measured on the frame,
    var(q) / (2 |mean q|^2 90 M^2); a slot further than 3 sigma from the prediction is skipped as
    an outlier. The smoothed phase at each slot replaces the interpolated one.

    On a clean oscillator this is a fit through all pilots and all slots (the interpolation alone
    carries each pilot's own noise, ~4.4 degrees at Es/N0 1 dB); under 20 Hz of Wiener phase noise
    at 1 Mbaud (~25 degrees rms between pilots) it follows the wander between pilots.
    """
    nslots = p.size // SLOT_SYMBOLS
    if nslots < 2:
        return p
    used = nslots * SLOT_SYMBOLS
    zs, energy = slot_power_sums(np.ascontiguousarray(p, np.complex128), np.arange(used), power,
                                 np.full(SLOT_SYMBOLS, np.exp(-1j * power * np.pi / 4)))
    strength = abs(np.sum(zs) / used) ** 2  # |mean q|^2, q = p^M exp(-j M pi/4)
    if strength <= 0:
        return p
    var_slot = max(energy / used - strength, 0.0) / (2 * strength * SLOT_SYMBOLS * power * power)  # var(q)
    slot_times, slot_phases = slot_means(pay_idx, track.phase, SLOT_SYMBOLS)
    ramp = 2 * np.pi * track.f_fine
    interpolated = slot_phases - ramp * slot_times
    times = np.concatenate([track.seg_times, slot_times])
    values = np.concatenate([track.seg_phases - ramp * track.seg_times, interpolated + np.angle(zs) / power])
    variances = np.concatenate([known_vars, np.full(nslots, var_slot)])
    is_slot = np.concatenate([np.zeros(track.seg_times.size, np.bool_), np.ones(nslots, np.bool_)])
    order = np.argsort(times, kind="stable")
    smoothed = np.empty(times.size)
    smoothed[order] = _kalman_rts(times[order], values[order], variances[order], is_slot[order],
                                  float(walk_var_per_symbol), _GATE)
    correction = smoothed[track.seg_times.size:] - interpolated
    return rotate_slots(np.ascontiguousarray(p, np.complex128), correction, SLOT_SYMBOLS)


def refine_phase_with_reference(payload: np.ndarray, reference: np.ndarray, noise_var: float,
                                walk_var_per_symbol: float) -> np.ndarray:
    """Decision-aided phase re-estimation of a demodulated payload (complex[n], n a multiple of 90)
    against ``reference`` symbols (e.g. the decoder's tentative codeword, re-mapped).

    Per slot, arg sum y conj(ref) (data-aided: no M-th power noise, and most tentative decisions
    are right even when the decoder failed), then the same random-walk Kalman / RTS smoother as
    the demodulator's, with variance N0 / (2 * 90) per slot. Returns the re-rotated payload,
    complex64[n]. Used by the link decoder to retry frames that failed (a second pass of
    "turbo synchronisation"): at Es/N0 1.2 dB under 20 Hz of phase noise it recovers every
    failed QPSK 1/2 frame of a 200-frame run (14 of 14).
    """
    y = np.asarray(payload, np.complex128)
    nslots = y.size // SLOT_SYMBOLS
    if nslots < 1:
        return np.asarray(payload, np.complex64)
    used = nslots * SLOT_SYMBOLS
    z = np.sum((y[:used] * np.conj(reference[:used])).reshape(nslots, SLOT_SYMBOLS), axis=1)
    times = np.arange(nslots) * float(SLOT_SYMBOLS)
    variances = np.full(nslots, max(float(noise_var), 1e-6) / (2 * SLOT_SYMBOLS))
    phase = _kalman_rts(times, np.angle(z), variances, np.ones(nslots, np.bool_), float(walk_var_per_symbol), _GATE)
    out = y.copy()
    out[:nslots * SLOT_SYMBOLS] *= np.repeat(np.exp(-1j * phase), SLOT_SYMBOLS)
    return out.astype(np.complex64)


@kernel(cache=True, nogil=True)
def _kalman_rts(t, z, r, gated, walk_var, gate):  # pragma: no cover - compiled
    """Random-walk Kalman filter + Rauch-Tung-Striebel smoother: observations z (variance r) at
    times t (sorted); an observation with ``gated`` set is skipped when its innovation exceeds
    ``gate`` times its variance. Returns the smoothed state at each observation time."""
    m = t.size
    if m == 0:
        return np.empty(0)
    x_f = np.empty(m)
    p_f = np.empty(m)
    p_pred = np.empty(m)
    x = z[0]
    var = 1.0
    t_prev = t[0]
    for i in range(m):
        var += walk_var * (t[i] - t_prev) + 1e-12
        t_prev = t[i]
        p_pred[i] = var
        innovation = z[i] - x
        if not (gated[i] and innovation * innovation > gate * (var + r[i])):
            gain = var / (var + r[i])
            x += gain * innovation
            var *= 1.0 - gain
        x_f[i] = x
        p_f[i] = var
    x_s = x_f.copy()
    for i in range(m - 2, -1, -1):
        x_s[i] = x_f[i] + p_f[i] / p_pred[i + 1] * (x_s[i + 1] - x_f[i])  # prediction of i+1 = x_f[i]
    return x_s


def kalman_rts_reference(t, z, r, gated, walk_var, gate):
    """Readable version of ``_kalman_rts`` (the same arithmetic): float64[m] smoothed states for
    observations ``z`` (rad, float64[m]) of variance ``r`` at sorted times ``t`` (symbols)."""
    m = len(t)
    if m == 0:
        return np.empty(0)
    filtered, filtered_var, predicted_var = [], [], []
    x, var = float(z[0]), 1.0  # a vague prior on the first observation
    for i in range(m):
        var += walk_var * (t[i] - t[i - 1 if i else 0]) + 1e-12  # the random walk since the last one
        predicted_var.append(var)
        innovation = z[i] - x
        outlier = gated[i] and innovation * innovation > gate * (var + r[i])
        if not outlier:
            gain = var / (var + r[i])
            x += gain * innovation
            var *= 1.0 - gain
        filtered.append(x)
        filtered_var.append(var)
    smoothed = list(filtered)
    for i in range(m - 2, -1, -1):  # backwards: the prediction of i+1 from i is filtered[i]
        smoothed[i] = filtered[i] + filtered_var[i] / predicted_var[i + 1] * (smoothed[i + 1] - filtered[i])
    return np.array(smoothed, dtype=np.float64)


class _Track(NamedTuple):
    g: np.ndarray  # derotated, amplitude-normalised frame symbols, complex128[nsym]
    f_fine: float  # frequency over the frame, cycles/symbol (fit to the segment phases)
    seg_times: np.ndarray  # centre of each known segment, frame symbols, float64[len(segs)]
    seg_phases: np.ndarray  # their unwrapped phases, rad
    phase: np.ndarray  # the phase removed from each symbol (interpolated), rad, float64[nsym]


def _track_phase(y: np.ndarray, segs: list, f_init: float, priors: list[tuple[float, float]] = ()) -> _Track:
    """Phase/amplitude tracking over one frame from its known segments (header, pilot blocks).

    y: complex128[nsym] frame symbols; segs: [(start, known complex[n])]; f_init: cycles/symbol;
    priors: independent Gaussian estimates (centre, standard deviation) of the frame's frequency.
    Each segment gives the ML phase arg sum y conj(known) at its centre (Mengali & D'Andrea
    eq. 5.7.4) and an amplitude; phases are unwrapped against the running frequency, then
    linearly interpolated over the frame (extrapolated with the last segment's slope).

    The pilots fix the frequency only modulo one cycle per pilot distance: the first pilot is
    1554 symbols after the header's centre, so a frequency error beyond 1/(2 * 1554) cycle/symbol
    (322 Hz at 1 Mbaud; the header's own error is ~130 Hz rms at Es/N0 1.2 dB) would unwrap it a
    whole cycle off and ruin the frame. Its cycle is therefore chosen among the three nearest as
    the one whose implied frequency the ``priors`` make most likely (the header's estimate and the
    payload's, ``_payload_frequency``). After that the running frequency comes from
    pilot-to-pilot phase steps and no longer slips.
    Returns a ``_Track``.
    """
    centres = np.array([c for c, _ in priors], np.float64)
    sds = np.array([sd for _, sd in priors], np.float64)
    y = np.ascontiguousarray(y, np.complex128)
    t_c, ph_c, amp_c = segment_phases(y, *segment_arrays(segs), float(f_init), centres, sds)
    if t_c.size >= 2:
        dt = t_c - t_c.mean()  # the least-squares line's slope
        f_fine = float(np.dot(dt, ph_c - ph_c.mean()) / np.dot(dt, dt) / (2 * np.pi))
        f_end = (ph_c[-1] - ph_c[-2]) / (2 * np.pi * (t_c[-1] - t_c[-2]))
    else:
        f_fine = f_end = f_init
    g, phase = _derotate(y, t_c, ph_c, amp_c, 2 * np.pi * f_init, 2 * np.pi * f_end)
    return _Track(g, f_fine, t_c, ph_c, phase)


def _derotate_reference(y, t_c, ph_c, amp_c, w_before, w_after):
    """Readable version of ``_derotate`` (the same result up to rounding)."""
    t = np.arange(y.size, dtype=np.float64)
    phase = np.interp(t, t_c, ph_c)
    after = t > t_c[-1]
    phase[after] = ph_c[-1] + w_after * (t[after] - t_c[-1])
    before = t < t_c[0]
    phase[before] = ph_c[0] + w_before * (t[before] - t_c[0])
    amp = np.maximum(np.interp(t, t_c, amp_c), 1e-12)
    return y * np.exp(-1j * phase) / amp, phase


@kernel(cache=True, nogil=True)
def _derotate(y, t_c, ph_c, amp_c, w_before, w_after):  # pragma: no cover - compiled
    """(g complex128[n], phase float64[n]): y[t] exp(-j phase(t)) / amp(t), the phase and the
    amplitude linear between the known segments' centres ``t_c`` (values ``ph_c``, ``amp_c``),
    extended before the first with slope ``w_before`` and after the last with ``w_after`` (rad per
    symbol), the amplitude held there. exp is evaluated once per stretch between two centres and
    carried across it by a rotator (the phase is linear there), not once per symbol."""
    n = y.size
    g = np.empty(n, np.complex128)
    phase = np.empty(n, np.float64)
    m = t_c.size
    t = 0
    for stretch in range(m + 1):
        if stretch == 0:
            end = min(n, int(np.floor(t_c[0])) + 1)  # t <= t_c[0] (centres are >= 0)
            t0, p0, w = t_c[0], ph_c[0], w_before
            a0, da = amp_c[0], 0.0
        elif stretch < m:
            end = min(n, int(np.floor(t_c[stretch])) + 1)  # t <= t_c[stretch]
            span = t_c[stretch] - t_c[stretch - 1]
            t0, p0 = t_c[stretch - 1], ph_c[stretch - 1]
            w = (ph_c[stretch] - p0) / span
            a0, da = amp_c[stretch - 1], (amp_c[stretch] - amp_c[stretch - 1]) / span
        else:
            end = n
            t0, p0, w = t_c[m - 1], ph_c[m - 1], w_after
            a0, da = amp_c[m - 1], 0.0
        if t >= end:
            continue
        first = p0 + w * (t - t0)
        rot = complex(np.cos(first), -np.sin(first))
        step = complex(np.cos(w), -np.sin(w))
        for k in range(t, end):
            ph = p0 + w * (k - t0)
            phase[k] = ph
            amp = max(a0 + da * (k - t0), 1e-12)
            g[k] = y[k] * rot / amp
            rot *= step
            if (k - t) & 1023 == 1023:  # keep the rotator on the unit circle and on the line
                rot = complex(np.cos(ph + w), -np.sin(ph + w))
        t = end
    return g, phase


def _viterbi_viterbi(p: np.ndarray, block: int = SLOT_SYMBOLS, power: int = 4) -> np.ndarray:
    """Feed-forward M-th power phase tracking for frames without pilots (Viterbi & Viterbi 1983).

    p: complex128[n] payload already derotated by the header estimate (residual phase ~0 at its
    start); ``power``: 4 for QPSK, 8 for 8PSK (points at pi/4 + k 2pi/M, so p^M has the phase
    M pi/4 plus M times the carrier phase). Per block of ``block`` symbols,
    phi = arg(sum p^M exp(-j M pi/4))/M; the M*phi sequence is unwrapped starting from the
    header's 0, which resolves the 2pi/M ambiguity as long as the phase moves < pi/M per block.
    Phases are interpolated linearly between block centres.
    """
    nb = p.size // block
    if nb < 2:
        return p
    q, _ = slot_power_sums(np.ascontiguousarray(p, np.complex128), np.arange(nb * block), power,
                           np.full(block, np.exp(-1j * power * np.pi / 4)))
    th = np.unwrap(np.concatenate([[0.0], np.angle(q)]))[1:]
    t_c = np.arange(nb) * block + (block - 1) / 2.0
    phase = np.interp(np.arange(p.size), t_c, th / power)
    return p * np.exp(-1j * phase)
