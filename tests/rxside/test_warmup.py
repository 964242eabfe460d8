"""The install-time warm-up: after it, a reception compiles nothing (every numba kernel it reaches
is in the cache), so the first run after an install starts as fast as any other."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
GOLDEN = REPO / "recordings" / "regtest-5blocks-8db.sigmf-meta"


def test_after_the_warm_up_a_reception_compiles_nothing(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_DEBUG_CACHE": "1"}
    warm = subprocess.run([sys.executable, "-m", "chaincast.rxside.warmup"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert "receiver kernels compiled and cached" in warm.stdout
    assert "data saved" in warm.stdout + warm.stderr  # an empty cache: it compiled
    rx = subprocess.run([CHAINCAST, "rx", str(GOLDEN), "--chain", "regtest", "--datadir", str(tmp_path / "d"), "--no-state"],
                        env=env, capture_output=True, text=True, timeout=600)
    assert rx.returncode == 0, rx.stderr[-2000:]
    assert "tip 5 " in rx.stdout
    compiled = [line for line in (rx.stdout + rx.stderr).splitlines() if "data saved" in line]
    assert compiled == [], compiled  # every kernel the reception used came from the cache
