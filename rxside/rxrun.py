"""``chaincast rx``'s run: receive a recording or a live source and deliver validated blocks to a
Bitcoin Core datadir, and optionally on to a running bitcoind or a folder (``--sink``). The
options were parsed and checked by ``chaincast.rxside.cli``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from chaincast.fec.kernels import kernels_mode
from chaincast.fec.wire.profile import DEFAULT_PROFILE, PROFILES, Profile
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.rxside.bitcoind import DEFAULT_RPC_PORTS, BitcoinRpc
from chaincast.rxside.cli import refuse_tuning_for_recording
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.inbox import Inbox, parse_broadcaster_key
from chaincast.rxside.kernel import CHAINS, ChainDelivery
from chaincast.rxside.live import LiveInput
from chaincast.rxside.logfmt import EventLog
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.runloop import StopSignals, default_overflow, input_figures, receive_file, receive_live
from chaincast.rxside.settings import MAX_SAMPLES_PER_SYMBOL
from chaincast.rxside.sinks import FolderSink, RpcSink, SinkDelivery
from chaincast.rxside.source import FileSource
from chaincast.rxside.sources import open_live, parse_source
from chaincast.rxside.status import MetricsServer, parse_listen_address
from chaincast.rxside.store import ReceiverStore, StoreError, set_aside
from chaincast.rxside.tuningargs import refuse_tuning_for_stdin, tuning_from_args

EXIT_SINK_PENDING = 75  # sysexits.h EX_TEMPFAIL: validated blocks wait for a sink that was down; run again


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


def run(args: argparse.Namespace) -> int:
    """Receive with the checked options ``args``; the exit status."""
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
    cores = args.cores if args.cores is not None else min(2, len(os.sched_getaffinity(0)))
    receiver = Receiver(source.info.sample_rate_hz, symbol_rate, profile.rolloff, delivery, on_frame=on_frame, cores=cores,
                        search_hz=args.search_hz, store=store, source_key=source.key, first_sample=first_sample,
                        inbox=inbox, symbol_budget_bytes=None if args.state_budget_mb is None else int(args.state_budget_mb * (1 << 20)))
    for warning in store.warnings if store is not None else ():  # damaged rows dropped while loading
        print(f"chaincast rx: warning: {warning}", file=sys.stderr)
    stop = StopSignals(log)
    started = time.perf_counter()
    # the handlers stay until rx has closed its files and printed its summary: a SIGINT that comes
    # while it finishes (the source ended, or a first SIGINT stopped it) is one more request to
    # stop, not a KeyboardInterrupt halfway through closing the datadir and the state file
    try:
        try:
            if spec.live:
                stop.on_stop(live_input.stop)
                report = receive_live(receiver, live_input, delivery if sink is not None else None, log, metrics,
                                      args.status_interval, args.seconds)
            else:
                report = receive_file(receiver, source, first_sample, delivery if sink is not None else None, stop, metrics)
        finally:
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
        result = report.as_dict() | {"wall_s": round(wall_s, 3), "realtime_factor": round(report.duration_s / wall_s, 2) if wall_s else None,
                                     "kernels": kernels_mode()}
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
    finally:
        stop.restore()
