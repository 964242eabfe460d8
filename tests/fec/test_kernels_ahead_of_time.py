"""The receiver's kernels compiled ahead of time (``chaincast.fec.kernels``, built by ``make`` with
``python -m chaincast.rxside.aotbuild``): a reception runs them without numba, a call with other
argument types runs the just-in-time kernel instead of crashing, an edited source retires the
build, and the kernels' tests pass on the just-in-time path too. Each case runs in its own
interpreter: which code a process runs is decided when it imports the kernels."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chaincast.fec import kernels

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "recordings" / "regtest-5blocks-8db.sigmf-meta"
needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the kernels stay just in time")


def _python(code: str, **env) -> str:
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env})
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def _receive(datadir, **env) -> tuple[dict, list[str]]:
    """rx --json on the golden recording in a fresh interpreter: (its JSON, what it says of the kernels)."""
    out = _python(
        "import sys; from chaincast.txside.launcher import main\n"
        f"sys.argv = ['chaincast', 'rx', {str(GOLDEN)!r}, '--chain', 'regtest', '--datadir', {str(datadir)!r}, '--no-state', '--json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "from chaincast.fec import kernels\n"
        "print('compiled', len(kernels.compiled_kernels()), 'numba', 'numba' in sys.modules)", **env)
    lines = out.strip().splitlines()
    return json.loads(lines[-2]), lines[-1].split()


@needs_compiler
def test_a_reception_runs_the_compiled_kernels_without_numba(tmp_path):
    report, kernels_said = _receive(tmp_path / "aot")
    assert report["tip_height"] == 5 and report["kernels"] == "ahead-of-time"
    assert int(kernels_said[1]) >= 20 and kernels_said[3] == "False", kernels_said
    report, kernels_said = _receive(tmp_path / "jit", CHAINCAST_JIT="1")
    assert report["tip_height"] == 5 and report["kernels"] == "just-in-time"
    assert kernels_said[1:] == ["0", "numba", "True"], kernels_said


def test_a_call_with_other_argument_types_runs_the_jit_kernel_instead_of_crashing():
    # a complex128 block where the compiled mean_power takes complex64: the compiled function would
    # read its memory as complex64 (or crash); the check sends it to numba's version
    out = _python(
        "import sys, numpy as np\n"
        "from chaincast.sdr.acquisition import mean_power\n"
        "x = np.full(8, 2 + 0j)\n"
        "print(mean_power(x.astype(np.complex64)), 'numba' in sys.modules)\n"
        "print(mean_power(x), 'numba' in sys.modules)\n"
        "print(mean_power(x[::2].astype(np.complex64)), 'numba' in sys.modules)\n")
    lines = [line.split() for line in out.strip().splitlines()]
    assert [float(a) for a, _ in lines] == [4.0, 4.0, 4.0]
    if kernels.ahead_of_time():  # ahead-of-time code in this environment: numba only after the odd call
        assert [b for _, b in lines] == ["False", "True", "True"]


def test_an_edited_source_retires_the_build():
    if not kernels.MANIFEST.exists():
        pytest.skip("no ahead-of-time build here")
    manifest = json.loads(kernels.MANIFEST.read_text())
    assert kernels.manifest_is_current(manifest)
    first = sorted(manifest["sources"])[0]
    edited = {**manifest, "sources": {**manifest["sources"], first: "0" * 64}}
    assert not kernels.manifest_is_current(edited)
    gone = {**manifest, "sources": {**manifest["sources"], "sdr/no_such_file.py": "0" * 64}}
    assert not kernels.manifest_is_current(gone)


def test_the_kernel_tests_pass_just_in_time_too():
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(REPO / "tests/sdr/test_track_kernels.py"), str(REPO / "tests/sdr/test_psk8.py"),
                          str(REPO / "tests/sdr/test_rx_stages.py"), str(REPO / "tests/sdr/test_interp_and_timing_kernels.py")],
                         capture_output=True, text=True, timeout=900, env={**os.environ, "CHAINCAST_JIT": "1"}, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:]
