"""Run every fuzz target (tests/fuzz/targets.py) under atheris, each in its own process, and summarise.

    python tests/fuzz/run.py [--seconds 60] [--targets packet,bundle] [--out bench-out/fuzz]
    python tests/fuzz/run.py --reproduce TARGET FILE...     # re-run saved inputs, print what they raise

Per target, under ``--out``/<target>/:

    corpus/     what libFuzzer found interesting (kept between runs; the first corpus directory)
    seeds/      real encodings from the uplink code (rewritten every run)
    crashes/    one input per distinct crash: ``exc-<id>.bin`` (+ ``.txt``: the traceback) for an
                unexpected exception or Violation; libFuzzer's ``timeout-*``, ``oom-*``, ``crash-*``
    fuzz.log    libFuzzer's output

A crash is any exception the target is not registered with, a :class:`Violation`, an input that
runs longer than ``--timeout`` seconds, or a process above ``--rss-limit-mb``. An unexpected
exception is recorded and fuzzing goes on, so one run reports every distinct crash it meets (one
per exception type and place); a hang or an oversized allocation ends libFuzzer, and the target is
restarted for the rest of its time. ``summary.json`` and ``summary.txt`` in ``--out`` give the
executions, seconds and crashes per target. Exit status 1 if any crash was found.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_OUT = REPO / "bench-out" / "fuzz"
ARTIFACT_KINDS = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")
MAX_RESTARTS = 20  # a target that keeps hanging or crashing natively is not restarted for ever
EXECUTED = re.compile(r"stat::number_of_executed_units:\s*(\d+)")


def crash_signature(error: BaseException) -> str:
    """Exception type and the innermost place it came from: one per distinct crash."""
    frames = traceback.extract_tb(error.__traceback__)
    where = "?"
    if frames:
        frame = frames[-1]
        path = Path(frame.filename)
        try:
            path = path.resolve().relative_to(REPO)
        except ValueError:
            pass
        where = f"{path}:{frame.lineno}"
    return f"{type(error).__name__} at {where}"


def record_crash(crash_dir: Path, findings: Path, name: str, data: bytes, error: BaseException) -> str:
    signature = crash_signature(error)
    stem = crash_dir / f"exc-{hashlib.sha256(signature.encode()).hexdigest()[:12]}"
    if not stem.with_suffix(".bin").exists():
        stem.with_suffix(".bin").write_bytes(data)
        text = "".join(traceback.format_exception(error))
        stem.with_suffix(".txt").write_text(f"target: {name}\nsignature: {signature}\n\n{text}")
    with open(findings, "a") as out:
        out.write(json.dumps({"signature": signature, "input": str(stem.with_suffix(".bin")),
                              "error": f"{type(error).__name__}: {error}"[:500]}) + "\n")
    return signature


# ------------------------------------------------------------------------------- one target (child)

def child(name: str, target_dir: Path, findings: Path, libfuzzer_args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["chaincast"]):
        from tests.fuzz.targets import TARGETS

    entry = TARGETS[name]
    crash_dir = target_dir / "crashes"
    seen: set[str] = set()

    def one_input(data: bytes) -> None:
        try:
            entry.check(data)
        except Exception as error:  # every exception the target is not registered with is a crash
            signature = crash_signature(error)
            if signature not in seen:
                seen.add(signature)
                record_crash(crash_dir, findings, name, data, error)
                print(f"\n=== chaincast fuzz: {name}: {signature} ===", file=sys.stderr, flush=True)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


# ------------------------------------------------------------------------------- the runner

def write_seeds(entry, seed_dir: Path) -> int:
    shutil.rmtree(seed_dir, ignore_errors=True)
    seed_dir.mkdir(parents=True)
    seeds = list(entry.seeds())
    for data in seeds:
        (seed_dir / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return len(seeds)


def write_dictionary(tokens: tuple[bytes, ...], path: Path) -> None:
    """libFuzzer's dictionary format: one quoted token a line, other bytes as \\xNN."""
    def quoted(token: bytes) -> str:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in token)
    path.write_text("".join(f'"{quoted(token)}"\n' for token in tokens))


def fuzz_target(entry, out: Path, seconds: float, timeout_s: int, rss_limit_mb: int) -> dict:
    target_dir = out / entry.name
    corpus, seed_dir, crash_dir = target_dir / "corpus", target_dir / "seeds", target_dir / "crashes"
    for folder in (corpus, crash_dir):
        folder.mkdir(parents=True, exist_ok=True)
    n_seeds = write_seeds(entry, seed_dir)
    findings = target_dir / "findings.jsonl"
    findings.write_text("")
    artifacts_before = {p.name for p in crash_dir.iterdir()}
    log_path = target_dir / "fuzz.log"
    executions, spent, restarts, exits = 0, 0.0, 0, []
    with open(log_path, "w") as log, tempfile.TemporaryDirectory(prefix="chaincast-fuzz-") as scratch:
        env = {**os.environ, "TMPDIR": scratch, "PYTHONHASHSEED": "0"}
        while seconds - spent >= 1 and restarts <= MAX_RESTARTS:
            budget = max(1, int(seconds - spent))
            args = [str(corpus), str(seed_dir), f"-max_total_time={budget}", f"-timeout={timeout_s}",
                    f"-rss_limit_mb={rss_limit_mb}", f"-artifact_prefix={crash_dir}/", "-print_final_stats=1"]
            if entry.dictionary:
                write_dictionary(entry.dictionary, target_dir / "tokens.dict")
                args.append(f"-dict={target_dir / 'tokens.dict'}")
            command = [sys.executable, str(Path(__file__).resolve()), "--child", entry.name,
                       "--target-dir", str(target_dir), "--findings", str(findings), "--", *args]
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            start = time.monotonic()
            before = log.tell()
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO).returncode
            spent += time.monotonic() - start
            log.flush()
            with open(log_path) as text:
                text.seek(before)
                counts = EXECUTED.findall(text.read())
            executions += int(counts[-1]) if counts else 0
            exits.append(code)
            if code == 0:
                break
            restarts += 1
    crashes = []
    for line in findings.read_text().splitlines():
        crashes.append({"kind": "exception", **json.loads(line)})
    for path in sorted(crash_dir.iterdir()):
        if path.name not in artifacts_before and path.name.startswith(ARTIFACT_KINDS):
            crashes.append({"kind": path.name.split("-")[0], "signature": path.name.split("-")[0], "input": str(path),
                            "error": f"libFuzzer {path.name.split('-')[0]}"})
    return {
        "target": entry.name,
        "expected": [e.__name__ for e in entry.expected],
        "executions": executions,
        "seconds": round(spent, 1),
        "executions_per_second": round(executions / spent) if spent else 0,
        "seeds": n_seeds,
        "corpus_files": sum(1 for _ in corpus.iterdir()),
        "crashes": crashes,
        "exit_codes": exits,
        "log": str(log_path),
    }


def table(results: list[dict]) -> str:
    head = f"{'target':<16}{'executions':>12}{'seconds':>9}{'exec/s':>8}{'corpus':>8}{'crashes':>9}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['target']:<16}{r['executions']:>12}{r['seconds']:>9.1f}{r['executions_per_second']:>8}"
                     f"{r['corpus_files']:>8}{len(r['crashes']):>9}")
    total_exec = sum(r["executions"] for r in results)
    total_s = sum(r["seconds"] for r in results)
    lines.append("-" * len(head))
    lines.append(f"{'all':<16}{total_exec:>12}{total_s:>9.1f}{'':>8}{'':>8}{sum(len(r['crashes']) for r in results):>9}")
    for r in results:
        for c in r["crashes"]:
            lines.append(f"crash  {r['target']}: {c['signature']} ({c['error']}) -> {c['input']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="fuzzing time per target (default 60)")
    parser.add_argument("--targets", default="", help="comma-separated target names (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus, crashes and summary (default bench-out/fuzz)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (libFuzzer -timeout)")
    parser.add_argument("--rss-limit-mb", type=int, default=2048, help="memory limit (libFuzzer -rss_limit_mb)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--reproduce", nargs="+", metavar=("TARGET", "FILE"), help="run saved inputs through a target")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--target-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--findings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("libfuzzer", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child(args.child, args.target_dir, args.findings, args.libfuzzer)
        return 0

    from tests.fuzz.targets import TARGETS

    if args.list:
        print("\n".join(TARGETS))
        return 0
    if args.reproduce:
        name, *files = args.reproduce
        failed = 0
        for file in files:
            try:
                TARGETS[name].check(Path(file).read_bytes())
                print(f"{file}: no crash")
            except Exception:
                failed += 1
                print(f"{file}: crash\n{traceback.format_exc()}")
        return 1 if failed else 0

    names = [n for n in args.targets.split(",") if n] or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    results = []
    for name in names:
        print(f"fuzzing {name} for {args.seconds:g} s ...", flush=True)
        result = fuzz_target(TARGETS[name], args.out, args.seconds, args.timeout, args.rss_limit_mb)
        print(f"  {result['executions']} executions in {result['seconds']} s, {len(result['crashes'])} crash(es)",
              flush=True)
        results.append(result)
    from importlib.metadata import version

    summary = {
        "date": started.date().isoformat(),
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "tests/fuzz/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "atheris": version("atheris"),
        "seconds_per_target": args.seconds,
        "timeout_s": args.timeout,
        "rss_limit_mb": args.rss_limit_mb,
        "total_seconds": round(sum(r["seconds"] for r in results), 1),
        "targets": results,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = table(results)
    (args.out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"summary: {args.out / 'summary.json'}")
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
