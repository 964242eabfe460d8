"""A command's own peak memory, measured by a small launcher process.

A child forked straight from pytest (or from any big process) starts with its parent's resident
memory, and Linux keeps that pre-exec high-water mark in the child's ``ru_maxrss``: in a full test
run, every child then "peaks" at pytest's 1.7 GB. The launcher here is a bare interpreter (about
10 MB); the command it starts inherits only that, so ``RUSAGE_CHILDREN`` is the command's own peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER = """
import json, resource, subprocess, sys, time
argv, cwd, timeout, out, err = json.loads(sys.argv[1])
started = time.monotonic()
with open(out, "w") as stdout, open(err, "w") as stderr:
    try:
        code = subprocess.run(argv, cwd=cwd, stdout=stdout, stderr=stderr, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        code = None
print(json.dumps([code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - started]))
"""


@dataclass(frozen=True)
class Measured:
    returncode: int | None  # None: still running after the timeout (it was killed)
    stdout: str
    stderr: str
    peak_mib: float
    seconds: float


def run_measured(argv: list, cwd: str | Path, timeout_s: float = 600.0) -> Measured:
    """Run ``argv`` in ``cwd`` (its stdout and stderr go to files there, then are read back)."""
    cwd = Path(cwd)
    out, err = cwd / ".measured-stdout", cwd / ".measured-stderr"
    spec = json.dumps([[str(a) for a in argv], str(cwd), timeout_s, str(out), str(err)])
    launcher = subprocess.run([sys.executable, "-c", _LAUNCHER, spec], capture_output=True, text=True,
                              timeout=timeout_s + 60)
    if launcher.returncode != 0:
        raise RuntimeError(f"the measuring launcher failed: {launcher.stderr.strip()}")
    code, peak_kib, seconds = json.loads(launcher.stdout)
    measured = Measured(code, out.read_text(), err.read_text(), peak_kib / 1024, seconds)
    out.unlink()
    err.unlink()
    return measured
