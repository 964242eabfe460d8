"""The receiver's header chain at main's length (``rxside.headerchain`` with ``rxside.store``):
memory and time of

- build: a ``HeaderChain`` fed runs of 2016 headers as the broadcast brings them (each run packed
  and unpacked as on the air, every header checked), written to a state file as the receiver does
  (``on_change`` = ``ReceiverStore.replace_headers``, a commit a run); and the same without a state file;
- reload: a restart's ``HeaderChain(chain, store.headers(), ...)`` from that state file (its runs
  are sealed: not checked again), the state file's own opening apart;
- recheck: the same state file copied without its key file (as a state file passed around): every
  header checked again, then sealed with the new key;
- the resident memory of a process with the chain loaded against the same process without it
  (the same imports, the state file open), and ``HeaderChain.nbytes``;
- ``chaincast rx`` itself on that state file: reading noise (cu8, 2.4 Msps) from standard input,
  the time from spawning it to its ``event=start`` line (written just before it starts reading
  samples: options, imports, libbitcoinkernel, the state file and the header chain are behind it)
  and its peak RSS (VmHWM), against the same run on an empty state file.

The chain: ``--headers`` (930,000, about main's height) headers under regtest's rules (nBits
0x207fffff: about two nonces a header), mined once with hashlib and kept in
/tmp/chaincast-bench/ (80 bytes a header). Every step runs in an interpreter of its own, started
by this small one; its peak RSS is wait4's ru_maxrss for that process alone. Prints a table and
writes bench-out/header_chain.json.

    .venv/bin/python tests/bench/header_chain.py [--headers N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out"
CACHE = Path(tempfile.gettempdir()) / "chaincast-bench"
RUN = 2016  # headers per run on the air (the uplink's default)
HEADER_BYTES = 80
# Bitcoin Core's regtest genesis block header (chainparams.cpp CreateGenesisBlock, regtest)
REGTEST_GENESIS_HEADER = bytes.fromhex(
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
    "67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000")
SPACING_S = 600
REGTEST_BITS = 0x207FFFFF


# ---------------------------------------------------------------------- the steps, one process each
def rss_mb() -> float:
    """This process's resident set now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mine(path: Path, count: int) -> dict:
    """Write ``count`` linked regtest headers from genesis to ``path`` (80 bytes each)."""
    import hashlib
    import struct

    sha = hashlib.sha256
    started = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write(REGTEST_GENESIS_HEADER)
        prev = sha(sha(REGTEST_GENESIS_HEADER).digest()).digest()
        first_time = struct.unpack_from("<I", REGTEST_GENESIS_HEADER, 68)[0]
        batch = bytearray()
        for height in range(1, count):
            head = struct.pack("<i32s32sII", 0x20000000, prev, sha(height.to_bytes(4, "little")).digest(),
                               first_time + SPACING_S * height, REGTEST_BITS)
            nonce = 0
            while True:  # a top byte below 0x7f is below regtest's target (0x7fffff << 232)
                header = head + nonce.to_bytes(4, "little")
                digest = sha(sha(header).digest()).digest()
                if digest[31] < 0x7F:
                    break
                nonce += 1
            batch += header
            prev = digest
            if len(batch) >= 1 << 20:
                out.write(batch)
                batch.clear()
        out.write(batch)
    os.replace(partial, path)
    return {"seconds": time.perf_counter() - started}


def build(chain_file: Path, state: Path | None) -> dict:
    """Feed the chain in runs as received; with a state file as the receiver keeps it."""
    from chaincast.fec.wire.headers import HeadersRun
    from chaincast.rxside.headerchain import HeaderChain
    from chaincast.rxside.store import ReceiverStore

    store = ReceiverStore(state, "regtest") if state is not None else None
    before = rss_mb()
    started = time.perf_counter()
    chain = HeaderChain("regtest", store.headers() if store else [], store.replace_headers if store else None)
    first = 0
    with open(chain_file, "rb") as source:
        while raw := source.read(RUN * HEADER_BYTES):
            outcome = chain.add_run(HeadersRun.unpack(HeadersRun(first, raw).pack()))
            if outcome.rejected or outcome.added != len(raw) // HEADER_BYTES:
                raise SystemExit(f"run from {first}: {outcome}")
            if store is not None:
                store.commit()
            first += len(raw) // HEADER_BYTES
    chain.height_of(chain.hash_at(0))  # the hash index is built on first use
    seconds = time.perf_counter() - started
    if store is not None:
        store.close()
    return {"seconds": seconds, "height": chain.height, "tip": chain.hash_at(chain.height).hex(),
            "nbytes": chain.nbytes, "rss_before_mb": before, "rss_after_mb": rss_mb()}


def reload(state: Path, load: bool = True) -> dict:
    """A restart: open the state file, take its header chain (``load`` False: the same process
    without the chain, to compare)."""
    import random

    from chaincast.rxside.headerchain import HeaderChain
    from chaincast.rxside.store import ReceiverStore

    before = rss_mb()
    started = time.perf_counter()
    store = ReceiverStore(state, "regtest")
    opened = time.perf_counter()
    if not load:
        return {"open_s": opened - started, "rss_before_mb": before, "rss_after_mb": rss_mb()}
    chain = HeaderChain("regtest", store.headers(), store.replace_headers)
    loaded = time.perf_counter()
    store.commit()  # seals made by a check in full
    rng = random.Random(7)
    heights = [rng.randrange(chain.height + 1) for _ in range(10_000)]
    hashes = [chain.hash_at(h) for h in heights]
    indexing = time.perf_counter()
    chain.height_of(hashes[0])  # the hash index is built on first use
    lookup = time.perf_counter()
    found = [chain.height_of(h) for h in hashes]
    misses = [chain.height_of(rng.randbytes(32)) for _ in range(10_000)]
    lookup_s = time.perf_counter() - lookup
    if found != heights or any(m is not None for m in misses):
        raise SystemExit("height_of disagrees with hash_at")
    result = {"open_s": opened - started, "load_s": loaded - opened, "index_s": lookup - indexing, "height": chain.height,
              "tip": chain.hash_at(chain.height).hex(), "nbytes": chain.nbytes, "warnings": store.warnings,
              "height_of_us": lookup_s / 20_000 * 1e6, "rss_before_mb": before, "rss_after_mb": rss_mb()}
    store.close()
    return result


STEPS = {"mine": lambda a: mine(Path(a[0]), int(a[1])),
         "build": lambda a: build(Path(a[0]), Path(a[1]) if len(a) > 1 else None),
         "reload": lambda a: reload(Path(a[0])),
         "baseline": lambda a: reload(Path(a[0]), load=False)}


# ---------------------------------------------------------------------- rx on the state file
RX_NOISE_S = 4.0  # seconds of signal rx reads


def rx_start(state: Path, datadir: Path) -> dict:
    """``chaincast rx -`` on ``state`` (regtest) fed RX_NOISE_S of cu8 noise: seconds from spawn to
    its ``event=start`` line, and its peak RSS."""
    import threading

    import numpy as np
    from rx_speed import vm_hwm_kib  # this script's folder is on sys.path when it runs

    noise = np.random.default_rng(5).normal(127.5, 12.0, int(2 * 2.4e6 * RX_NOISE_S)).clip(0, 255).astype(np.uint8)
    chaincast = str(Path(sys.executable).with_name("chaincast"))
    started = time.perf_counter()
    proc = subprocess.Popen([chaincast, "rx", "-", "--datatype", "cu8", "--sample-rate", "2.4e6", "--chain", "regtest",
                             "--state", str(state), "--datadir", str(datadir), "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict = {}

    def read_log():
        for line in proc.stderr:
            if b"event=start" in line and "start_s" not in seen:
                seen["start_s"] = time.perf_counter() - started
            seen.setdefault("log", []).append(line.decode(errors="replace").rstrip())

    def feed():
        try:
            proc.stdin.write(noise.tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass

    threads = [threading.Thread(target=read_log, daemon=True), threading.Thread(target=feed, daemon=True)]
    for thread in threads:
        thread.start()
    peak_kib = 0
    while proc.poll() is None:
        peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
        time.sleep(0.003)
    out = proc.stdout.read()
    for thread in threads:
        thread.join(5)
    if proc.returncode != 0 or "start_s" not in seen:
        raise SystemExit(f"rx on {state} exited {proc.returncode}: {seen.get('log', [])[-3:]}")
    report = json.loads(out.strip().splitlines()[-1])
    return {"start_s": seen["start_s"], "wall_s": time.perf_counter() - started, "peak_mb": peak_kib / 1024,
            "headers_height": report.get("headers_height"), "samples": int(report["duration_s"] * 2.4e6)}


def rx_starts(state: Path, work: Path, repeats: int = 3) -> dict:
    """Medians of ``rx_start`` on ``state`` (the long chain) and on an empty state file."""
    import statistics

    runs = {"chain": [], "empty": []}
    for i in range(repeats):
        runs["chain"].append(rx_start(state, work / f"datadir-{i}"))
        empty = work / f"empty-{i}" / "rx.sqlite"
        empty.parent.mkdir()
        runs["empty"].append(rx_start(empty, work / f"datadir-empty-{i}"))
    return {name: {"start_s": statistics.median(r["start_s"] for r in rs), "peak_mb": max(r["peak_mb"] for r in rs),
                   "wall_s": statistics.median(r["wall_s"] for r in rs), "headers_height": rs[0]["headers_height"],
                   "runs": rs} for name, rs in runs.items()}


# ---------------------------------------------------------------------- the launcher
def measured(step: str, *args) -> dict:
    """Run one step in a new interpreter: its JSON result, with its wall time and peak RSS."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--step", step, *map(str, args)], stdout=subprocess.PIPE,
                             cwd=REPO, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"step {step} failed ({child.returncode})")
    result = json.loads(out)
    result.update(wall_s=time.perf_counter() - started, peak_mb=usage.ru_maxrss / 1024)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--headers", type=int, default=930_000)
    p.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.step:
        print(json.dumps(STEPS[args.step[0]](args.step[1:])))
        return 0

    CACHE.mkdir(parents=True, exist_ok=True)
    chain_file = CACHE / f"regtest-headers-{args.headers}.bin"
    if not chain_file.exists():
        print(f"mining {args.headers} regtest headers into {chain_file} (once)...", flush=True)
        print(f"  {measured('mine', chain_file, args.headers)['seconds']:.0f} s", flush=True)
    work = Path(tempfile.mkdtemp(prefix="chaincast-header-bench-"))
    try:
        state, foreign = work / "own" / "rx.sqlite", work / "foreign" / "rx.sqlite"
        steps = {"build, no state file": measured("build", chain_file),
                 "build, state file": measured("build", chain_file, state)}
        steps["reload"] = measured("reload", state)
        foreign.parent.mkdir()
        shutil.copy(state, foreign)  # not its key file: as a state file passed around
        steps["recheck (no key)"] = measured("reload", foreign)
        steps["reload after recheck"] = measured("reload", foreign)
        steps["baseline (no chain)"] = measured("baseline", state)
        state_mb = state.stat().st_size / 2**20
        print(f"chaincast rx on the state file and on an empty one ({RX_NOISE_S:g} s of noise each, 3 runs)...", flush=True)
        rx = rx_starts(state, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tips = {s["tip"] for s in steps.values() if "tip" in s}
    if len(tips) != 1 or any(s.get("warnings") for name, s in steps.items() if name.startswith("reload")):
        raise SystemExit(f"the steps disagree: tips {tips}, warnings {[s.get('warnings') for s in steps.values()]}")
    loaded, baseline = steps["reload"], steps["baseline (no chain)"]
    summary = {
        "headers": args.headers,
        "chain_nbytes_mb": loaded["nbytes"] / 2**20,
        "bytes_per_header": loaded["nbytes"] / args.headers,
        "build_s": steps["build, state file"]["seconds"],
        "reload_s": loaded["load_s"],
        "state_open_s": loaded["open_s"],
        "recheck_s": steps["recheck (no key)"]["load_s"],
        "rss_loaded_minus_baseline_mb": loaded["rss_after_mb"] - baseline["rss_after_mb"],
        "peak_reload_minus_baseline_mb": loaded["peak_mb"] - baseline["peak_mb"],
        "index_build_s": loaded["index_s"],
        "height_of_us": loaded["height_of_us"],
        "state_file_mb": state_mb,
        "rx_first_samples_s": rx["chain"]["start_s"],
        "rx_first_samples_empty_state_s": rx["empty"]["start_s"],
        "rx_peak_rss_mb": rx["chain"]["peak_mb"],
        "rx_peak_rss_empty_state_mb": rx["empty"]["peak_mb"],
        "rx_headers_height": rx["chain"]["headers_height"],
    }
    print(f"\n{args.headers:,} regtest headers ({platform.machine()}, python {platform.python_version()})\n")
    print(f"{'step':24} {'seconds':>9} {'RSS before':>11} {'RSS after':>10} {'peak RSS':>9}  (MiB)")
    for name, s in steps.items():
        seconds = s.get("seconds", s.get("load_s", s.get("open_s")))
        print(f"{name:24} {seconds:9.2f} {s['rss_before_mb']:11.1f} {s['rss_after_mb']:10.1f} {s['peak_mb']:9.1f}")
    print(f"\nchain in memory (nbytes): {summary['chain_nbytes_mb']:.1f} MiB, {summary['bytes_per_header']:.1f} bytes a header")
    print(f"RSS with the chain loaded - without: {summary['rss_loaded_minus_baseline_mb']:.1f} MiB now, "
          f"{summary['peak_reload_minus_baseline_mb']:.1f} MiB at the peak")
    print(f"reload {summary['reload_s']:.2f} s (opening the state file {summary['state_open_s']:.2f} s apart; "
          f"the hash index, built at the first height_of, {summary['index_build_s']:.2f} s), "
          f"recheck without the key {summary['recheck_s']:.1f} s")
    print(f"height_of {summary['height_of_us']:.1f} us (half found, half not), state file {state_mb:.0f} MiB")
    print(f"chaincast rx: first samples read {summary['rx_first_samples_s']:.2f} s after spawning it with the chain "
          f"(headers height {summary['rx_headers_height']}), {summary['rx_first_samples_empty_state_s']:.2f} s with an "
          f"empty state file; peak RSS {summary['rx_peak_rss_mb']:.0f} MiB against {summary['rx_peak_rss_empty_state_mb']:.0f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "header_chain.json").write_text(json.dumps({"summary": summary, "steps": steps, "rx": rx}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
