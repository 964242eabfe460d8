"""``chaincast rx``: receive a recording and deliver validated blocks to a Bitcoin Core datadir, and
optionally on to a running bitcoind or a folder (``--sink``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from chaincast.fec.wire.profile import DEFAULT_PROFILE, PROFILES
from chaincast.rxside.bitcoind import DEFAULT_RPC_PORTS, BitcoinRpc
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.inbox import Inbox, parse_broadcaster_key
from chaincast.rxside.kernel import CHAINS, ChainDelivery
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.sinks import FolderSink, RpcSink, SinkDelivery
from chaincast.rxside.source import FileSource
from chaincast.rxside.store import ReceiverStore, StoreError

EXIT_SINK_PENDING = 75  # sysexits.h EX_TEMPFAIL: validated blocks wait for a sink that was down; run again


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chaincast rx", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Receive a chaincast IQ recording and deliver validated blocks.",
        epilog="sinks: every block is validated by libbitcoinkernel into --datadir first; a sink then gets\n"
               "the datadir's validated chain in height order, never a block that failed.\n"
               "--sink rpc: submitblock to a running bitcoind (cookie: --rpc-cookie, else DATADIR[/CHAIN]/.cookie,\n"
               "else ~/.bitcoin[/CHAIN]/.cookie; or --rpc-user and --rpc-password).\n"
               "--sink folder: raw blocks as DIR/<height>-<hash>.blk.\n"
               "A sink that is down is retried; what it could not take stays in the datadir and goes to it on\n"
               "the next run (exit status 75 until then).")
    p.add_argument("input", help="SigMF recording (.sigmf-meta) or raw .cu8/.cf32 file")
    p.add_argument("--chain", required=True, choices=sorted(CHAINS), help="which Bitcoin network the blocks belong to")
    p.add_argument("--datadir", required=True, help="Bitcoin Core data directory to deliver validated blocks into")
    p.add_argument("--sample-rate", type=float, help="sample rate in Hz (raw files only)")
    p.add_argument("--datatype", choices=["cu8", "cf32_le"], help="raw file sample format, for suffixes other than .cu8/.cf32")
    p.add_argument("--symbol-rate", type=float, help="symbol rate in baud (default: from metadata, else the profile's)")
    p.add_argument("--profile", default=None, choices=sorted(PROFILES), help="link profile (default: from metadata)")
    p.add_argument("--search-hz", type=float, default=0.0,
                   help="scan for the carrier over +-HZ (LNBs that drift beyond +-30%% of the symbol rate); "
                        "the sample rate must hold the signal anywhere in that range")
    p.add_argument("--state", help="receiver state file (default: chaincast-rx.sqlite in the chain's datadir): "
                                   "partial objects and the position to resume from survive a stop or a crash")
    p.add_argument("--no-state", action="store_true", help="keep nothing on disk but the validated blocks")
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
                      help="seconds to keep retrying a sink that is down when the recording ends (default 10)")
    p.add_argument("--chunk-samples", type=int, default=1 << 19, help=argparse.SUPPRESS)
    return p


def open_sink(p: argparse.ArgumentParser, args: argparse.Namespace, chain_dir) -> RpcSink | FolderSink | None:
    rpc_given = [f"--{name.replace('_', '-')}" for name in ("rpc_url", "rpc_cookie", "rpc_user", "rpc_password")
                 if getattr(args, name) is not None]
    if args.sink != "rpc" and rpc_given:
        p.error(f"{rpc_given[0]} is for --sink rpc")
    if args.sink != "folder" and args.out is not None:
        p.error("--out is for --sink folder")
    if args.sink == "folder":
        if args.out is None:
            p.error("--sink folder needs --out DIR")
        return FolderSink(args.out)
    if args.sink != "rpc":
        return None
    if (args.rpc_user is None) != (args.rpc_password is None):
        p.error("--rpc-user and --rpc-password go together")
    if args.rpc_user is not None and args.rpc_cookie is not None:
        p.error("give --rpc-cookie or --rpc-user/--rpc-password, not both")
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
    except ValueError as bad:
        p.error(str(bad))
    return RpcSink(rpc)


def rx_command(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    source = FileSource(args.input, sample_rate_hz=args.sample_rate, chunk_samples=args.chunk_samples, datatype=args.datatype)
    profile_name = args.profile or source.info.profile or DEFAULT_PROFILE.name
    if profile_name not in PROFILES:
        raise ReceiverError(f"{args.input}: unknown profile {profile_name!r} in metadata")
    profile = PROFILES[profile_name]
    symbol_rate = args.symbol_rate or source.info.symbol_rate_hz or profile.symbol_rate_hz
    if source.info.sample_rate_hz < (1 + profile.rolloff) * symbol_rate:
        raise ReceiverError(
            f"sample rate {source.info.sample_rate_hz:g} Hz is below (1 + roll-off) x symbol rate {symbol_rate:g} baud"
        )
    reach_hz = source.info.sample_rate_hz / 2 - (1 + profile.rolloff) * symbol_rate / 2
    if args.search_hz < 0 or args.search_hz > reach_hz:
        raise ReceiverError(f"--search-hz {args.search_hz:g}: at {source.info.sample_rate_hz:g} samples/s the signal "
                            f"stays inside the recording only within +-{max(reach_hz, 0):g} Hz")
    try:
        broadcaster_key = parse_broadcaster_key(args.broadcaster_key) if args.broadcaster_key is not None else None
    except ValueError as bad:
        raise ReceiverError(f"--broadcaster-key: {bad}") from None
    inbox = Inbox(args.inbox or Path(args.datadir) / "chaincast-inbox", broadcaster_key)
    delivery = ChainDelivery(args.datadir, args.chain)
    sink = open_sink(parser, args, delivery.chain_dir)
    if sink is not None:
        delivery = SinkDelivery(delivery, sink, wait_s=args.sink_wait)  # raises here on bad credentials
    store, first_sample = None, 0
    if not args.no_state:
        try:
            store = ReceiverStore(args.state or delivery.chain_dir / "chaincast-rx.sqlite", args.chain)
        except StoreError as bad:
            raise ReceiverError(str(bad)) from None
        first_sample = 0 if args.from_start else store.resume_sample(source.key)
    frames_log = open(args.frames_log, "w") if args.frames_log else None
    on_frame = (lambda record: frames_log.write(json.dumps(record.as_dict()) + "\n")) if frames_log else None
    receiver = Receiver(source.info.sample_rate_hz, symbol_rate, profile.rolloff, delivery, on_frame=on_frame,
                        search_hz=args.search_hz, store=store, source_key=source.key, first_sample=first_sample,
                        inbox=inbox)
    started = time.perf_counter()
    with tqdm(total=round(source.duration_s, 2), initial=round(first_sample / source.info.sample_rate_hz, 2), unit="s",
              desc="rx", file=sys.stderr, disable=None, leave=False) as bar:
        for chunk in source.chunks(first_sample):
            receiver.feed(chunk)
            if sink is not None:
                delivery.poll()
            bar.update(round(len(chunk) / source.info.sample_rate_hz, 4))
            bar.set_postfix(lock="yes" if receiver.demodulator.stats.locked else "no", frames=receiver.link.stats.frames_ok,
                            blocks=delivery.stats.blocks_validated, refresh=False)
        report = receiver.finish()
    wall_s = time.perf_counter() - started
    delivery.close()
    if store is not None:
        store.close()
    if frames_log:
        frames_log.close()
    result = report.as_dict() | {"wall_s": round(wall_s, 3), "realtime_factor": round(report.duration_s / wall_s, 2) if wall_s else None}
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
            + f"  (Es/N0 {report.esn0_db} dB, CFO {report.cfo_hz} Hz, "
            f"{report.duration_s:.2f} s of signal in {wall_s:.2f} s)"
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
