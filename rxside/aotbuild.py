"""Compile the receiver's numba kernels ahead of time, once, at install (``make`` runs ``python -m
chaincast.rxside.aotbuild`` after the warm-up).

Runs the install warm-up (``chaincast.rxside.warmup``: every kernel a reception reaches, with the
argument types the receiver passes) with numba's just-in-time compiler, takes the signature each
kernel was compiled for, and compiles them all with numba's pycc into the extension module
``chaincast.fec._aot`` for this machine's processor, each with its own options (fastmath,
nogil, bounds checks: pycc itself would compile them all with numba's defaults). Writes
``fec/_aot.json`` beside it: the argument specs the run-time checks use and the SHA-256 of every
source file of ``chaincast.fec`` and ``chaincast.sdr`` (an edited source makes the module unused).
See ``chaincast.fec.kernels``.

Needs a C compiler and Python's headers (Debian: gcc, python3-dev). Exits non-zero with one line
if the build fails; the receiver then keeps running its kernels just in time.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["CHAINCAST_JIT"] = "1"  # before chaincast.fec.kernels: the build needs numba's dispatchers


def _spec(t) -> list | None:
    from numba.core import types
    if isinstance(t, types.Array):
        return ["array", str(t.dtype), t.ndim] if t.layout == "C" else None
    if isinstance(t, types.Boolean):
        return ["bool"]
    if isinstance(t, types.Integer):
        return ["int"]
    if isinstance(t, types.Float):
        return ["float"]
    return None


@contextlib.contextmanager
def _each_with_its_options(options_by_function: dict):
    """pycc compiles every exported function with one set of flags (numba's defaults); give each
    the options its ``@kernel`` declares instead."""
    import numba.pycc.compiler as pycc_compiler
    plain = pycc_compiler.compile_extra

    def compile_extra(typingctx, targetctx, func, args, return_type, flags, locals, **kwargs):
        options = options_by_function.get(func, {})
        flags = flags.copy()
        flags.fastmath = bool(options.get("fastmath", False))
        flags.release_gil = bool(options.get("nogil", False))
        flags.boundscheck = bool(options.get("boundscheck") or False)
        return plain(typingctx, targetctx, func, args, return_type, flags, locals, **kwargs)

    pycc_compiler.compile_extra = compile_extra
    try:
        yield
    finally:
        pycc_compiler.compile_extra = plain


def build() -> tuple[int, list[str]]:
    """Compile; (kernels compiled, kernels left to the just-in-time compiler with why)."""
    import json
    import warnings

    from numba.core import types

    from chaincast.fec import kernels
    from chaincast.rxside.warmup import warm_up

    warm_up()
    exports, left = {}, []
    for name, (func, options) in sorted(kernels.REGISTRY.items()):
        dispatcher = getattr(sys.modules[func.__module__], func.__name__)
        # (a kernel called by another with a constant argument also has that literal signature)
        signatures = [sig for sig in dispatcher.signatures if not any(isinstance(t, types.Literal) for t in sig)]
        if len(signatures) != 1:
            left.append(f"{name} ({len(signatures)} signatures in a reception)")
            continue
        specs = [_spec(t) for t in signatures[0]]
        if None in specs:
            left.append(f"{name} (an argument type the checks do not know)")
            continue
        result = dispatcher.overloads[signatures[0]].signature.return_type
        exports[name] = (func, options, result(*signatures[0]), specs)
    from numba.core.errors import NumbaPendingDeprecationWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba.pycc import CC
    target = Path(kernels.__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        cc = CC("_aot")
        cc.output_dir = tmp
        cc.target_cpu = "host"  # built where it runs: this processor's vector units
        cc.verbose = False
        for name, (func, _, signature, _) in exports.items():
            cc.export(name, signature)(func)
        with _each_with_its_options({func: options for func, options, _, _ in exports.values()}):
            cc.compile()
        (built,) = Path(tmp).glob("_aot*.so")
        sources = sorted(str(p.relative_to(kernels.PACKAGE_ROOT)) for package in ("fec", "sdr")
                         for p in (kernels.PACKAGE_ROOT / package).rglob("*.py"))
        manifest = {"sources": kernels.source_digests(sources),
                    "kernels": {name: specs for name, (_, _, _, specs) in exports.items()}}
        for old in target.glob("_aot*.so"):
            old.unlink()
        os.replace(built, target / built.name)
        (target / "_aot.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return len(exports), left


def main() -> int:
    started = time.perf_counter()
    try:
        count, left = build()
    except Exception as exc:  # noqa: BLE001 - any failure leaves the just-in-time kernels in place
        print(f"chaincast: kernels not compiled ahead of time ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "the receiver compiles them just in time", file=sys.stderr)
        return 1
    print(f"chaincast: {count} receiver kernels compiled ahead of time ({time.perf_counter() - started:.1f} s)"
          + (f"; left just in time: {', '.join(left)}" if left else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
