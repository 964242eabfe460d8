"""``chaincast rx``: receive a recording and deliver validated blocks to a Bitcoin Core datadir, and
optionally on to a running bitcoind or a folder (``--sink``)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import tomllib

from chaincast.fec.wire.profile import DEFAULT_PROFILE, PROFILES, Profile
from chaincast.rxside.bitcoind import DEFAULT_RPC_PORTS, BitcoinRpc
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.inbox import Inbox, parse_broadcaster_key
from chaincast.rxside.kernel import CHAINS, ChainDelivery
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.sinks import FolderSink, RpcSink, SinkDelivery
from chaincast.rxside.source import SAMPLE_RATE_RANGE_HZ, FileSource
from chaincast.rxside.assembler import DEFAULT_DISK_BUDGET, DEFAULT_MEMORY_BUDGET
from chaincast.rxside.store import ReceiverStore, StoreError, set_aside
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.rxside.live import DEFAULT_RING_SECONDS, DEFAULT_SAMPLE_RATE_HZ, LiveInput
from chaincast.rxside.logfmt import EventLog
from chaincast.rxside.runloop import StopSignals, default_overflow, input_figures, receive_file, receive_live
from chaincast.rxside.sources import open_live, parse_source
from chaincast.rxside.status import MetricsServer, parse_listen_address
from chaincast.rxside.tuningargs import (FREQUENCY_FORMS, add_tuning_arguments, refuse_tuning_for_stdin, tuning_from_args,
                                         tuning_given)

EXIT_SINK_PENDING = 75  # sysexits.h EX_TEMPFAIL: validated blocks wait for a sink that was down; run again
MAX_SAMPLES_PER_SYMBOL = 64  # the matched filter and the timing loop grow with it; more only costs time and memory
CHUNK_SAMPLES_RANGE = (1, 1 << 24)
STATE_BUDGET_MB_RANGE = (1, 1 << 20)  # MiB of symbols: 1 MiB to 1 TiB
MAX_SINK_WAIT_S = 86400.0
BUFFER_SECONDS_RANGE = (0.1, 60.0)
MAX_CONFIG_BYTES = 1 << 20


def parse_with_config(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The command line over the settings of ``--config FILE.toml`` (keys: the long options, with
    - or _; ``source`` for SOURCE); ReceiverError naming the file and the key for anything wrong."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if known.config is not None:
        settings = load_config(Path(known.config), parser)
        given = options_given(parser, argv)
        for form in FREQUENCY_FORMS:  # --freq on the command line replaces the file's downlink and LO, and the reverse
            if given & set(form):
                for other in FREQUENCY_FORMS:
                    if other is not form:
                        for dest in other:
                            settings.pop(dest, None)
        parser.set_defaults(**settings)
        for action in parser._actions:  # a required option the file gives is not required on the command line
            if action.dest in settings and action.required:
                action.required = False
    args = parser.parse_args(argv)
    if args.input is None:
        parser.error("a SOURCE is needed (a recording, -, rtl_tcp://HOST:PORT, rtlsdr://, soapy://), or 'source' in --config")
    return args


def options_given(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests the command line sets (parsed with every default suppressed, nothing required)."""
    saved = [(action, action.default, action.required) for action in parser._actions]
    try:
        for action in parser._actions:
            action.default, action.required = argparse.SUPPRESS, False
        given, _ = parser.parse_known_args(argv)
    finally:
        for action, default, required in saved:
            action.default, action.required = default, required
    return set(vars(given))


def load_config(path: Path, parser: argparse.ArgumentParser) -> dict:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ReceiverError(f"--config {path}: not a regular file")
        if size > MAX_CONFIG_BYTES:
            raise ReceiverError(f"--config {path}: {size} bytes; a receiver config is a few lines")
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise ReceiverError(f"--config {path}: no such file") from None
    except OSError as bad:
        raise ReceiverError(f"--config {path}: cannot read ({bad.strerror or bad})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as bad:
        raise ReceiverError(f"--config {path}: not TOML ({str(bad).splitlines()[0] if str(bad) else type(bad).__name__})") from None
    actions = {action.dest: action for action in parser._actions if action.dest not in ("help", "config")}
    settings = {}
    for key, value in table.items():
        dest = "input" if key == "source" else key.replace("-", "_")
        action = actions.get(dest)
        if action is None or dest == "chunk_samples":
            raise ReceiverError(f"--config {path}: unknown setting {key!r}")
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise ReceiverError(f"--config {path}: {key} must be true or false")
        elif isinstance(value, (dict, list)) or isinstance(value, bool):
            raise ReceiverError(f"--config {path}: {key} must be a single value")
        else:
            try:
                value = action.type(str(value)) if action.type is not None else str(value)
            except (ValueError, TypeError, argparse.ArgumentTypeError) as bad:
                raise ReceiverError(f"--config {path}: {key} = {value!r}: {bad}") from None
            if action.choices is not None and value not in action.choices:
                raise ReceiverError(f"--config {path}: {key} = {value!r}: choose from {', '.join(map(str, action.choices))}")
        settings[dest] = value
    return settings


def refuse_tuning_for_recording(args: argparse.Namespace) -> None:
    given = tuning_given(args) + [f"--{name.replace('_', '-')}" for name in ("overflow", "seconds")
                                  if getattr(args, name) is not None]
    if given:
        raise ReceiverError(f"{given[0]} is for a live source (rtl_tcp://, rtlsdr://, soapy://, -), not a recording")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chaincast rx", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Receive chaincast from a radio (rtlsdr://, rtl_tcp://, soapy://), raw IQ on standard input or "
                    "a recording, and deliver the blocks libbitcoinkernel validates.",
        epilog="sinks: every block is validated by libbitcoinkernel into --datadir first; a sink then gets\n"
               "the datadir's validated chain in height order, never a block that failed.\n"
               "--sink rpc: submitblock to a running bitcoind (cookie: --rpc-cookie, else DATADIR[/CHAIN]/.cookie,\n"
               "else ~/.bitcoin[/CHAIN]/.cookie; or --rpc-user and --rpc-password).\n"
               "--sink folder: raw blocks as DIR/<height>-<hash>.blk.\n"
               "A sink that is down is retried; what it could not take stays in the datadir and goes to it on\n"
               "the next run (exit status 75 until then).")
    p.add_argument("input", nargs="?", metavar="SOURCE",
                   help="a recording (.sigmf-meta, .cu8, .cf32), - for raw IQ on standard input, rtl_tcp://HOST:PORT, "
                        "rtlsdr://[INDEX|SERIAL] or soapy://ARGS (or 'source' in --config)")
    p.add_argument("--config", metavar="FILE.toml",
                   help="receiver settings: any long option as key = value (source = \"rtl_tcp://...\", chain = \"main\", "
                        "gain = 40, ...); the command line wins")
    p.add_argument("--chain", required=True, choices=sorted(CHAINS), help="which Bitcoin network the blocks belong to")
    p.add_argument("--datadir", required=True, help="Bitcoin Core data directory to deliver validated blocks into")
    p.add_argument("--sample-rate", type=float,
                   help=f"sample rate in Hz (raw files and live sources, default {DEFAULT_SAMPLE_RATE_HZ:g} for these; "
                        f"{SAMPLE_RATE_RANGE_HZ[0]:g} to {SAMPLE_RATE_RANGE_HZ[1]:g}, and at most {MAX_SAMPLES_PER_SYMBOL} "
                        f"samples per symbol)")
    p.add_argument("--datatype", choices=["cu8", "cf32_le"],
                   help="raw sample format: for standard input (default cu8) and raw files with other suffixes than .cu8/.cf32")
    p.add_argument("--symbol-rate", type=float, help="symbol rate in baud (default: from metadata, else the profile's)")
    p.add_argument("--profile", default=None, choices=sorted(PROFILES), help="link profile (default: from metadata)")
    p.add_argument("--search-hz", type=float, default=0.0,
                   help="scan for the carrier over +-HZ (LNBs that drift beyond +-30%% of the symbol rate); "
                        "the sample rate must hold the signal anywhere in that range")
    p.add_argument("--state", help="receiver state file (default: chaincast-rx.sqlite in the chain's datadir): "
                                   "partial objects and the position to resume from survive a stop or a crash")
    p.add_argument("--no-state", action="store_true", help="keep nothing on disk but the validated blocks")
    p.add_argument("--reset-state", action="store_true",
                   help="move the state file aside (NAME.damaged-TIME) and start a new one: for a state file rx refuses")
    p.add_argument("--state-budget-mb", type=float, default=None, metavar="MB",
                   help=f"partial objects' symbols kept, in MiB (default {DEFAULT_DISK_BUDGET >> 20} in the state file, "
                        f"{DEFAULT_MEMORY_BUDGET >> 20} in memory with --no-state); the least recently heard go first")
    p.add_argument("--from-start", action="store_true", help="read the recording from its start even if the state "
                                                             "says where an earlier run stopped")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--frames-log", help="write one JSON line per decoded PL frame to this file (time, MODCOD, Es/N0, CFO, outcome)")
    p.add_argument("--broadcaster-key", metavar="HEX",
                   help="the broadcaster's BIP-340 x-only public key (64 hex digits, from 'chaincast tx keygen'): files and "
                        "messages signed by it are saved in --inbox; without it every file and message is counted and dropped")
    p.add_argument("--inbox", help="folder for verified files and messages (default: DATADIR/chaincast-inbox); an existing "
                                   "file is never overwritten (a -1, -2 ... suffix is added)")
    sink = p.add_argument_group("delivery sinks")
    sink.add_argument("--sink", choices=["datadir", "rpc", "folder"], default="datadir",
                      help="where validated blocks go besides --datadir (default: only there)")
    sink.add_argument("--rpc-url", metavar="URL", help="bitcoind's JSON-RPC server (default: http://127.0.0.1 on the chain's default port, "
                                        "8332 for main, 18443 for regtest)")
    sink.add_argument("--rpc-cookie", metavar="PATH", help="bitcoind's cookie file (default: .cookie in the chain's "
                                                            "datadir if there, else in ~/.bitcoin's)")
    sink.add_argument("--rpc-user", metavar="USER", help="rpcuser (with --rpc-password, instead of the cookie)")
    sink.add_argument("--rpc-password", metavar="PASSWORD", help="rpcpassword (visible to other local users in the process list: prefer the cookie)")
    sink.add_argument("--out", metavar="DIR", help="the folder for --sink folder")
    sink.add_argument("--sink-wait", type=float, default=10.0, metavar="S",
                      help=f"seconds to keep retrying a sink that is down when the input ends or rx is stopped (default 10, "
                           f"at most {MAX_SINK_WAIT_S:g})")
    add_tuning_arguments(p, sample_rate=False)
    live = p.add_argument_group("live reception")
    live.add_argument("--buffer-seconds", type=float, default=DEFAULT_RING_SECONDS, metavar="S",
                      help=f"input held between the radio and the demodulator (default {DEFAULT_RING_SECONDS:g} s); when "
                           f"processing falls behind, the oldest samples are dropped and counted")
    live.add_argument("--overflow", choices=["drop", "wait"], default=None,
                      help="when the buffer is full: drop the oldest samples (radios, pipes) or make the source wait "
                           "(the default for a file redirected to standard input)")
    live.add_argument("--seconds", type=float, default=None, metavar="S", help="stop after S seconds of running (wall clock), input or not")
    live.add_argument("--metrics", metavar="HOST:PORT",
                      help="serve Prometheus metrics (/metrics) and the status as JSON (/status) over HTTP")
    live.add_argument("--status-interval", type=float, default=10.0, metavar="S",
                      help="seconds between status log lines when stdout is not a terminal (default 10)")
    p.add_argument("--chunk-samples", type=int, default=1 << 19, help=argparse.SUPPRESS)
    return p


def check_options(args: argparse.Namespace) -> None:
    """The numbers and option combinations, before any file is looked at: ReceiverError naming the option."""
    for option, value in (("--sample-rate", args.sample_rate), ("--symbol-rate", args.symbol_rate)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ReceiverError(f"{option} {value:g}: must be a positive finite number")
    if not (math.isfinite(args.search_hz) and args.search_hz >= 0):
        raise ReceiverError(f"--search-hz {args.search_hz:g}: must be a finite number of Hz, 0 or more")
    if not (math.isfinite(args.sink_wait) and 0 <= args.sink_wait <= MAX_SINK_WAIT_S):
        raise ReceiverError(f"--sink-wait {args.sink_wait:g}: must be 0 to {MAX_SINK_WAIT_S:g} seconds")
    if not (math.isfinite(args.buffer_seconds) and BUFFER_SECONDS_RANGE[0] <= args.buffer_seconds <= BUFFER_SECONDS_RANGE[1]):
        raise ReceiverError(f"--buffer-seconds {args.buffer_seconds:g}: must be {BUFFER_SECONDS_RANGE[0]:g} to "
                            f"{BUFFER_SECONDS_RANGE[1]:g} s")
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ReceiverError(f"--seconds {args.seconds:g}: must be a positive number of seconds")
    if not (math.isfinite(args.status_interval) and 0.1 <= args.status_interval <= 86400):
        raise ReceiverError(f"--status-interval {args.status_interval:g}: must be 0.1 to 86400 s")
    low, high = CHUNK_SAMPLES_RANGE
    if not low <= args.chunk_samples <= high:
        raise ReceiverError(f"--chunk-samples {args.chunk_samples}: must be {low} to {high}")
    for option in ("datadir", "state", "frames_log", "inbox", "out", "rpc_cookie"):
        if getattr(args, option) == "":
            raise ReceiverError(f"--{option.replace('_', '-')}: an empty path")
    if args.no_state and args.state is not None:
        raise ReceiverError("give --state FILE or --no-state, not both")
    if args.no_state and args.reset_state:
        raise ReceiverError("--reset-state is for a state file; --no-state keeps none")
    if args.state_budget_mb is not None and not (math.isfinite(args.state_budget_mb)
                                                 and STATE_BUDGET_MB_RANGE[0] <= args.state_budget_mb <= STATE_BUDGET_MB_RANGE[1]):
        raise ReceiverError(f"--state-budget-mb {args.state_budget_mb:g}: must be {STATE_BUDGET_MB_RANGE[0]} to "
                            f"{STATE_BUDGET_MB_RANGE[1]} MiB")
    if args.inbox is not None and args.broadcaster_key is None:
        raise ReceiverError("--inbox is for --broadcaster-key (without a key nothing is saved there)")
    rpc_given = [f"--{name.replace('_', '-')}" for name in ("rpc_url", "rpc_cookie", "rpc_user", "rpc_password")
                 if getattr(args, name) is not None]
    if args.sink != "rpc" and rpc_given:
        raise ReceiverError(f"{rpc_given[0]} is for --sink rpc")
    if args.sink != "folder" and args.out is not None:
        raise ReceiverError("--out is for --sink folder")
    if args.sink == "folder" and args.out is None:
        raise ReceiverError("--sink folder needs --out DIR")
    if (args.rpc_user is None) != (args.rpc_password is None):
        raise ReceiverError("--rpc-user and --rpc-password go together")
    if args.rpc_user is not None and args.rpc_cookie is not None:
        raise ReceiverError("give --rpc-cookie or --rpc-user/--rpc-password, not both")


def check_rates(args: argparse.Namespace, source: FileSource) -> tuple[Profile, float]:
    """The link profile and the symbol rate in baud; ReceiverError unless the recording's sample rate
    holds the signal (>= (1 + roll-off) x symbol rate, at most MAX_SAMPLES_PER_SYMBOL per symbol),
    and the signal stays inside it over the whole --search-hz range."""
    where = source.meta_path or source.data_path
    profile_name = args.profile if args.profile is not None else source.info.profile
    if profile_name is None:
        profile_name = DEFAULT_PROFILE.name
    if profile_name not in PROFILES:
        shown = repr(profile_name) if len(repr(profile_name)) <= 40 else repr(profile_name)[:37] + "..."
        raise ReceiverError(f"{where}: unknown profile {shown} in metadata (known: {', '.join(sorted(PROFILES))})")
    profile = PROFILES[profile_name]
    if args.symbol_rate is not None:
        symbol_rate, origin = args.symbol_rate, "--symbol-rate"
    elif source.info.symbol_rate_hz is not None:
        symbol_rate, origin = source.info.symbol_rate_hz, f"{where}: chaincast:symbol_rate"
    else:
        symbol_rate, origin = profile.symbol_rate_hz, f"profile {profile.name}'s symbol rate"
    sample_rate = source.info.sample_rate_hz
    if sample_rate < (1 + profile.rolloff) * symbol_rate:
        raise ReceiverError(f"sample rate {sample_rate:g} Hz is below (1 + roll-off) x symbol rate {symbol_rate:g} baud "
                            f"({origin})")
    if sample_rate / symbol_rate > MAX_SAMPLES_PER_SYMBOL:
        raise ReceiverError(f"sample rate {sample_rate:g} Hz is {sample_rate / symbol_rate:g} samples per symbol at "
                            f"{symbol_rate:g} baud ({origin}); the receiver takes at most {MAX_SAMPLES_PER_SYMBOL}")
    reach_hz = sample_rate / 2 - (1 + profile.rolloff) * symbol_rate / 2
    if args.search_hz > reach_hz:
        raise ReceiverError(f"--search-hz {args.search_hz:g}: at {sample_rate:g} samples/s the signal "
                            f"stays inside the recording only within +-{max(reach_hz, 0):g} Hz")
    return profile, symbol_rate


def check_paths(args: argparse.Namespace, source: FileSource, chain_dir: Path) -> None:
    """Every path rx will write is of the right kind, before anything is created: the datadir and
    the folders in it, --inbox, --out, the state file, --frames-log, --rpc-cookie; and no output
    overwrites the recording or the state file. ReceiverError naming the option otherwise."""
    _check_folder("--datadir", args.datadir)
    _check_folder("--datadir", args.datadir, chain_dir)
    if os.path.isdir(chain_dir):
        for name in ("blocks", "chainstate"):
            inside = chain_dir / name
            if os.path.lexists(inside) and not inside.is_dir():
                raise ReceiverError(f"--datadir {args.datadir}: {inside} is not a folder, so not a Bitcoin Core datadir")
    if args.broadcaster_key is not None:
        _check_folder("--inbox", args.inbox or Path(args.datadir) / "chaincast-inbox")
    if args.out is not None:
        _check_folder("--out", args.out)
    state = None if args.no_state else Path(args.state) if args.state is not None else chain_dir / "chaincast-rx.sqlite"
    if state is not None:
        _check_file("--state", state, make_parents=True)
    if args.frames_log is not None:
        _check_file("--frames-log", Path(args.frames_log), make_parents=False)
    if args.rpc_cookie is not None and os.path.isdir(args.rpc_cookie):
        raise ReceiverError(f"--rpc-cookie {args.rpc_cookie}: is a folder, not a cookie file")
    recording = [path for path in (source.meta_path, source.data_path) if path is not None]
    outputs = [("--state", state), ("--frames-log", args.frames_log and Path(args.frames_log))]
    for i, (option, path) in enumerate(outputs):
        if path is None:
            continue
        for other in recording + [p for _, p in outputs[:i] if p is not None]:
            if _same_file(path, other):
                raise ReceiverError(f"{option} {path}: is {other}, which rx reads; give another file")


def _check_folder(option: str, value: str | Path, folder: Path | None = None) -> None:
    """``folder`` (default: ``value``, the option's value) is a writable folder, or one can be made
    there: the nearest existing path on the way is a writable folder. Nothing is created."""
    folder = Path(value) if folder is None else folder
    existing = folder
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if os.path.islink(existing) and not existing.exists():
        raise ReceiverError(f"{option} {value}: {existing} is a broken symbolic link")
    if not existing.is_dir():
        kind = "a file" if existing.is_file() else "not a folder"
        if existing != folder:
            raise ReceiverError(f"{option} {value}: {existing} is {kind}, so no folder can be made under it")
        where = "" if existing == Path(value) else f" {existing}"
        raise ReceiverError(f"{option} {value}:{where} is {kind}" + (", not a folder" if kind == "a file" else ""))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReceiverError(f"{option} {value}: {existing} is not writable")


def _check_file(option: str, path: Path, make_parents: bool) -> None:
    """``path`` can be written as a file: an existing writable non-folder, or a new name in a folder
    that exists (or, with ``make_parents``, can be made). Nothing is created."""
    if os.path.lexists(path):
        if os.path.islink(path) and not path.exists():
            raise ReceiverError(f"{option} {path}: is a broken symbolic link")
        if path.is_dir():
            raise ReceiverError(f"{option} {path}: is a folder, not a file")
        if not os.access(path, os.W_OK):
            raise ReceiverError(f"{option} {path}: not writable")
    elif make_parents:
        _check_folder(option, path, path.parent)
    elif not path.parent.is_dir():
        kind = "no such folder" if not os.path.lexists(path.parent) else "not a folder"
        raise ReceiverError(f"{option} {path}: {path.parent} is {kind}")
    elif not os.access(path.parent, os.W_OK | os.X_OK):
        raise ReceiverError(f"{option} {path}: {path.parent} is not writable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def open_sink(args: argparse.Namespace, chain_dir: Path) -> RpcSink | FolderSink | None:
    """The sink object (no I/O yet: ``SinkDelivery`` contacts it); options were checked by ``check_options``."""
    if args.sink == "folder":
        return FolderSink(args.out)
    if args.sink != "rpc":
        return None
    cookie = args.rpc_cookie
    if cookie is None and args.rpc_user is None:
        # bitcoind writes its cookie in its chain's datadir; ours first, then Bitcoin Core's default one
        subdir = CHAINS[args.chain][1]
        candidates = [chain_dir / ".cookie", Path.home() / ".bitcoin" / subdir / ".cookie"]
        cookie = next((path for path in candidates if path.is_file()), None)
        if cookie is None:
            raise ReceiverError(f"--sink rpc: no cookie file at {' or '.join(map(str, candidates))}; "
                                f"give --rpc-cookie PATH or --rpc-user and --rpc-password")
    url = args.rpc_url or f"http://127.0.0.1:{DEFAULT_RPC_PORTS[args.chain]}"
    try:
        rpc = BitcoinRpc(url, cookie_path=cookie, user=args.rpc_user, password=args.rpc_password)
    except ValueError as bad:  # a scheme other than http, no host, a port out of range
        raise ReceiverError(str(bad) if str(bad).startswith("--rpc-url") else f"--rpc-url {url}: {bad}") from None
    return RpcSink(rpc)


class LiveStreamInfo:
    """What the checks need to know of a live source (no files to read, nothing to resume)."""

    def __init__(self, source):
        self.source = source
        self.info = RecordingInfo(sample_rate_hz=source.sample_rate_hz, datatype=source.datatype)
        self.meta_path = self.data_path = None
        self.key = ""


def rx_command(argv: list[str]) -> int:
    parser = build_parser()
    args = parse_with_config(parser, argv)
    # Everything the user gave is checked before anything is created or written (the datadir, its
    # folders, the inbox, the state file, the frames log): a bad input leaves the disk as it was.
    check_options(args)
    spec = parse_source(args.input)
    if spec.live:
        if spec.kind == "stdin":
            refuse_tuning_for_stdin(args, "rx")
        source = LiveStreamInfo(open_live(spec, tuning_from_args(args, spec.kind), args.datatype))
    else:
        refuse_tuning_for_recording(args)
        source = FileSource(args.input, sample_rate_hz=args.sample_rate, chunk_samples=args.chunk_samples, datatype=args.datatype)
    if args.metrics is not None:
        metrics_address = parse_listen_address(args.metrics, "--metrics")
    profile, symbol_rate = check_rates(args, source)
    try:
        broadcaster_key = parse_broadcaster_key(args.broadcaster_key) if args.broadcaster_key is not None else None
    except ValueError as bad:
        raise ReceiverError(f"--broadcaster-key: {bad}") from None
    chain_dir = Path(args.datadir) / CHAINS[args.chain][1]
    check_paths(args, source, chain_dir)
    metrics = MetricsServer(*metrics_address) if args.metrics is not None else None  # binds now: a port in use is an error before any write
    log = EventLog("chaincast rx")
    if metrics is not None:
        host = f"[{metrics_address[0]}]" if ":" in metrics_address[0] else metrics_address[0]
        log("metrics", url=f"http://{host}:{metrics.port}/metrics", status=f"http://{host}:{metrics.port}/status")
    live_input = None
    if spec.live:  # opened now: no dongle or no server is an error before anything is written
        live_input = LiveInput(source.source, ring_seconds=args.buffer_seconds,
                               overflow=args.overflow or default_overflow(source.source), log=log).open()
    sink = open_sink(args, chain_dir)
    delivery = ChainDelivery(args.datadir, args.chain)  # makes its folders at the first block
    if sink is not None:
        delivery = SinkDelivery(delivery, sink, wait_s=args.sink_wait)  # raises here on bad credentials
    store, first_sample = None, 0
    if not args.no_state:
        state_path = args.state or delivery.chain_dir / "chaincast-rx.sqlite"
        if args.reset_state:
            aside = set_aside(state_path)
            if aside is not None:
                print(f"chaincast rx: {state_path} moved to {aside}; a new state file starts", file=sys.stderr)
        try:
            store = ReceiverStore(state_path, args.chain)
        except StoreError as bad:
            raise ReceiverError(str(bad)) from None
        if not spec.live:
            first_sample = 0 if args.from_start else store.resume_sample(source.key)
    inbox = Inbox(args.inbox or Path(args.datadir) / "chaincast-inbox", broadcaster_key)
    frames_log = open(args.frames_log, "w") if args.frames_log else None
    on_frame = (lambda record: frames_log.write(json.dumps(record.as_dict()) + "\n")) if frames_log else None
    receiver = Receiver(source.info.sample_rate_hz, symbol_rate, profile.rolloff, delivery, on_frame=on_frame,
                        search_hz=args.search_hz, store=store, source_key=source.key, first_sample=first_sample,
                        inbox=inbox, symbol_budget_bytes=None if args.state_budget_mb is None else int(args.state_budget_mb * (1 << 20)))
    for warning in store.warnings if store is not None else ():  # damaged rows dropped while loading
        print(f"chaincast rx: warning: {warning}", file=sys.stderr)
    stop = StopSignals(log)
    started = time.perf_counter()
    try:
        if spec.live:
            stop.on_stop(live_input.stop)
            report = receive_live(receiver, live_input, delivery if sink is not None else None, log, metrics,
                                  args.status_interval, args.seconds)
        else:
            report = receive_file(receiver, source, first_sample, delivery if sink is not None else None, stop, metrics)
    finally:
        stop.restore()
        if live_input is not None:
            live_input.join(2.0)
        if metrics is not None:
            metrics.close()
    wall_s = time.perf_counter() - started
    delivery.close()
    if store is not None:
        store.close()
    if frames_log:
        frames_log.close()
    result = report.as_dict() | {"wall_s": round(wall_s, 3), "realtime_factor": round(report.duration_s / wall_s, 2) if wall_s else None}
    result |= input_figures(live_input, receiver, stop)
    sink_stats = delivery.sink_stats if sink is not None else None
    if sink_stats is not None:
        result |= sink_stats.as_dict()
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{report.frames_ok} frames ok, {report.frames_failed} failed, {report.header_failures} header failures, "
            f"lock acquired {report.lock_acquisitions}x; "
            f"{report.objects_complete} objects; {report.blocks_validated} blocks validated, "
            f"{report.blocks_rejected} rejected, {report.blocks_known} already known, {report.blocks_waiting} waiting for a parent\n"
            f"tip {report.tip_height} {report.tip_hash}"
            + (f", headers to {report.headers_height}" if report.headers_height >= 0 else "")
            + (f", the broadcast's tip {report.broadcast_tip_height}" if report.broadcast_tip_height >= 0 else "")
            + ("  (" if report.esn0_db is None else f"  (Es/N0 {report.esn0_db} dB, CFO {report.cfo_hz} Hz, ")
            + f"{report.duration_s:.2f} s of signal in {wall_s:.2f} s)"
        )
        if report.files_saved or report.files_rejected or report.files_known:
            why = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(report.files_rejected_why.items()))
            print(f"files and messages: {report.files_saved} saved in {inbox.directory}, {report.files_known} already there, "
                  f"{report.files_rejected} dropped" + (f" ({why})" if why else "")
                  + ("" if broadcaster_key else "; no --broadcaster-key, so none can be verified"))
        if sink_stats is not None:
            reached = "not reached" if sink_stats.sink_height is None else f"chain handed over up to {sink_stats.sink_height}"
            print(f"sink {sink_stats.sink} {sink_stats.sink_target}: {sink_stats.sink_delivered} blocks delivered, "
                  f"{sink_stats.sink_known} already there, {sink_stats.sink_refused} refused; {reached}")
    if report.index_wrong_chain:
        print(f"chaincast rx: warning: {report.index_wrong_chain} chain indexes on the air name another chain's "
              f"genesis block than --chain {args.chain}'s", file=sys.stderr)
    if sink_stats is not None and sink_stats.sink_refused:
        print(f"chaincast rx: warning: the sink refused {sink_stats.sink_refused} blocks libbitcoinkernel validated "
              f"(first: {sink_stats.sink_first_refusal}); they are offered again on the next run", file=sys.stderr)
    if sink_stats is not None and sink_stats.sink_pending != 0:
        waiting = "its blocks" if sink_stats.sink_pending is None else f"{sink_stats.sink_pending} blocks"
        print(f"chaincast rx: {sink_stats.sink} sink unavailable ({sink_stats.sink_error}); {waiting} wait in "
              f"{delivery.chain_dir} and go to it on the next run", file=sys.stderr)
        return EXIT_SINK_PENDING
    return 0
