"""`make bench` part 4: the receiver's speed, memory and start-up as a user meets them, against the
targets (`chaincast rx` in its own process, pinned with taskset; medians of REPEATS runs).

Workloads (2.4 Msps cu8, about AIR_S seconds each, made once by `chaincast tx` and `chaincast
channel`): mainnet blocks 0..438 in QPSK 3/5 at Es/N0 4 dB and 2.5 dB (the peers' workload:
gr-dvbs2rx 8.9x on one core, leandvb 14x on two), noise alone (the receiver searching), and 8PSK
2/3 at 8 dB. For each: the receive loop's own real-time factor (rx's `--json`: seconds of signal
/ seconds in the loop), the process's (seconds of signal / wall time from spawn to exit: imports,
numba's cache, libbitcoinkernel and exit included), and the peak RSS (the process's VmHWM). With
the kernels compiled ahead of time (``chaincast.fec.kernels``), the 4 dB workload once more with
``CHAINCAST_JIT=1`` (numba's just-in-time kernels), for comparison. Start-up: `chaincast rx
--help` to exit, and a cold first run (an empty numba cache) against a warm one on a short
recording.

Writes bench-out/rx_speed.json and prints a table with the targets beside the figures.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from chaincast.fec import kernels

REPO = Path(__file__).resolve().parents[2]
MAINNET = REPO.parent / "shared" / "data" / "blocks" / "bitcoinj" / "first-100k-blocks.dat"
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
OUT = REPO / "bench-out"
REPEATS = 3
AIR_S = 20.0  # seconds of signal per workload: start-up is then a fair share of the process's time, as for a user
ONE_CORE, TWO_CORES = "0", "0,1"

TARGETS = {  # (figure, target, higher is better)
    "qpsk-3/5 4 dB, one core": 10.0, "qpsk-3/5 2.5 dB, one core": 10.0, "noise, one core": 10.0,
    "8psk-2/3 8 dB, one core": 6.0, "qpsk-3/5 4 dB, two cores": 15.0,
}
RSS_TARGET_MB = 150.0
HELP_TARGET_S = 0.3
COLD_TARGET_S = 2.0
FIRST_SAMPLES_TARGET_S = 1.0


def header_chain_summary() -> dict | None:
    """tests/bench/header_chain.py's summary (rx with main's number of headers kept), if it ran."""
    try:
        return json.loads((OUT / "header_chain.json").read_text())["summary"]
    except (FileNotFoundError, KeyError, ValueError):
        return None


def run(args: list[str], cores: str, env: dict | None = None, timeout_s: float = 900) -> tuple[float, float, str, str, int]:
    """(wall seconds spawn to exit, peak RSS MiB, stdout, stderr, exit status) of one process.

    The peak is the process's own high-water mark (VmHWM, read every few milliseconds until it
    exits): wait4's ru_maxrss would also count this bench's own memory at the fork."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(["taskset", "-c", cores, *args], stdout=out, stderr=err,
                                env={**os.environ, **(env or {})})
        deadline = started + timeout_s
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                raise SystemExit(f"{' '.join(args)}: no exit within {timeout_s:g} s")
            time.sleep(0.003)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, peak_kib / 1024, out.read(), err.read(), proc.returncode


def vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_model() -> str:
    """The processor's name (/proc/cpuinfo): a shared machine's figures are only comparable on the same model."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def make_workloads(folder: Path) -> dict[str, Path]:
    """name -> received recording (.sigmf-meta)."""
    made = {}
    for name, modcod, esn0 in (("qpsk-3/5 4 dB", "qpsk-3/5", 4.0), ("qpsk-3/5 2.5 dB", "qpsk-3/5", 2.5),
                               ("8psk-2/3 8 dB", "8psk-2/3", 8.0)):
        clean = folder / f"{modcod.replace('/', '_')}-up.sigmf-meta"
        if not clean.exists():
            probe = folder / "probe.sigmf-meta"  # two passes, to learn how long a pass is on air
            subprocess.run([CHAINCAST, "tx", "--source", str(MAINNET), "--chain", "main", "--modcod", modcod,
                            "--passes", "2", "--out", str(probe)], check=True, capture_output=True)
            air_2 = sample_count(probe) / 2.4e6
            passes = max(2, round(2 * AIR_S / air_2))
            subprocess.run([CHAINCAST, "tx", "--source", str(MAINNET), "--chain", "main", "--modcod", modcod,
                            "--passes", str(passes), "--out", str(clean)], check=True, capture_output=True)
            probe.with_suffix(".sigmf-data").unlink()
        noisy = folder / f"{name.replace(' ', '_').replace('/', '_')}.sigmf-meta"
        subprocess.run([CHAINCAST, "channel", str(clean), str(noisy), "--esn0-db", str(esn0), "--cfo-hz", "20e3",
                        "--clock-ppm", "30", "--seed", "2"], check=True, capture_output=True)
        made[name] = noisy
    for up in folder.glob("*-up.sigmf-data"):
        up.unlink()
    # noise alone: what a receiver gets with the dish pointed away, as long as the 4 dB workload
    reference = made["qpsk-3/5 4 dB"]
    noise = folder / "noise.sigmf-meta"
    shutil.copy(reference, noise)
    rng = np.random.default_rng(5)
    n = reference.with_suffix(".sigmf-data").stat().st_size
    with open(noise.with_suffix(".sigmf-data"), "wb") as f:
        for start in range(0, n, 1 << 24):
            chunk = rng.normal(127.5, 40.0, min(1 << 24, n - start))
            f.write(np.clip(np.rint(chunk), 0, 255).astype(np.uint8).tobytes())
    made["noise"] = noise
    return made


def sample_count(meta: Path) -> int:
    info = json.loads(meta.read_text())["global"]
    size = meta.with_suffix(".sigmf-data").stat().st_size
    return size // (2 if info["core:datatype"] == "cu8" else 8)


def receive(recording: Path, cores: str, datadir: Path, env: dict | None = None) -> dict:
    shutil.rmtree(datadir, ignore_errors=True)
    wall, rss, out, err, code = run([CHAINCAST, "rx", str(recording), "--chain", "main", "--datadir", str(datadir),
                                     "--no-state", "--json"], cores, env)
    if code != 0:
        raise SystemExit(f"rx {recording.name} exited {code}: {err.strip()[-400:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {"process_s": wall, "loop_s": report["wall_s"], "air_s": report["duration_s"], "peak_rss_mb": rss,
            "frames_ok": report["frames_ok"], "frames_failed": report["frames_failed"], "tip": report["tip_height"]}


def median_runs(recording: Path, cores: str, datadir: Path, env: dict | None = None) -> dict:
    env = {"NUMBA_NUM_THREADS": str(len(cores.split(","))), **(env or {})}
    receive(recording, cores, datadir, env)  # warm: numba's cache, the page cache
    runs = [receive(recording, cores, datadir, env) for _ in range(REPEATS)]
    air = runs[0]["air_s"]
    return {"air_s": air, "process_x": statistics.median(air / r["process_s"] for r in runs),
            "loop_x": statistics.median(air / r["loop_s"] for r in runs),
            "process_runs_s": [round(r["process_s"], 3) for r in runs],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "frames_ok": runs[0]["frames_ok"],
            "frames_failed": runs[0]["frames_failed"], "tip": runs[0]["tip"]}


def startup(folder: Path, short: Path, datadir: Path) -> dict:
    """rx --help; the compilation an empty numba cache costs a first run; the first run after the
    install's warm-up (``python -m chaincast.rxside.warmup``, what ``make`` runs) against a warm one."""
    helps = [run([CHAINCAST, "rx", "--help"], ONE_CORE)[0] for _ in range(7)]
    cache = folder / "numba-cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    colds, warms, after_warmups, warmups = [], [], [], []
    for _ in range(REPEATS):
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir()
        colds.append(receive(short, ONE_CORE, datadir, env)["process_s"])
        warms.append(receive(short, ONE_CORE, datadir, env)["process_s"])
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir()
        warmups.append(run([sys.executable, "-m", "chaincast.rxside.warmup"], ONE_CORE, env)[0])
        after_warmups.append(receive(short, ONE_CORE, datadir, env)["process_s"])
    return {"rx_help_s": statistics.median(helps), "cold_run_s": statistics.median(colds),
            "warm_run_s": statistics.median(warms), "cold_compile_s": statistics.median(c - w for c, w in zip(colds, warms)),
            "install_warmup_s": statistics.median(warmups),
            "first_run_after_install_extra_s": statistics.median(a - w for a, w in zip(after_warmups, warms))}


def main() -> int:
    if not MAINNET.exists():
        print(f"bench needs the shared data: {MAINNET}", file=sys.stderr)
        return 1
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("making the workloads ...", file=sys.stderr)
        workloads = make_workloads(folder)
        results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} cores",
                         "air_s_target": AIR_S, "workloads": {},
                         "kernels": "ahead of time" if kernels.ahead_of_time() else "just in time"}
        for name, recording in workloads.items():
            for cores, label in ((ONE_CORE, "one core"), (TWO_CORES, "two cores")):
                if label == "two cores" and name != "qpsk-3/5 4 dB":
                    continue
                print(f"rx {name}, {label} ...", file=sys.stderr)
                results["workloads"][f"{name}, {label}"] = median_runs(recording, cores, folder / "datadir")
        if kernels.ahead_of_time():  # the same receiver with numba's just-in-time kernels, for comparison
            print("rx qpsk-3/5 4 dB, one core, just in time ...", file=sys.stderr)
            results["workloads"]["qpsk-3/5 4 dB, one core, CHAINCAST_JIT=1"] = median_runs(
                workloads["qpsk-3/5 4 dB"], ONE_CORE, folder / "datadir", {"CHAINCAST_JIT": "1"})
        short = folder / "short.sigmf-meta"  # the first 2 s of the 4 dB workload: start-up dominates
        shutil.copy(workloads["qpsk-3/5 4 dB"], short)
        with open(workloads["qpsk-3/5 4 dB"].with_suffix(".sigmf-data"), "rb") as f:
            short.with_suffix(".sigmf-data").write_bytes(f.read(int(2 * 2.4e6) * 2))
        print("start-up ...", file=sys.stderr)
        results["startup"] = startup(folder, short, folder / "datadir")
    (OUT / "rx_speed.json").write_text(json.dumps(results, indent=1))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    rows = []
    for name, r in results["workloads"].items():
        target = TARGETS.get(name)
        holds = "" if target is None else ("yes" if r["process_x"] >= target else f"no ({r['process_x'] / target:.0%})")
        rows.append((f"rx {name}", f"{r['process_x']:.2f}x", f"{r['loop_x']:.2f}x",
                     f">= {target:g}x" if target else "", holds,
                     f"{r['frames_ok']} ok / {r['frames_failed']} failed, tip {r['tip']}, peak {r['peak_rss_mb']:.0f} MiB"))
    peak = max(r["peak_rss_mb"] for name, r in results["workloads"].items() if "CHAINCAST_JIT" not in name)
    rows.append(("peak RSS, any workload", f"{peak:.0f} MiB", "", f"<= {RSS_TARGET_MB:g} MiB",
                 "yes" if peak <= RSS_TARGET_MB else f"no ({peak / RSS_TARGET_MB:.1f}x)", "VmHWM of the rx process (the comparison run excepted)"))
    s = results["startup"]
    rows.append(("rx --help", f"{s['rx_help_s']:.3f} s", "", f"<= {HELP_TARGET_S:g} s",
                 "yes" if s["rx_help_s"] <= HELP_TARGET_S else "no", "spawn to exit, median of 7"))
    rows.append(("compilation, empty numba cache", f"{s['cold_compile_s']:.2f} s", "", f"<= {COLD_TARGET_S:g} s, or at install",
                 "at install", f"a first run {s['cold_run_s']:.2f} s against a warm one {s['warm_run_s']:.2f} s (2 s of signal); "
                 f"make compiles the kernels once at install ({s['install_warmup_s']:.1f} s)"))
    extra = s["first_run_after_install_extra_s"]
    rows.append(("first run after install", f"{extra:+.2f} s", "", f"<= {COLD_TARGET_S:g} s of compilation",
                 "yes" if extra <= COLD_TARGET_S else "no", "its wall time less a warm run's"))
    chain = header_chain_summary()
    if chain is not None:
        rows.append((f"rx first samples, {chain['headers']:,} headers kept", f"{chain['rx_first_samples_s']:.2f} s", "",
                     f"<= {FIRST_SAMPLES_TARGET_S:g} s", "yes" if chain["rx_first_samples_s"] <= FIRST_SAMPLES_TARGET_S else "no",
                     f"spawn to rx's event=start; {chain['rx_first_samples_empty_state_s']:.2f} s on an empty state file "
                     f"(tests/bench/header_chain.py)"))
        rss = chain["rx_peak_rss_mb"]
        rows.append((f"rx peak RSS, {chain['headers']:,} headers kept", f"{rss:.0f} MiB", "", f"<= {RSS_TARGET_MB:g} MiB",
                     "yes" if rss <= RSS_TARGET_MB else f"no ({rss / RSS_TARGET_MB:.1f}x)",
                     f"{chain['rx_peak_rss_empty_state_mb']:.0f} MiB on an empty state file; the chain itself "
                     f"{chain['chain_nbytes_mb']:.0f} MiB ({chain['bytes_per_header']:.0f} B a header)"))
    print(f"\nchaincast rx speed ({results['date']}, {results['machine']}; kernels {results['kernels']}; process = "
          f"signal seconds / wall seconds spawn to exit; loop = rx's own --json figure)\n")
    print("| measure | process | loop | target | holds | note |\n|---|---:|---:|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nJSON: {OUT / 'rx_speed.json'}")


if __name__ == "__main__":
    sys.exit(main())
