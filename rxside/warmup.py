"""Compile the receiver's numba kernels into numba's on-disk cache, once, at install time.

(A receiver normally runs the kernels compiled ahead of time, ``chaincast.rxside.aotbuild``; this
cache serves the just-in-time fallback, ``CHAINCAST_JIT=1``, and the uplink. The warm-up
therefore always runs the just-in-time kernels.)

numba compiles a kernel the first time it is called and keeps the machine code in a cache beside
its source (``__pycache__``, or ``NUMBA_CACHE_DIR``); every later process loads it in milliseconds.
Without this step the first reception after an install spends several seconds compiling before
its first frame. ``make`` runs ``python -m chaincast.rxside.warmup`` after installing; it calls
every kernel a reception can reach with small inputs of the types the receiver passes:

- the demodulator (matched filter, timing loop, carrier tracking, phase smoother) on two
  QPSK 3/5 PL frames made by chaincast.sdr's own modulator;
- the LDPC decoder's two kernels (a full 32-frame batch, and a single frame: the generic width),
  the 8PSK demapper, the convolutional code's Viterbi decoder, the scrambler's sequence.

Prints one line with the time it took; exits non-zero only on an error (a kernel that does not
compile here is a bug to see at install, not at the first pass of the satellite).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np


def warm_up() -> float:
    """Run every kernel once; the seconds it took (compilation, when the cache was empty)."""
    from chaincast.fec import convolutional
    from chaincast.fec.ldpc.codes import get_code
    from chaincast.fec.ldpc.decode import decode
    from chaincast.fec.wire.plheader import Pls
    from chaincast.fec.wire.profile import MODCODS
    from chaincast.sdr import plframe as pf
    from chaincast.sdr.modem import qpsk_map
    from chaincast.sdr.psk8 import psk8_llr_fast
    from chaincast.sdr.rx import Demodulator
    from chaincast.sdr.scrambler import prbs_bits
    from chaincast.sdr.tx import Modulator

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    pls = Pls(MODCODS["qpsk-3/5"].pls_id, False, True).pack()
    frames = [pf.build_frame(qpsk_map(rng.integers(0, 2, 2 * 360 * 90).astype(np.uint8)), pls) for _ in range(2)]
    lead = np.zeros(24_000, np.complex64)
    iq = np.concatenate([lead, Modulator(2.4e6, 1e6, 0.2).process(np.concatenate(frames)), lead])
    iq = (iq + 0.05 * (rng.standard_normal(iq.size) + 1j * rng.standard_normal(iq.size))).astype(np.complex64)
    demodulator = Demodulator(2.4e6, 1e6, 0.2)
    found = demodulator.process(iq) + demodulator.flush()
    if not found:
        raise RuntimeError("the demodulator found no frame in its own clean signal")
    prbs_bits(1024)
    code = get_code("3/5", 64800)
    llr = rng.normal(2.0, 1.0, (32, code.n)).astype(np.float32)
    decode(code, llr, max_iterations=2)
    decode(code, llr[:1], max_iterations=2, width=1)
    psk8_llr_fast(found[0].payload[:900], 0.1)
    convolutional.viterbi_decode(rng.normal(0, 1, convolutional.coded_length(64)).astype(np.float32), 64)
    return time.perf_counter() - started


def main() -> int:
    seconds = warm_up()
    print(f"chaincast: receiver kernels compiled and cached ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    os.environ["CHAINCAST_JIT"] = "1"  # before the kernels' modules are imported (warm_up imports them)
    sys.exit(main())
