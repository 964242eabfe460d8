"""The shared adapter to libbitcoinkernel (py-bitcoinkernel, ``pbk``), kept thin.

This is the one module under ``fec/`` allowed to import ``pbk``: the import-linter contract in
pyproject.toml ignores exactly ``chaincast.fec.wire.kernel -> pbk``, and tests/test_architecture.py
exempts exactly this file, so the rest of the library stays pure. Nothing in ``fec`` or ``sdr``
imports it (``chaincast.fec.wire`` does not load it either); the uplink and the receiver do.
"""

from __future__ import annotations

import ctypes

import pbk
from pbk.capi import KernelOpaquePtr

# Our chain names (chaincast.fec.wire.bitcoin.CHAINS) -> libbitcoinkernel's chain types.
CHAIN_TYPES = {
    "main": pbk.ChainType.MAINNET,
    "testnet": pbk.ChainType.TESTNET,
    "testnet4": pbk.ChainType.TESTNET_4,
    "signet": pbk.ChainType.SIGNET,
    "regtest": pbk.ChainType.REGTEST,
}


def kernel_block(raw: bytes) -> pbk.Block:
    """``pbk.Block`` from a serialised block. ``pbk.Block(raw)`` (py-bitcoinkernel 0.1.0a5) builds
    its ctypes array element by element, about 70 ms/MB; handing the C constructor a
    ``from_buffer_copy`` of the bytes takes about 1 ms/MB. It calls pbk's private base constructor
    (``KernelOpaquePtr.__init__`` with the arguments ``Block.__init__`` would pass), so a pbk
    upgrade must be checked against it. Unparsable bytes raise RuntimeError, as ``pbk.Block`` does."""
    block = pbk.Block.__new__(pbk.Block)
    KernelOpaquePtr.__init__(block, (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw), len(raw))
    return block
