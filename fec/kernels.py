"""Numba kernels, compiled ahead of time at install or just in time.

Every kernel of the receiver is written with ``@kernel(...)`` (numba's ``njit`` options) beside its
readable NumPy reference; functions that kernels call use ``@inline(...)``. ``make`` compiles the
kernels ahead of time into one extension module, ``chaincast.fec._aot`` (``python -m
chaincast.rxside.aotbuild``: numba's pycc, for this machine's processor, with each kernel's own
options), so that a receiver runs them without importing numba: numba, its LLVM code generator and
its cache cost a receiver about 100 MiB of memory and 0.4 s of start-up.

Where the module is missing (no C compiler at install), built from other sources than the ones
here (``_aot.json`` keeps their SHA-256), or ``CHAINCAST_JIT=1`` is set, ``kernel`` is numba's
``njit`` with its on-disk cache, as before.

A compiled function trusts its arguments' types (an array of another dtype crashes the process), so
each call is checked against the signature it was compiled for (dtype, dimensions, C order for
arrays; the kind of each scalar), and a call that does not match runs the just-in-time version.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

AOT_MODULE = "chaincast.fec._aot"
MANIFEST = Path(__file__).with_name("_aot.json")
"""What the build compiled: {"sources": {path relative to the package root: sha256},
"kernels": {export name: [argument spec, ...]}}; an argument spec is ["array", dtype, ndim] or
["int"], ["float"], ["bool"]."""
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the folder holding fec/ and sdr/
JIT_ONLY = os.environ.get("CHAINCAST_JIT", "") not in ("", "0")

REGISTRY: dict[str, tuple] = {}
"""export name -> (Python function, njit options) of every ``@kernel``, for the build."""


def export_name(func) -> str:
    """``sdr.timing._gardner_kernel`` -> ``sdr__timing___gardner_kernel``: unique across modules."""
    module = func.__module__.removeprefix("chaincast.").replace(".", "__")
    return f"{module}__{func.__name__}"


def source_digests(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256((PACKAGE_ROOT / p).read_bytes()).hexdigest() for p in paths}


def manifest_is_current(manifest: dict) -> bool:
    """The build's sources are the ones here (an edited source: its machine code is not theirs)."""
    try:
        return source_digests(manifest["sources"]) == manifest["sources"]
    except (OSError, KeyError, TypeError):
        return False


def _load_compiled():
    """(the compiled module, its manifest's kernels), or (None, {}) when it cannot be used."""
    if JIT_ONLY:
        return None, {}
    try:
        manifest = json.loads(MANIFEST.read_text())
        if not manifest_is_current(manifest):
            return None, {}
        import importlib
        return importlib.import_module(AOT_MODULE), dict(manifest["kernels"])
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None, {}


_COMPILED, _SPECS = _load_compiled()


def ahead_of_time() -> bool:
    """This process runs the ahead-of-time build (where its kernels' argument types match)."""
    return _COMPILED is not None


def kernels_mode() -> str:
    """"ahead-of-time" or "just-in-time": what rx reports (a stale or missing build shows here)."""
    return "ahead-of-time" if ahead_of_time() else "just-in-time"


def compiled_kernels() -> list[str]:
    """Export names of the kernels running ahead-of-time code in this process."""
    return sorted(name for name in REGISTRY if _COMPILED is not None and name in _SPECS
                  and hasattr(_COMPILED, name))


def _matches(value, spec) -> bool:
    kind = spec[0]
    if kind == "array":
        return (isinstance(value, np.ndarray) and value.dtype == np.dtype(spec[1]) and value.ndim == spec[2]
                and value.flags.c_contiguous and value.flags.aligned)
    if kind == "bool":
        return isinstance(value, (bool, np.bool_))
    if kind == "int":
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if kind == "float":
        return isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))
    return False


_INLINE: list[tuple] = []  # (function, njit options) of every @inline, for a switch to JIT
_DISPATCHERS: dict[tuple[str, str], object] = {}


def _switch_to_jit() -> None:
    """Give every kernel and every function kernels call its numba dispatcher, in its module's
    namespace (numba resolves a kernel's callees there when it compiles it)."""
    import sys

    from numba import njit
    for func, options in [*_INLINE, *REGISTRY.values()]:
        key = (func.__module__, func.__name__)
        if key not in _DISPATCHERS:
            _DISPATCHERS[key] = njit(**options)(func)
            setattr(sys.modules[func.__module__], func.__name__, _DISPATCHERS[key])


class _Kernel:
    """A kernel: its ahead-of-time version where the arguments match what it was compiled for,
    else numba's just-in-time one (the whole process switches to just-in-time code then: numba is
    imported, not before)."""

    def __init__(self, func, options: dict, compiled, specs):
        self.py_func = func
        self.options = options
        self._compiled = compiled
        self._specs = specs
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__

    @property
    def jit(self):
        _switch_to_jit()
        return _DISPATCHERS[(self.py_func.__module__, self.py_func.__name__)]

    def __call__(self, *args):
        specs = self._specs
        if self._compiled is not None and len(args) == len(specs) and all(map(_matches, args, specs)):
            return self._compiled(*args)
        return self.jit(*args)


def kernel(**options):
    """``@kernel(cache=True, nogil=True, ...)``: a kernel callable from Python (see the module
    docstring); in a just-in-time process (or during the build) exactly ``numba.njit(**options)``."""
    def wrap(func):
        name = export_name(func)
        REGISTRY[name] = (func, options)
        if _COMPILED is None:
            from numba import njit
            return njit(**options)(func)
        compiled = getattr(_COMPILED, name, None) if name in _SPECS else None  # None: not built (the uplink's)
        return _Kernel(func, options, compiled, _SPECS.get(name, []))
    return wrap


def inline(**options):
    """``@inline(...)``: a function only kernels call, compiled into them. In a process running
    ahead-of-time code nothing calls it, so it stays a plain function (numba is not imported)
    until a call falls back to just-in-time code."""
    def wrap(func):
        _INLINE.append((func, options))
        if _COMPILED is not None:
            return func
        from numba import njit
        return njit(**options)(func)
    return wrap
