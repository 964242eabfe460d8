"""Layered self-corrected offset min-sum decoding of the chaincast LDPC codes, batched across frames.

Algorithm (layered / "turbo-decoding message passing" min-sum, e.g. Hocevar, "A reduced
complexity decoder architecture via layered decoding of LDPC codes", SiPS 2004; normalisation
and offset as in Chen & Fossorier, IEEE Trans. Commun. 2002). ``L[v]`` is the posterior LLR of
bit ``v`` (initially the channel LLR), ``R[c, v]`` the last message of check ``c`` to ``v`` (initially 0).
Checks are visited layer by layer (``codes.check_adjacency``: the ``z`` checks ``r, r+q, ...`` of
layer ``r`` share no bit), and for each check::

    Q_v   = L[v] - R[c, v]                       for its bits v
    U_v   = 0 if sign(Q_v) * S[c, v] < 0 else Q_v    (self-correction, below)
    R[c, v] = max(alpha * min_{w != v} |U_w| - offset, 0) * prod_{w != v} sign(U_w)   (sign(0) = +)
    L[v]  = Q_v + R[c, v]
    S[c, v] = sign(U_v)                          (-1, 0 or +1; 0 before the first pass)

One iteration = one pass over all checks. Self-correction (Savin, "Self-corrected min-sum decoding
of LDPC codes", ISIT 2008): a bit-to-check message whose sign flipped since the check last used it
is unreliable and is erased (the check sees 0, so it tells its other bits nothing this time); the
posterior still takes the full Q. Against plain offset min-sum (alpha 0.9, offset 0.4, the
previous decoder) on the same frames (64800 bits, 768 frames each): QPSK 3/5 at 2.10 dB 134 frame
errors -> 8, 8PSK 3/5 at 5.40 dB 104 -> 6, QPSK 3/4 at 3.90 dB 272 -> 12, in about 40% fewer
iterations; thresholds at FER 1e-3 moved down by 0.04-0.17 dB. The state is the int8 sign per
edge that plain min-sum stores anyway; the erasure test costs roughly 10% per iteration.
``self_correct=False`` gives that previous decoder, plain offset min-sum with its own parameters
(``PLAIN_DECODER_PARAMETERS``: with the self-corrected ones it fails almost every frame near the
thresholds, e.g. 64 of 64 QPSK 3/5 frames at 2.05 dB that it decodes 37 of with its own).

``alpha`` and ``offset`` (LLR units, so the input must be true LLRs) default per rate
(``DECODER_PARAMETERS``), picked from a scan of alpha 0.9 / 0.95 / 1.0 x offset 0.2 / 0.3 / 0.4 /
0.5 with self-correction, 768 frames of n = 64800 per MODCOD about 0.1 dB under its threshold (the
same frames for every pair): 0.95 / 0.2 is best or within noise of it everywhere but rate 3/5,
where 0.95 / 0.3 suits both QPSK (8 frame errors; 0.95 / 0.2: 15) and 8PSK (6; 9). Pure
normalisation (offset 0, alpha 1) fails: about 2.5x the plain decoder's frame errors. Offset 0.5
with alpha 0.9 fails almost every frame of rates 1/3 to 2/3; the optimum is a valley, not a point.
LLR convention of chaincast.fec: positive means 0; hard decision ``bit = L < 0``.

Stopping: a frame stops after an iteration in which every check was satisfied by the hard
decisions it saw when it was processed, no posterior was exactly 0 and no hard decision changed.
Then the final hard decisions are the ones every check saw, so the syndrome is exactly zero; the
test costs a sign product per edge instead of a separate syndrome pass. ``ok`` = zero syndrome and no
posterior exactly 0 (so all-zero LLRs, which leave every posterior at 0, never give ``ok``).

Arithmetic: fixed point in int16 lanes, ``LLR_SCALE`` units per LLR 1.0. Channel LLRs are
rounded and clipped to +-``MAX_CHANNEL`` (62.5: AWGN QPSK LLRs pass it only above 15 dB) and check
messages to +-``MAX_MESSAGE`` (125). Posteriors are never clipped: ``L = channel + sum of R`` holds exactly,
and with at most 13 checks per bit ``|L| <= MAX_CHANNEL + 13 * MAX_MESSAGE``, so neither ``L - R``
nor ``Q + R`` leaves int16 and no saturating arithmetic is needed (numba cannot express it without
widening every lane to 64 bits). A first version clipped posteriors at twice the message bound
and, on confident inputs, a single check changing its mind could zero a clipped posterior that
still held eleven agreeing messages: frames with 2% strongly wrong bits diverged into thousands of
errors where float32 corrected them in 3 iterations (now a test). Equal channel and message
bounds failed hard-decision inputs (+-bound, 3% flipped) that float32 decodes: a wrong bit of
two checks sends each of them ``-bound + bound = 0`` and the pair deadlocks; twice the channel
bound breaks the tie. The normalisation
``alpha * min - offset`` is computed per check in float32 and rounded to the nearest unit:
truncating it toward zero instead (a bias of half a unit, 1/32 LLR, on every message) cost
QPSK 3/4 about 0.05 dB at 4.03 dB (11/8192 frame errors against 3/8192 rounded and 3/8192 with
float32) and took more iterations; doubling LLR_SCALE instead helped less (8/8192). int16 halves
the bytes per lane against float32 (32 slots in one 512-bit vector): about 1.5x faster.

``decode`` runs the numba kernel: frames sit in ``width`` slots that are processed together (the
innermost loop runs over slots, so it vectorises); when a frame stops, its slot takes the next
frame at the following iteration boundary, so a batch costs about the *average* number of
iterations, not the maximum. Check messages are kept compressed as in hardware decoders: per
check the signed min and second min and the position of the min, per edge the sign of Q (int8).
``width = 32`` (the default, used for any batch of two frames or more) runs a copy of the kernel
specialised for 32 slots, whose cost per iteration does not depend on how many slots are busy;
other widths run the generic kernel, which vectorises worse (narrow widths fall back to scalar
code). ``decode_reference`` is the readable NumPy version (one
check at a time, vectorised over frames, messages stored per edge) that the tests compare it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from chaincast.fec.kernels import inline, kernel

from chaincast.fec.ldpc.codes import LdpcCode, check_adjacency, syndrome

DEFAULT_ALPHA = 0.95
DEFAULT_OFFSET = 0.2
# rate -> (alpha, offset) where the scan preferred other values than the defaults (1/3: both 0
# errors at -1.45 dB, in 35.5 iterations against 39.9)
DECODER_PARAMETERS = {"1/3": (1.0, 0.2), "3/5": (0.95, 0.3)}
# the same for plain offset min-sum (self_correct=False), from the scans of the previous decoder
PLAIN_DEFAULT_PARAMETERS = (0.9, 0.4)
PLAIN_DECODER_PARAMETERS = {"1/3": (1.0, 0.3), "1/2": (0.9, 0.3)}
# Frames near the threshold keep converging past 50 iterations (QPSK 3/4 at 4.03 dB: 8/6000 frame
# errors at 50, 3/6000 at 100; 8PSK 3/5 at 5.55 dB: 74/3000 -> 41/3000); the mean hardly moves.
DEFAULT_MAX_ITERATIONS = 100
DEFAULT_WIDTH = 32  # frames processed together by the kernel (the inner loop vectorises best at 32)
# A frame whose hard decisions still fail more than its rate's ABANDON_SHARE of the checks after
# ABANDON_AFTER iterations is given up (not stopped, as one that reached max_iterations). Such a frame
# is noise, a frame cut by a gap in the input or a forger's garbage; run to max_iterations it held its
# whole batch to 100 iterations instead of the usual 5 to 30 (850 ms instead of 56 ms for 32 frames of
# QPSK 3/5 with one such frame among them), so a receiver near the threshold or under attack fell
# behind. Noise settles at about a third of the checks failed; frames near the threshold that go on to
# converge sit below that for tens of iterations, closest to it at rate 3/5 (up to 0.33). Each share
# lies between the two, measured with tests/bench/ldpc_abandon.py (0 frames lost to abandoning among
# 480 to 2560 frames per code 0.05-0.15 dB under its FER 1e-3 threshold; every pure-noise frame abandoned).
ABANDON_AFTER = 30
ABANDON_SHARE = {"1/3": 0.28, "1/2": 0.27, "3/5": 0.34, "2/3": 0.30, "3/4": 0.28, "5/6": 0.30}
LLR_SCALE = 16  # fixed-point units per LLR 1.0
MAX_MESSAGE = 2000  # |R| bound (125)
MAX_CHANNEL = 1000  # |channel LLR| bound (62.5): half the message bound, see above
MAX_POSTERIOR = MAX_CHANNEL + 13 * MAX_MESSAGE  # |L| for bits of up to 13 checks
assert MAX_POSTERIOR + 2 * MAX_MESSAGE <= 32767  # L - R_old + R_new stays in int16


@dataclass(frozen=True)
class LdpcDecodeResult:
    """``codeword: uint8[batch, n]`` hard decisions (the stopping-time ones for frames that
    stopped), ``ok: bool[batch]`` zero syndrome and no zero posterior, ``iterations: int32[batch]``
    iterations run (``max_iterations`` for frames that never stopped), ``abandoned: bool[batch]``
    given up before ``max_iterations`` as hopeless (see ABANDON_AFTER): noise, not a frame near
    its threshold."""

    codeword: np.ndarray
    ok: np.ndarray
    iterations: np.ndarray
    k: int
    abandoned: np.ndarray

    @property
    def info_bits(self) -> np.ndarray:
        """``uint8[batch, k]``: the systematic part of ``codeword``."""
        return self.codeword[:, : self.k]


def _as_batch(code: LdpcCode, llr: np.ndarray) -> np.ndarray:
    llr = np.asarray(llr)
    if llr.ndim not in (1, 2) or llr.shape[-1] != code.n:
        raise ValueError(f"need LLRs of shape [n] or [batch, n] with n={code.n}, got {llr.shape}")
    llr = np.atleast_2d(llr)
    if not np.all(np.isfinite(llr)):
        raise ValueError("LLRs must be finite")
    return quantise_llr(llr)


def quantise_llr(llr: np.ndarray) -> np.ndarray:
    """``float[...] -> int16[...]``: ``round(llr * LLR_SCALE)`` (in float32, half to even) clipped
    to +-``MAX_CHANNEL`` (``quantise_llr_reference``; one pass in a kernel, not four NumPy ones)."""
    x = np.ascontiguousarray(llr, np.float32)
    out = np.empty(x.shape, np.int16)
    _quantise(x.reshape(-1), np.float32(LLR_SCALE), np.float32(MAX_CHANNEL), out.reshape(-1))
    return out


def quantise_llr_reference(llr: np.ndarray) -> np.ndarray:
    scaled = np.rint(np.asarray(llr, np.float32) * np.float32(LLR_SCALE))
    return np.ascontiguousarray(np.clip(scaled, -MAX_CHANNEL, MAX_CHANNEL).astype(np.int16))


@kernel(cache=True, boundscheck=False, nogil=True)
def _quantise(x, scale, bound, out):  # pragma: no cover - compiled
    for i in range(x.size):
        v = np.rint(x[i] * scale)
        out[i] = np.int16(min(max(v, -bound), bound))


@lru_cache(maxsize=None)
def _fixed_point_adjacency(code: LdpcCode) -> tuple[np.ndarray, np.ndarray]:
    """``check_adjacency`` as unsigned indices (the kernel then needs no negative-index code),
    after checking that the code's bit degrees keep every posterior within int16."""
    _, ptr, bits = check_adjacency(code)
    max_degree = int(np.bincount(bits).max())
    if MAX_CHANNEL + max_degree * MAX_MESSAGE > MAX_POSTERIOR:
        raise ValueError(f"{code.name}: bits of {max_degree} checks overflow the int16 posteriors")
    return ptr.astype(np.uint64), bits.astype(np.uint64)


def decoder_parameters(code: LdpcCode, alpha: float | None, offset: float | None,
                       self_correct: bool = True) -> tuple[float, float]:
    """``(alpha, offset)``: the given values, or the defaults for the code's rate and decoder."""
    if self_correct:
        default_alpha, default_offset = DECODER_PARAMETERS.get(code.rate, (DEFAULT_ALPHA, DEFAULT_OFFSET))
    else:
        default_alpha, default_offset = PLAIN_DECODER_PARAMETERS.get(code.rate, PLAIN_DEFAULT_PARAMETERS)
    return (default_alpha if alpha is None else alpha, default_offset if offset is None else offset)


def _check_arguments(max_iterations: int, alpha: float, offset: float) -> None:
    if max_iterations < 1:
        raise ValueError("max_iterations must be at least 1")
    if not 0.0 < alpha <= 1.0:
        raise ValueError("alpha must be in (0, 1]")
    if offset < 0.0:
        raise ValueError("offset must be >= 0")


def _abandon_checks(code: LdpcCode, abandon_after: int, abandon_share: float | None) -> int:
    """The number of failed checks above which a frame is given up after ``abandon_after`` iterations
    (``abandon_share`` None: the rate's, or never for a rate not measured)."""
    if abandon_share is None:
        abandon_share = ABANDON_SHARE.get(code.rate, 1.0)
    if abandon_after < 0 or not 0.0 <= abandon_share <= 1.0:
        raise ValueError("abandon_after must be >= 0 and abandon_share in [0, 1]")
    return int(abandon_share * (code.n - code.k))


def _result(code: LdpcCode, bits: np.ndarray, stopped: np.ndarray, iterations: np.ndarray,
            zero_posterior: np.ndarray, max_iterations: int) -> LdpcDecodeResult:
    ok = stopped.copy()
    rest = np.flatnonzero(~stopped & ~zero_posterior)
    if rest.size:
        ok[rest] = ~syndrome(code, bits[rest]).any(axis=1)
    abandoned = ~stopped & (iterations < max_iterations)  # a frame ends early only when it stops or is given up
    for a in (bits, ok, iterations, abandoned):
        a.setflags(write=False)
    return LdpcDecodeResult(codeword=bits, ok=ok, iterations=iterations, k=code.k, abandoned=abandoned)


def decode(code: LdpcCode, llr: np.ndarray, max_iterations: int = DEFAULT_MAX_ITERATIONS,
           alpha: float | None = None, offset: float | None = None,
           width: int = DEFAULT_WIDTH, self_correct: bool = True, abandon_after: int = ABANDON_AFTER,
           abandon_share: float | None = None) -> LdpcDecodeResult:
    """Decode ``llr: float32[n]`` or ``float32[batch, n]`` (1-D = batch of one; LLR units).

    ``alpha`` / ``offset``: normalisation and offset of the check messages (None: the rate's
    default of the rate and decoder); ``width``: frames processed together (best 32);
    ``self_correct=False``: plain offset min-sum, the previous decoder (for comparisons);
    ``abandon_after`` / ``abandon_share``: a frame failing more than that share of the checks after
    that many iterations is given up (0: never; None: the rate's share; see ABANDON_AFTER)."""
    alpha, offset = decoder_parameters(code, alpha, offset, self_correct)
    _check_arguments(max_iterations, alpha, offset)
    abandon = _abandon_checks(code, abandon_after, abandon_share)
    llr = _as_batch(code, llr)
    ptr, bits = _fixed_point_adjacency(code)
    width = int(width)
    if width != 32 or llr.shape[0] < 2:
        # the 32-slot kernel costs the same per iteration for 2..32 frames (idle slots ride along
        # in the same vectors: 30 iterations of 2, 8 or 16 normal frames take 0.19-0.20 s, where
        # the generic kernel takes 0.19, 0.26 and 0.34 s), so only other widths are narrowed
        width = max(1, min(width, llr.shape[0]))
    out = np.empty(llr.shape, np.uint8)
    iterations = np.empty(llr.shape[0], np.int32)
    stopped = np.empty(llr.shape[0], np.bool_)
    zero_posterior = np.empty(llr.shape[0], np.bool_)
    args = (np.int64(max_iterations), np.float32(alpha), np.float32(offset * LLR_SCALE), bool(self_correct),
            np.int64(abandon_after), np.int64(abandon))
    if width == 32:  # the same kernel with the width known at compile time (fully vectorised)
        _layered_kernel_32(llr, ptr, bits, *args, out, iterations, stopped, zero_posterior)
    else:
        _layered_kernel(llr, ptr, bits, *args, np.int64(width), out, iterations, stopped,
                        zero_posterior)
    return _result(code, out, stopped, iterations, zero_posterior, max_iterations)


@inline(cache=True, boundscheck=False, nogil=True)
def _load_slot(llr, frame, slot, post, min1, min2, slot_frame, slot_iter, keep_sign):  # pragma: no cover - compiled
    for v in range(llr.shape[1]):
        post[v, slot] = llr[frame, v]
    # zero magnitudes make every old message 0 whatever argmin and edge_sign hold
    for c in range(min1.shape[0]):
        min1[c, slot] = 0
        min2[c, slot] = 0
    slot_frame[slot] = frame
    slot_iter[slot] = 0
    keep_sign[slot] = 0  # the edge signs are the previous frame's: no self-correction in iteration 1


@kernel(cache=True, boundscheck=False, nogil=True)
def _layered_kernel(llr, ptr, bits, max_iter, alpha, offset, self_correct, abandon_after, abandon_checks, width, out,
                    out_iter, out_stopped, out_zero):  # pragma: no cover - compiled
    # llr: int16[frames, n] (quantise_llr); offset in fixed-point units. The inner loops run over
    # the w slots and use only int16 lanes: every int16 expression is cast back with np.int16(...)
    # where numba would widen it to 64 bits, and the bounds MAX_POSTERIOR / MAX_MESSAGE guarantee
    # the cast never wraps, so LLVM keeps 16-bit lanes. Positions, signs and flags are int16
    # values too. The per-check state and the per-slot accumulators are one array each, so that
    # the vectorised loops need few runtime alias checks (they run for only w iterations per edge).
    n_frames, n = llr.shape
    n_checks = ptr.size - 1
    w = width
    max_deg = 0
    for t in range(n_checks):
        max_deg = max(max_deg, np.int64(ptr[t + 1] - ptr[t]))
    post = np.zeros((n, w), np.int16)  # L, one column per slot
    # check message state: R[c, edge j] = (min2 if argmin == j else min1) * edge_sign[j], where
    # min1 / min2 = (product of the signs of Q) * clip(alpha * (second) min |Q| - offset, 0, MAX_MESSAGE)
    state = np.zeros((n_checks, 3, w), np.int16)  # per check: min1, min2, argmin
    min1 = state[:, 0]
    min2 = state[:, 1]
    # sign (+1 / 0 / -1) of the Q the check used on each edge (0: erased, or exactly 0)
    edge_sign = np.zeros((bits.size, w), np.int8)
    q_buf = np.empty((max_deg, w), np.int16)  # Q, for the posteriors
    keep_sign = np.zeros(w, np.int16)  # 1 where a slot's edge signs are its frame's (and self-correcting)
    correct = np.int16(1 if self_correct else 0)
    acc = np.empty((6, w), np.int16)
    failed = np.zeros(w, np.int32)  # per slot: checks whose hard decisions failed in this iteration
    slot_frame = np.full(w, -1, np.int64)
    slot_iter = np.zeros(w, np.int64)
    big = np.int16(32767)
    one = np.int16(1)
    zero = np.int16(0)
    plus = np.int8(1)
    minus = np.int8(-1)
    nil = np.int8(0)
    no_magnitude = np.float32(0.0)
    half = np.float32(0.5)
    max_message = np.float32(MAX_MESSAGE)
    next_frame = 0
    active = 0
    for s in range(w):
        if next_frame < n_frames:
            _load_slot(llr, next_frame, s, post, min1, min2, slot_frame, slot_iter, keep_sign)
            next_frame += 1
            active += 1
    while active > 0:
        # acc rows: 0 min |Q|, 1 second min, 2 position of the min, 3 XOR of the Q (its sign bit is
        # the product of their signs), 4 XOR of the posteriors (hard-decision parity), 5 "bad" flag
        acc[5, :] = 0
        failed[:] = 0
        for t in range(n_checks):
            start = ptr[t]
            stop = ptr[t + 1]
            for b in range(w):
                acc[0, b] = big
                acc[1, b] = big
                acc[2, b] = zero
                acc[3, b] = zero
                acc[4, b] = zero
            for e in range(start, stop):  # unsigned indices: no negative-index wraparound code
                v = bits[e]
                j = e - start
                jj = np.int16(j)
                for b in range(w):
                    old_min1 = state[t, 0, b]
                    old_min2 = state[t, 1, b]
                    old_pos = state[t, 2, b]
                    lv = post[v, b]
                    m1 = acc[0, b]
                    m2 = acc[1, b]
                    pos = acc[2, b]
                    qs = acc[3, b]
                    hs = acc[4, b]
                    flag = acc[5, b]
                    mag = old_min2 if old_pos == jj else old_min1
                    sign = np.int16(edge_sign[e, b])
                    x = np.int16(lv - mag) if sign >= 0 else np.int16(lv + mag)
                    q_buf[j, b] = x
                    # self-correction: a Q whose sign flipped since the check last used it is erased
                    used = zero if np.int16(np.int16(sign * keep_sign[b]) * x) < 0 else x
                    a = np.int16(abs(used))
                    acc[1, b] = min(m2, max(m1, a))
                    acc[2, b] = jj if a < m1 else pos
                    acc[0, b] = min(m1, a)
                    acc[3, b] = np.int16(qs ^ used)  # its sign bit: odd number of negative Q
                    acc[4, b] = np.int16(hs ^ lv)
                    acc[5, b] = np.int16(flag | (lv == 0))
            for b in range(w):
                # alpha * min - offset in float32, rounded (+0.5, then truncated), per check (not per edge)
                m1 = min(max(np.float32(acc[0, b]) * alpha - offset + half, no_magnitude), max_message)
                m2 = min(max(np.float32(acc[1, b]) * alpha - offset + half, no_magnitude), max_message)
                negative = acc[3, b] < 0
                acc[0, b] = np.int16(-np.int16(m1)) if negative else np.int16(m1)
                acc[1, b] = np.int16(-np.int16(m2)) if negative else np.int16(m2)
                acc[5, b] = one if acc[4, b] < 0 else acc[5, b]
                failed[b] += np.int32(1) if acc[4, b] < 0 else np.int32(0)
            for e in range(start, stop):  # unsigned indices: no negative-index wraparound code
                v = bits[e]
                j = e - start
                jj = np.int16(j)
                for b in range(w):
                    x = q_buf[j, b]
                    # the erasure decision again rather than a stored flag: edge_sign is still the old sign
                    used = zero if np.int16(np.int16(np.int16(edge_sign[e, b]) * keep_sign[b]) * x) < 0 else x
                    m1 = acc[0, b]
                    m2 = acc[1, b]
                    pos = acc[2, b]
                    old = post[v, b]
                    flag = acc[5, b]
                    negative = used < 0
                    mag = m2 if pos == jj else m1
                    new = np.int16(x - mag) if negative else np.int16(x + mag)
                    acc[5, b] = np.int16(flag | (np.int16(new ^ old) < 0))  # a hard decision changed
                    post[v, b] = new
                    edge_sign[e, b] = minus if negative else (plus if used > 0 else nil)
            for b in range(w):
                state[t, 0, b] = acc[0, b]
                state[t, 1, b] = acc[1, b]
                state[t, 2, b] = acc[2, b]
        for s in range(w):
            f = slot_frame[s]
            if f < 0:
                continue
            slot_iter[s] += 1
            keep_sign[s] = correct
            done = acc[5, s] == 0
            hopeless = abandon_after > 0 and slot_iter[s] >= abandon_after and failed[s] > abandon_checks
            if done or hopeless or slot_iter[s] >= max_iter:
                has_zero = False
                for v in range(n):
                    out[f, v] = 1 if post[v, s] < 0 else 0
                    has_zero |= post[v, s] == 0
                out_iter[f] = slot_iter[s]
                out_stopped[f] = done
                out_zero[f] = has_zero
                if next_frame < n_frames:
                    _load_slot(llr, next_frame, s, post, min1, min2, slot_frame, slot_iter, keep_sign)
                    next_frame += 1
                else:
                    slot_frame[s] = -1
                    active -= 1
                    for v in range(n):  # an idle slot carries zeros (cheap, never read)
                        post[v, s] = 0
    return 0


@kernel(cache=True, boundscheck=False, nogil=True)
def _layered_kernel_32(llr, ptr, bits, max_iter, alpha, offset, self_correct, abandon_after, abandon_checks, out,
                       out_iter, out_stopped, out_zero):  # pragma: no cover - compiled
    # LLVM inlines the kernel here and propagates w = 32: about 30% faster than a runtime width
    return _layered_kernel(llr, ptr, bits, max_iter, alpha, offset, self_correct, abandon_after, abandon_checks, 32,
                           out, out_iter, out_stopped, out_zero)


def decode_reference(code: LdpcCode, llr: np.ndarray, max_iterations: int = DEFAULT_MAX_ITERATIONS,
                     alpha: float | None = None, offset: float | None = None,
                     self_correct: bool = True, abandon_after: int = ABANDON_AFTER,
                     abandon_share: float | None = None) -> LdpcDecodeResult:
    """Readable layered self-corrected (or plain) offset min-sum in the same fixed point as ``decode``, with the
    same results (slow: tests only). Integers are held in int64, so the int16 bounds the kernel
    relies on are checked here rather than assumed."""
    _fixed_point_adjacency(code)  # the degree check
    alpha, offset = decoder_parameters(code, alpha, offset, self_correct)
    _check_arguments(max_iterations, alpha, offset)
    abandon = _abandon_checks(code, abandon_after, abandon_share)
    llr = _as_batch(code, llr).astype(np.int64)
    _, ptr, bits = check_adjacency(code)
    batch = llr.shape[0]
    alpha = np.float32(alpha)
    offset = np.float32(offset * LLR_SCALE)
    post = llr.copy()  # L
    msg = np.zeros((batch, bits.size), np.int64)  # R, one per edge
    used_sign = np.zeros((batch, bits.size), np.int64)  # sign of the Q each check used (0: erased or 0)
    out = np.zeros(llr.shape, np.uint8)
    iterations = np.full(batch, max_iterations, np.int32)
    stopped = np.zeros(batch, np.bool_)
    finished = np.zeros(batch, np.bool_)  # stopped, given up, or out of iterations
    zero_posterior = np.zeros(batch, np.bool_)  # a posterior exactly 0 when the frame finished
    frames = np.arange(batch)
    for iteration in range(1, max_iterations + 1):
        bad = np.zeros(batch, np.bool_)
        failed = np.zeros(batch, np.int64)  # checks whose hard decisions (as each check found them) failed
        for t in range(ptr.size - 1):
            edges = slice(ptr[t], ptr[t + 1])
            v = bits[edges]
            old = post[:, v]
            odd = np.count_nonzero(old < 0, axis=1) % 2 == 1
            failed += odd
            bad |= odd | (old == 0).any(axis=1)
            q = old - msg[:, edges]
            erase = (used_sign[:, edges] * q < 0) & (self_correct and iteration > 1)  # sign flipped
            used = np.where(erase, 0, q)
            mag = np.abs(used)
            first = np.argmin(mag, axis=1)  # the first of equal minima, like the kernel
            min1 = mag[frames, first]
            rest = mag.copy()
            rest[frames, first] = np.iinfo(np.int64).max
            min2 = np.minimum(rest.min(axis=1), 32767)  # the kernel starts its minima at 32767
            others = np.where(np.arange(v.size)[None, :] == first[:, None], min2[:, None], min1[:, None])
            negative = used < 0
            out_negative = negative ^ (np.count_nonzero(negative, axis=1) % 2 == 1)[:, None]
            normalised = np.clip(others.astype(np.float32) * alpha - offset + np.float32(0.5), 0, np.float32(MAX_MESSAGE))
            magnitude = np.trunc(normalised).astype(np.int64)
            new_msg = np.where(out_negative, -magnitude, magnitude)
            new = q + new_msg
            assert np.abs(q).max() <= 32767 and np.abs(new).max() <= MAX_POSTERIOR  # no int16 wrap
            bad |= ((new < 0) != (old < 0)).any(axis=1)
            msg[:, edges] = new_msg
            used_sign[:, edges] = np.sign(used)
            post[:, v] = new
        hopeless = (abandon_after > 0) & (iteration >= abandon_after) & (failed > abandon)
        finishing = ~finished & (~bad | (iteration == max_iterations) | hopeless)
        out[finishing] = post[finishing] < 0
        zero_posterior[finishing] = (post[finishing] == 0).any(axis=1)
        iterations[finishing] = iteration
        stopped |= ~bad & finishing
        finished |= finishing
        if finished.all():
            break
    return _result(code, out, stopped, iterations, zero_posterior & ~stopped, max_iterations)
