"""Terminated K=7, rate-1/2 convolutional code (generators 171, 133 octal) with soft Viterbi decoding.

This is the placeholder inner code of the link frame until the LDPC family replaces it; it is the
CCSDS / DVB-S "standard" code (free distance 10).

Encoder state convention: ``state`` holds the previous 6 input bits, the most recent in bit 5.
For input bit ``u`` the register is ``reg = (u << 6) | state``; the outputs are
``parity(reg & G)`` for G = 0o171 then 0o133, and the next state is ``reg >> 1``. The encoder
starts in state 0 and is terminated with 6 zero tail bits, so ``n_info`` bits give
``2 * (n_info + 6)`` coded bits.

The decoder maximises the correlation ``sum(sign * llr)`` with ``sign = +1`` for an expected 0 and
``-1`` for an expected 1 (LLR convention of chaincast.fec: positive means 0). ``viterbi_decode`` is
a numba kernel; ``viterbi_decode_reference`` is the readable NumPy version the tests compare it with.
"""

from __future__ import annotations

import numpy as np
from chaincast.fec.kernels import kernel

CONSTRAINT_LENGTH = 7
MEMORY = CONSTRAINT_LENGTH - 1
N_STATES = 1 << MEMORY
GENERATORS = (0o171, 0o133)


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


def _build_tables() -> tuple[np.ndarray, np.ndarray]:
    """``out[state, u] -> 2-bit output (g1 << 1 | g2)``, ``nxt[state, u] -> next state``."""
    out = np.zeros((N_STATES, 2), dtype=np.uint8)
    nxt = np.zeros((N_STATES, 2), dtype=np.int64)
    for state in range(N_STATES):
        for u in range(2):
            reg = (u << MEMORY) | state
            out[state, u] = (_parity(reg & GENERATORS[0]) << 1) | _parity(reg & GENERATORS[1])
            nxt[state, u] = reg >> 1
    return out, nxt


OUTPUT_TABLE, NEXT_STATE = _build_tables()


def coded_length(n_info: int) -> int:
    return 2 * (n_info + MEMORY)


def encode(bits: np.ndarray) -> np.ndarray:
    """``bits: uint8[n]`` -> ``uint8[2 * (n + 6)]`` (terminated)."""
    bits = np.asarray(bits, dtype=np.uint8)
    return _encode_kernel(np.concatenate([bits, np.zeros(MEMORY, np.uint8)]), OUTPUT_TABLE, NEXT_STATE)


@kernel(cache=True)
def _encode_kernel(bits, out_table, next_state):  # pragma: no cover - compiled
    coded = np.empty(2 * bits.size, np.uint8)
    state = 0
    for t in range(bits.size):
        u = bits[t]
        o = out_table[state, u]
        coded[2 * t] = o >> 1
        coded[2 * t + 1] = o & 1
        state = next_state[state, u]
    return coded


def _predecessors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each next state: its two (previous state, input bit) pairs and their 2-bit outputs."""
    prev = np.zeros((N_STATES, 2), dtype=np.int64)
    prev_out = np.zeros((N_STATES, 2), dtype=np.uint8)
    count = np.zeros(N_STATES, dtype=np.int64)
    for state in range(N_STATES):
        for u in range(2):
            ns = NEXT_STATE[state, u]
            prev[ns, count[ns]] = state
            prev_out[ns, count[ns]] = OUTPUT_TABLE[state, u]
            count[ns] += 1
    # the input bit that leads into next state ns is its top bit (bit 5)
    input_bit = (np.arange(N_STATES) >> (MEMORY - 1)).astype(np.uint8)
    return prev, prev_out, input_bit


PREV_STATE, PREV_OUTPUT, INPUT_BIT = _predecessors()


def viterbi_decode(llr: np.ndarray, n_info: int) -> np.ndarray:
    """``llr: float32[2 * (n_info + 6)]`` -> decoded ``uint8[n_info]`` (maximum likelihood path)."""
    llr = np.ascontiguousarray(llr, dtype=np.float32)
    if llr.size != coded_length(n_info):
        raise ValueError(f"need {coded_length(n_info)} LLRs, got {llr.size}")
    return _viterbi_kernel(llr, n_info + MEMORY, PREV_STATE, PREV_OUTPUT, INPUT_BIT)[:n_info]


@kernel(cache=True)
def _viterbi_kernel(llr, n_steps, prev_state, prev_output, input_bit):  # pragma: no cover - compiled
    neg = np.float32(-1e30)
    metric = np.full(64, neg, np.float32)
    metric[0] = 0.0
    new_metric = np.empty(64, np.float32)
    decisions = np.empty((n_steps, 64), np.uint8)
    for t in range(n_steps):
        l0 = llr[2 * t]
        l1 = llr[2 * t + 1]
        # branch metric for 2-bit output o: (+-l0) + (+-l1), sign + for an expected 0
        bm0 = l0 + l1
        bm1 = l0 - l1
        branch = (bm0, bm1, -bm1, -bm0)  # o = 0b00, 0b01, 0b10, 0b11
        for ns in range(64):
            m0 = metric[prev_state[ns, 0]] + branch[prev_output[ns, 0]]
            m1 = metric[prev_state[ns, 1]] + branch[prev_output[ns, 1]]
            if m1 > m0:
                new_metric[ns] = m1
                decisions[t, ns] = 1
            else:
                new_metric[ns] = m0
                decisions[t, ns] = 0
        # renormalise so float32 metrics never lose precision on long frames
        best = new_metric.max()
        for s in range(64):
            metric[s] = new_metric[s] - best
    bits = np.empty(n_steps, np.uint8)
    state = 0  # terminated: the path ends in state 0
    for t in range(n_steps - 1, -1, -1):
        bits[t] = input_bit[state]
        state = prev_state[state, decisions[t, state]]
    return bits


def viterbi_decode_reference(llr: np.ndarray, n_info: int) -> np.ndarray:
    """Readable Viterbi (NumPy over states, Python over time); same result as ``viterbi_decode``."""
    llr = np.asarray(llr, dtype=np.float64)
    n_steps = n_info + MEMORY
    metric = np.full(N_STATES, -np.inf)
    metric[0] = 0.0
    decisions = np.zeros((n_steps, N_STATES), dtype=np.uint8)
    out_bits = np.stack([PREV_OUTPUT >> 1, PREV_OUTPUT & 1], axis=-1)  # [ns, branch, 2]
    signs = 1.0 - 2.0 * out_bits
    for t in range(n_steps):
        branch = signs @ llr[2 * t : 2 * t + 2]  # [ns, branch]
        candidates = metric[PREV_STATE] + branch
        decisions[t] = np.argmax(candidates, axis=1)
        metric = candidates.max(axis=1)
    bits = np.zeros(n_steps, dtype=np.uint8)
    state = 0
    for t in range(n_steps - 1, -1, -1):
        bits[t] = INPUT_BIT[state]
        state = PREV_STATE[state, decisions[t, state]]
    return bits[:n_info]
