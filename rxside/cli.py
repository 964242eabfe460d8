"""``chaincast rx``'s options: the parser, the config file, and the checks that need no file.

The run itself (``chaincast.rxside.rxrun``) is imported only once the options are parsed and
checked, so that ``--help`` and a usage error answer before the demodulator, numba and
libbitcoinkernel load."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import tomllib

from chaincast.fec.wire.bitcoin import CHAINS
from chaincast.fec.wire.profile import PROFILES
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.settings import (DEFAULT_DISK_BUDGET, DEFAULT_MEMORY_BUDGET, DEFAULT_RING_SECONDS, DEFAULT_SAMPLE_RATE_HZ,
                                       MAX_SAMPLES_PER_SYMBOL, SAMPLE_RATE_RANGE_HZ)
from chaincast.rxside.tuningargs import FREQUENCY_FORMS, add_tuning_arguments, tuning_given

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
    p.add_argument("--cores", type=int, default=None, metavar="N",
                   help="1: demodulate and decode in turn on one core; 2: the demodulator on a thread of its own "
                        "(default: 2 when this process may use two cores or more)")
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
    if args.cores is not None and args.cores not in (1, 2):
        raise ReceiverError(f"--cores {args.cores}: 1 or 2")
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


def rx_command(argv: list[str]) -> int:
    parser = build_parser()
    args = parse_with_config(parser, argv)
    # Everything the user gave is checked before anything is created or written (the datadir, its
    # folders, the inbox, the state file, the frames log): a bad input leaves the disk as it was.
    check_options(args)
    # OpenBLAS (numpy's, loaded with it) starts a thread per core that spins after each call: the
    # receiver's BLAS calls are small (a least-squares fit a frame), and the spinning thread took
    # as much CPU as the demodulator and the decoder together. A user's own setting is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from chaincast.rxside.rxrun import run  # the heavy part, after the options are known to be good
    return run(args)
