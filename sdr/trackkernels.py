"""The numba kernels of carrier tracking (``chaincast.sdr.tracking``), each beside the readable
NumPy version it must agree with (``tests/sdr/test_track_kernels.py``).

A frame is tracked once or twice for every ~33,000 symbols the front end delivers, so the
per-frame work has to cost about as much as the front end's per symbol: the readable versions
spent ~2.8 ms a normal frame in full-length complex128 ``np.exp`` passes, ``**``-by-squaring
temporaries and a Python loop of small NumPy calls per pilot block; these kernels do one pass
each, with the rotation carried by a rotator where the phase is linear.

Shapes and units: ``y`` complex128[n] frame symbols; known segments given as ``starts``,
``lengths`` (int64[m]) and their known symbols concatenated, ``known`` complex128[sum lengths];
frequencies in cycles per symbol, phases in radians, times in symbols from the frame's start.
"""

from __future__ import annotations

import numpy as np
from chaincast.fec.kernels import inline, kernel

SMALL_ANGLE = 0.25
"""rad: under this a rotation's exp(j c) is its Taylor series to c^8 (error < 1e-10), above it
cos and sin."""


# -- segment correlations: each known segment's sum y conj(known) exp(-j 2 pi f (k - centre)) --------

def segment_phases_reference(y, starts, lengths, known, f_init, prior_centres, prior_sds):
    """Readable version of ``segment_phases``."""
    t_c, ph_c, amp_c = [], [], []
    f_run = f_init
    offset = 0
    for st, n in zip(starts, lengths):
        kk = np.arange(st, st + n)
        kn = known[offset:offset + n]
        offset += n
        tc = st + (n - 1) / 2.0
        s = np.sum(y[kk] * np.conj(kn) * np.exp(-2j * np.pi * f_run * (kk - tc)))
        raw = float(np.angle(s))
        if ph_c:
            pred = ph_c[-1] + 2 * np.pi * f_run * (tc - t_c[-1])
            ph = pred + float(np.angle(np.exp(1j * (raw - pred))))
            if len(ph_c) == 1 and len(prior_centres):
                span = tc - t_c[0]
                f_0 = (ph - ph_c[0]) / (2 * np.pi * span)
                costs = [sum((f_0 + m / span - c) ** 2 / (2 * sd * sd) for c, sd in zip(prior_centres, prior_sds))
                         for m in (-1, 0, 1)]
                ph += 2 * np.pi * (int(np.argmin(costs)) - 1)
            seg_f = (ph - ph_c[-1]) / (2 * np.pi * (tc - t_c[-1]))
            f_run = seg_f if len(ph_c) == 1 else 0.5 * f_run + 0.5 * seg_f
        else:
            ph = raw
        t_c.append(tc)
        ph_c.append(ph)
        amp_c.append(abs(s) / n)
    return np.array(t_c, np.float64), np.array(ph_c, np.float64), np.array(amp_c, np.float64)


@inline(cache=True, nogil=True)
def _correlate_segment(y, st, n, known, offset, f, centre):  # pragma: no cover - compiled
    """sum_k y[st + k] conj(known[offset + k]) exp(-j 2 pi f (st + k - centre)), by a rotator
    (a segment is at most a header's 192 symbols: no drift worth a resync)."""
    angle = -2.0 * np.pi * f * (st - centre)
    rot = complex(np.cos(angle), np.sin(angle))
    step = complex(np.cos(-2.0 * np.pi * f), np.sin(-2.0 * np.pi * f))
    acc = 0j
    for k in range(n):
        acc += y[st + k] * known[offset + k].conjugate() * rot
        rot *= step
    return acc


@inline(cache=True, nogil=True)
def _wrapped(x):  # pragma: no cover - compiled
    """x in (-pi, pi], as np.angle(np.exp(1j * x))."""
    return np.arctan2(np.sin(x), np.cos(x))


@kernel(cache=True, nogil=True)
def segment_phases(y, starts, lengths, known, f_init, prior_centres, prior_sds):  # pragma: no cover - compiled
    """Each known segment's centre (symbols), unwrapped phase (rad) and amplitude, float64[m]
    each: the ML phase arg sum y conj(known) of segment i, correlated at the running frequency
    and unwrapped against it (``chaincast.sdr.tracking._track_phase`` tells the method; the
    second segment's cycle is chosen with the priors, Gaussian ``prior_centres`` +-
    ``prior_sds`` in cycles/symbol, none if empty)."""
    m = starts.size
    t_c = np.empty(m)
    ph_c = np.empty(m)
    amp_c = np.empty(m)
    f_run = f_init
    offset = 0
    for i in range(m):
        st = starts[i]
        n = lengths[i]
        tc = st + (n - 1) / 2.0
        s = _correlate_segment(y, st, n, known, offset, f_run, tc)
        offset += n
        raw = np.arctan2(s.imag, s.real)
        if i > 0:
            pred = ph_c[i - 1] + 2 * np.pi * f_run * (tc - t_c[i - 1])
            ph = pred + _wrapped(raw - pred)
            if i == 1 and prior_centres.size > 0:
                span = tc - t_c[0]
                f_0 = (ph - ph_c[0]) / (2 * np.pi * span)
                best, best_cost = 0, np.inf
                for choice in range(3):
                    cost = 0.0
                    for j in range(prior_centres.size):
                        d = f_0 + (choice - 1) / span - prior_centres[j]
                        cost += d * d / (2 * prior_sds[j] * prior_sds[j])
                    if cost < best_cost:
                        best, best_cost = choice, cost
                ph += 2 * np.pi * (best - 1)
            seg_f = (ph - ph_c[i - 1]) / (2 * np.pi * (tc - t_c[i - 1]))
            f_run = seg_f if i == 1 else 0.5 * f_run + 0.5 * seg_f
        else:
            ph = raw
        t_c[i] = tc
        ph_c[i] = ph
        amp_c[i] = abs(s) / n
    return t_c, ph_c, amp_c


def segment_amplitudes_reference(y, starts, lengths, known, f):
    amps = np.empty(len(starts))
    offset = 0
    for i, (st, n) in enumerate(zip(starts, lengths)):
        k = np.arange(n)
        amps[i] = abs(np.sum(y[st:st + n] * np.conj(known[offset:offset + n]) * np.exp(-2j * np.pi * f * k))) / n
        offset += n
    return amps


@kernel(cache=True, nogil=True)
def segment_amplitudes(y, starts, lengths, known, f):  # pragma: no cover - compiled
    """float64[m]: |sum y conj(known) exp(-j 2 pi f k)| / n of each known segment (k from 0 in
    each): its coherent amplitude with the frequency ``f`` removed."""
    m = starts.size
    amps = np.empty(m)
    offset = 0
    for i in range(m):
        amps[i] = abs(_correlate_segment(y, starts[i], lengths[i], known, offset, f, starts[i])) / lengths[i]
        offset += lengths[i]
    return amps


# -- slot sums of the M-th power ------------------------------------------------------------------

def slot_power_sums_reference(y, index, power, ramp):
    """Readable version of ``slot_power_sums``."""
    slots = index.size // ramp.size
    p = y[index[:slots * ramp.size]] ** power
    return (p.reshape(slots, ramp.size) @ ramp), float(np.sum(np.abs(p) ** 2))


@kernel(cache=True, nogil=True)
def slot_power_sums(y, index, power, ramp):  # pragma: no cover - compiled
    """(z complex128[slots], energy): z[s] = sum_k y[index[s L + k]]^power ramp[k] over slots of
    L = ramp.size symbols (the whole ones in ``index``), and sum |y^power|^2 over them. ``power``
    is 2, 4 or 8 (computed by squaring)."""
    width = ramp.size
    slots = index.size // width
    z = np.zeros(slots, np.complex128)
    energy = 0.0
    for s in range(slots):
        acc = 0j
        for k in range(width):
            v = y[index[s * width + k]]
            v = v * v
            if power >= 4:
                v = v * v
            if power >= 8:
                v = v * v
            acc += v * ramp[k]
            energy += v.real * v.real + v.imag * v.imag
        z[s] = acc
    return z, energy


def slot_means_reference(index, values, width):
    slots = index.size // width
    idx = index[:slots * width].reshape(slots, width)
    return idx.mean(axis=1), values[idx].mean(axis=1)


@kernel(cache=True, nogil=True)
def slot_means(index, values, width):  # pragma: no cover - compiled
    """(float64[slots], float64[slots]): over each whole slot of ``width`` entries of ``index``,
    the mean of the indices and the mean of ``values`` at them."""
    slots = index.size // width
    times = np.empty(slots)
    means = np.empty(slots)
    for s in range(slots):
        t = 0.0
        v = 0.0
        for k in range(s * width, (s + 1) * width):
            t += index[k]
            v += values[index[k]]
        times[s] = t / width
        means[s] = v / width
    return times, means


# -- rotations --------------------------------------------------------------------------------------

def rotate_slots_reference(p, correction, width):
    out = p.copy()
    used = correction.size * width
    out[:used] *= np.repeat(np.exp(-1j * correction), width)
    return out


@kernel(cache=True, nogil=True)
def rotate_slots(p, correction, width):  # pragma: no cover - compiled
    """complex128[n]: p with each whole slot s of ``width`` symbols turned by -correction[s] (rad)."""
    out = p.copy()
    for s in range(correction.size):
        r = complex(np.cos(correction[s]), -np.sin(correction[s]))
        for k in range(s * width, (s + 1) * width):
            out[k] *= r
    return out


def rotate_reference(y, angle):
    return y * np.exp(1j * angle)


@kernel(cache=True, nogil=True, fastmath=True)
def rotate(y, angle):  # pragma: no cover - compiled
    """complex128[n]: y[k] exp(j angle[k]) (rad). The angles are mostly small (the NCO's frequency
    changes within a frame by hertz): when all are under ``SMALL_ANGLE``, the Taylor series
    (a loop without libm calls, which vectorises), else cos and sin."""
    out = np.empty(y.size, np.complex128)
    largest = 0.0
    for k in range(y.size):
        largest = max(largest, abs(angle[k]))
    if largest < SMALL_ANGLE:
        for k in range(y.size):
            x = angle[k]
            x2 = x * x
            c = 1.0 - x2 * (0.5 - x2 * (1.0 / 24 - x2 * (1.0 / 720 - x2 / 40320)))
            s = x * (1.0 - x2 * (1.0 / 6 - x2 * (1.0 / 120 - x2 / 5040)))
            v = y[k]
            out[k] = complex(v.real * c - v.imag * s, v.real * s + v.imag * c)
    else:
        for k in range(y.size):
            out[k] = y[k] * complex(np.cos(angle[k]), np.sin(angle[k]))
    return out
