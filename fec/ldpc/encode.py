"""Systematic linear-time encoder of the chaincast LDPC codes: codeword = info || parity.

The information part of every check is accumulated from the address tables (a sparse product,
``O(edges)``), then the accumulator gives ``p_0 = s_0`` and ``p_i = p_{i-1} xor s_i``
(EN 302 307-1 section 5.3.2, the last step).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from chaincast.fec.ldpc.codes import LdpcCode, info_edges


@functools.cache
def _info_part(code: LdpcCode) -> sp.csr_matrix:
    """``k x m`` matrix (int32) mapping information bits to the checks they are in."""
    checks, bits = info_edges(code)
    data = np.ones(bits.size, np.int32)
    return sp.csr_matrix((data, (bits, checks)), shape=(code.k, code.m))


def encode(code: LdpcCode, info_bits: np.ndarray) -> np.ndarray:
    """``info_bits: uint8[k]`` or ``uint8[batch, k]`` (0/1) -> codewords ``uint8[..., n]``."""
    u = np.asarray(info_bits)
    if u.shape[-1:] != (code.k,) or u.ndim not in (1, 2):
        raise ValueError(f"need info bits of shape [k] or [batch, k] with k={code.k}, got {u.shape}")
    if u.size and u.max(initial=0) > 1:
        raise ValueError("info bits must be 0 or 1")
    u2 = np.atleast_2d(u).astype(np.uint8)
    s = (sp.csr_matrix(u2.astype(np.int32)) @ _info_part(code)).toarray() & 1
    parity = np.bitwise_xor.accumulate(s.astype(np.uint8), axis=1)
    out = np.concatenate([u2, parity], axis=1)
    return out[0] if u.ndim == 1 else out
