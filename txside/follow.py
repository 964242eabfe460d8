"""The uplink service (``chaincast tx follow``): follow a node, schedule the air time, emit IQ.

Threads: the node follower (ZMQ + polls -> ``TipChange`` events) and the backfill feeder (older
blocks over RPC) fill queues; the main loop builds one PL frame at a time and writes its IQ.
Pacing: frame n is built when the clock reaches ``t0 + n * frame_s - lead_s``, where ``frame_s``
is the PL frame's symbols over the symbol rate, so the stream leaves at the channel's rate
(``realtime = false`` writes as fast as it can, for recordings). A chain change is picked up
right before each frame is built, so a new block's first symbols are in the next frame.

Configuration: ``FollowConfig``, from a TOML file (sections ``[node]``, ``[radio]``,
``[output]``, ``[schedule]``, ``[log]``; see ``OPTIONS``) with command-line options on top.
Logs are JSON lines (``ts``, ``level``, ``msg``, ``event`` and its fields) on stderr or a file;
a status line on stderr (a terminal, or ``status = true``).
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import sys
import threading
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import numpy as np

from chaincast.fec.wire.bundle import MAX_BUNDLE_BYTES
from chaincast.fec.wire.headers import MAX_COUNT as MAX_RUN_HEADERS
from chaincast.fec.wire.objects import ObjectType
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS, Profile, modcod_by_name
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.sdr import plframe
from chaincast.sdr.channel import quantize_cu8
from chaincast.sdr.tx import Modulator
from chaincast.txside import inputs
from chaincast.txside.chain.networks import NETWORK_BY_GENESIS
from chaincast.txside.inputs import InputError
from chaincast.txside.node import (
    BackfillFeeder, NodeError, NodeFollower, NodeRpc, cookie_path, display, initial_chain,
)
from chaincast.txside.recording import SigmfWriter, sigmf_paths
from chaincast.txside.scheduler import ScheduleConfig, ScheduledFrame, Scheduler, Share, TipChange

_SCHEDULE = ScheduleConfig()  # the scheduler's defaults are the config file's
from chaincast.txside.uplink import Uplink

log = logging.getLogger("chaincast.follow")


@dataclass
class FollowConfig:
    # [node]
    rpc_url: str = "http://127.0.0.1:8332"
    rpc_cookie: str = ""
    datadir: str = ""
    rpc_user: str = ""
    rpc_password: str = ""
    rpc_timeout_s: float = 30.0
    zmq: list[str] = field(default_factory=list)
    chain: str = ""
    poll_interval_s: float = 1.0
    zmq_poll_interval_s: float = 10.0
    # [radio]
    modcod: str = DEFAULT_PROFILE.modcod
    symbol_rate_hz: float = DEFAULT_PROFILE.symbol_rate_hz
    sample_rate_hz: float = DEFAULT_PROFILE.sample_rate_hz
    datatype: str = "cf32_le"
    cu8_rms_lsb: float = 40.0
    frequency_hz: float = 0.0
    # [output]
    out: str = ""
    realtime: bool = True
    lead_s: float = 0.0
    duration_s: float = 0.0
    frames_log: str = ""
    # [schedule]
    carousel_blocks: int = _SCHEDULE.carousel_blocks
    carousel_share: float = _SCHEDULE.carousel_share
    headers_share: float = _SCHEDULE.headers_share
    backfill_share: float = _SCHEDULE.backfill_share
    index_interval_s: float = _SCHEDULE.index_interval_s
    new_block_passes: int = _SCHEDULE.new_block_passes
    fresh_passes: int = _SCHEDULE.fresh_passes
    headers_per_object: int = _SCHEDULE.headers_per_object
    headers_from: int = 0
    backfill_from: int = 1
    spread_window: int = _SCHEDULE.spread_window
    spread_bytes: int = _SCHEDULE.spread_bytes
    bundle_below: int = _SCHEDULE.bundle_below
    bundle_bytes: int = _SCHEDULE.bundle_bytes
    # [log]
    log_file: str = ""
    log_level: str = "info"
    status: str = "auto"

    def schedule(self) -> ScheduleConfig:
        return ScheduleConfig(
            carousel_blocks=self.carousel_blocks, carousel_share=self.carousel_share, headers_share=self.headers_share,
            backfill_share=self.backfill_share, index_interval_s=self.index_interval_s,
            new_block_passes=self.new_block_passes, fresh_passes=self.fresh_passes,
            headers_per_object=self.headers_per_object, spread_window=self.spread_window, spread_bytes=self.spread_bytes,
            bundle_below=self.bundle_below, bundle_bytes=self.bundle_bytes)


SECTIONS = {
    "node": ["rpc_url", "rpc_cookie", "datadir", "rpc_user", "rpc_password", "rpc_timeout_s", "zmq", "chain",
             "poll_interval_s", "zmq_poll_interval_s"],
    "radio": ["modcod", "symbol_rate_hz", "sample_rate_hz", "datatype", "cu8_rms_lsb", "frequency_hz"],
    "output": ["out", "realtime", "lead_s", "duration_s", "frames_log"],
    "schedule": ["carousel_blocks", "carousel_share", "headers_share", "backfill_share", "index_interval_s",
                 "new_block_passes", "fresh_passes", "headers_per_object", "headers_from", "backfill_from",
                 "spread_window", "spread_bytes", "bundle_below", "bundle_bytes"],
    "log": ["file", "level", "status"],
}
_LOG_KEYS = {"file": "log_file", "level": "log_level", "status": "status"}
HELP = {
    "rpc_url": "the node's JSON-RPC URL (default http://127.0.0.1:8332)",
    "rpc_cookie": "the node's RPC cookie file",
    "datadir": "the node's datadir: the cookie is read from DIR/[chain/].cookie",
    "rpc_user": "rpcuser (with --rpc-password) instead of a cookie",
    "rpc_password": "rpcpassword",
    "rpc_timeout_s": "seconds to wait for an RPC reply (default 30)",
    "zmq": "a zmqpubrawblock / zmqpubhashblock endpoint, e.g. tcp://127.0.0.1:28332 (repeatable)",
    "chain": "the network the node must be on (checked against its genesis block)",
    "poll_interval_s": "seconds between getbestblockhash polls without ZMQ (default 1)",
    "zmq_poll_interval_s": "seconds between polls with ZMQ, in case a message was lost (default 10)",
    "modcod": "MODCOD of every frame",
    "symbol_rate_hz": "symbol rate in baud",
    "sample_rate_hz": "output sample rate in Hz",
    "datatype": "cf32_le (complex float32) or cu8 (RTL-SDR style 8-bit)",
    "cu8_rms_lsb": "cu8: code RMS of the signal (default 40)",
    "frequency_hz": "carrier frequency, recorded in a SigMF output",
    "out": "output: a file, a FIFO, - for stdout (raw samples), or X.sigmf-meta",
    "realtime": "pace the output to the air time (default on; off writes as fast as it can)",
    "lead_s": "build each frame this long before its air time (default 0)",
    "duration_s": "stop after this much air time (default 0: run until stopped)",
    "frames_log": "JSON-lines file with one line per frame (what it carried)",
    "carousel_blocks": "recent blocks in the carousel (default 144)",
    "carousel_share": "air-time weight of the carousel (default 0.6)",
    "headers_share": "air-time weight of the headers objects (default 0.1)",
    "backfill_share": "air-time weight of the full-history backfill (default 0.3; 0: none)",
    "index_interval_s": "seconds of air time between chain indexes (default 5)",
    "new_block_passes": "passes of a new block before it joins the carousel (default 2)",
    "fresh_passes": "repair passes with new symbols per object before they repeat (default 16)",
    "headers_per_object": "headers per headers object (default 2016)",
    "headers_from": "first height of the headers objects (default 0: genesis)",
    "backfill_from": "first height of the backfill (default 1: every node has the genesis block)",
    "spread_window": "objects whose symbols are interleaved in a carousel or backfill pass (default 256)",
    "spread_bytes": "bytes of objects interleaved at most at once (default 4 MiB)",
    "bundle_below": "backfill: runs of blocks under this many bytes go as bundles (default 16000; 0: none)",
    "bundle_bytes": "backfill: a bundle closes before this many bytes (default 64000)",
    "log_file": "JSON-lines log file (default stderr)",
    "log_level": "debug, info, warning or error (default info)",
    "status": "status line on stderr: auto (when it is a terminal), true or false",
}
_CLI_NAMES = {"symbol_rate_hz": "--symbol-rate", "sample_rate_hz": "--sample-rate", "frequency_hz": "--frequency"}


class ConfigError(ValueError):
    pass


CONFIG_MAX_BYTES = 1 << 20
COOKIE_MAX_BYTES = 4096


def load_config(path: str | Path | None, overrides: dict | None = None) -> FollowConfig:
    """Defaults, then the TOML file's values, then ``overrides`` (field name -> value)."""
    config = FollowConfig()
    types = {f.name: f.type for f in fields(FollowConfig)}
    if path:
        try:
            inputs.input_file("--config", path, max_bytes=CONFIG_MAX_BYTES)
        except InputError as bad:
            raise ConfigError(str(bad)) from None
        try:
            data = tomllib.loads(Path(path).read_text())
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not text, so not a TOML file") from None
        except OSError as error:
            raise ConfigError(f"{path}: {error.strerror or error}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: {error}") from None
        for section, table in data.items():
            if section not in SECTIONS or not isinstance(table, dict):
                raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
            for key, value in table.items():
                if key not in SECTIONS[section]:
                    raise ConfigError(f"{path}: unknown key {key!r} in [{section}] (known: {', '.join(SECTIONS[section])})")
                name = _LOG_KEYS[key] if section == "log" else key
                setattr(config, name, _typed(name, value, types[name], str(path)))
    for name, value in (overrides or {}).items():
        if value is not None:
            setattr(config, name, value)
    return config


def _typed(name: str, value, kind: str, where: str):
    if kind == "list[str]":
        value = [value] if isinstance(value, str) else value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif kind == "bool" and isinstance(value, bool):
        return value
    elif kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif kind == "str" and isinstance(value, (str, bool)):
        return str(value).lower() if isinstance(value, bool) else value
    raise ConfigError(f"{where}: {name} must be {kind}, not {value!r}")


# ------------------------------------------------------------------------------ logs and status


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname.lower(), "msg": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class StatusLine:
    """One line on stderr, rewritten in place (log lines on stderr clear it first)."""

    def __init__(self, enabled: bool, stream=None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write("\r" + text[:200] + "\033[K")
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\033[K")
            self._shown = False


class _StderrHandler(logging.StreamHandler):
    def __init__(self, status: StatusLine):
        super().__init__(sys.stderr)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        self.status.clear()
        super().emit(record)


def setup_logging(config: FollowConfig, status: StatusLine) -> logging.Handler:
    handler: logging.Handler = logging.FileHandler(config.log_file) if config.log_file else _StderrHandler(status)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    log.setLevel(config.log_level.upper())
    log.propagate = False
    return handler


def _event(level: int, msg: str, **fields) -> None:
    log.log(level, msg, extra={"fields": {"event": msg.replace(" ", "_"), **fields}})


# --------------------------------------------------------------------------------------- output


class IqSink:
    """Raw ``cf32_le`` / ``cu8`` samples to a file, FIFO or stdout (``-``), flushed per frame, or
    a SigMF recording (``X.sigmf-meta``, its metadata written at the end)."""

    def __init__(self, out: str, datatype: str, cu8_rms_lsb: float, info: RecordingInfo):
        self.datatype, self.cu8_rms_lsb = datatype, cu8_rms_lsb
        self.samples = 0
        self._sigmf: SigmfWriter | None = None
        self._file: BinaryIO | None = None
        if out.endswith((".sigmf-meta", ".sigmf-data")):
            self._sigmf = SigmfWriter(out, info, cu8_rms_lsb=cu8_rms_lsb)
        elif out == "-":
            self._file, self._owned = sys.stdout.buffer, False
        else:
            self._file, self._owned = open(out, "wb"), True

    def write(self, iq: np.ndarray) -> None:
        if self._sigmf is not None:
            self._sigmf.write(iq)
        else:
            data = quantize_cu8(iq, self.cu8_rms_lsb) if self.datatype == "cu8" else np.asarray(iq, "<c8")
            self._file.write(data.tobytes())
            self._file.flush()
        self.samples += len(iq)

    def close(self) -> None:
        if self._sigmf is not None:
            self._sigmf.close()
        elif self._file is not None:
            try:
                self._file.flush()
                if self._owned:
                    self._file.close()
            except BrokenPipeError:
                pass


# -------------------------------------------------------------------------------------- service


@dataclass
class _Window:
    """Bytes by class over the last ``span_s`` seconds of air time, and frames per wall second."""

    span_s: float = 10.0
    entries: deque = field(default_factory=deque)  # (air time, wall time, bytes by share)

    def add(self, air_s: float, wall_s: float, by_share: dict[Share, int]) -> None:
        self.entries.append((air_s, wall_s, by_share))
        while self.entries and self.entries[0][0] < air_s - self.span_s:
            self.entries.popleft()

    def shares(self) -> dict[str, float]:
        total: dict[str, int] = {}
        for _, _, by_share in self.entries:
            for share, n in by_share.items():
                total[share.value] = total.get(share.value, 0) + n
        whole = sum(total.values()) or 1
        return {k: v / whole for k, v in total.items()}

    def frames_per_s(self) -> float:
        if len(self.entries) < 2:
            return 0.0
        return (len(self.entries) - 1) / max(1e-9, self.entries[-1][1] - self.entries[0][1])


class FollowService:
    def __init__(self, config: FollowConfig, clock=time.monotonic):
        self.config = config
        self.clock = clock
        self.stop = threading.Event()
        self.modcod = modcod_by_name(config.modcod)
        self.profile = Profile(DEFAULT_PROFILE.name, config.symbol_rate_hz, DEFAULT_PROFILE.rolloff,
                               config.sample_rate_hz, config.modcod)
        self.frame_s = plframe.frame_symbols(self.modcod.slots, self.profile.pilots) / config.symbol_rate_hz
        self.frames = 0
        self.underruns = 0
        self.latencies: list[dict] = []

    def _rpc(self) -> NodeRpc:
        c = self.config
        cookie = c.rpc_cookie or (str(cookie_path(c.datadir, c.chain or "main")) if c.datadir else None)
        return NodeRpc(c.rpc_url, cookie_file=cookie, user=c.rpc_user or None, password=c.rpc_password or None,
                       timeout_s=c.rpc_timeout_s)

    def run(self) -> dict:
        c = self.config
        rpc = self._rpc()
        genesis, recent, headers_first, headers = initial_chain(rpc, c.carousel_blocks, c.headers_from)
        network = NETWORK_BY_GENESIS.get(genesis, "unknown")
        if c.chain and network != c.chain:
            raise NodeError(f"the node at {rpc.where} is on {network} (genesis {display(genesis)}), not {c.chain}")
        _event(logging.INFO, "following", rpc=rpc.where, network=network, tip_height=recent[-1].height if recent else -1,
               zmq=c.zmq, carousel_blocks=len(recent), headers=len(headers) // 80)
        scheduler = Scheduler(self.modcod.data_bytes, self.frame_s, genesis, c.schedule())
        scheduler.set_chain(recent, headers_first, headers)

        events: queue.Queue[TipChange] = queue.Queue()
        follower = NodeFollower(rpc.clone(), recent, recent=c.carousel_blocks, zmq_endpoints=c.zmq,
                                poll_interval_s=c.poll_interval_s, zmq_poll_interval_s=c.zmq_poll_interval_s,
                                headers_from=c.headers_from, clock=self.clock)
        rpc.close()
        threads = [threading.Thread(target=follower.run, args=(events, self.stop), name="follower", daemon=True)]
        backfill: queue.Queue[tuple[int, bytes, int]] = queue.Queue(maxsize=64)
        if c.backfill_share > 0:
            feeder = BackfillFeeder(rpc.clone(), c.backfill_from, lambda: follower.tip_height, c.carousel_blocks)
            threads.append(threading.Thread(target=feeder.run, args=(backfill, self.stop), name="backfill", daemon=True))
        for thread in threads:
            thread.start()

        info = RecordingInfo(c.sample_rate_hz, c.datatype, c.frequency_hz or None, c.symbol_rate_hz, self.profile.name)
        sink = IqSink(c.out, c.datatype, c.cu8_rms_lsb, info)
        uplink = Uplink(self.profile, self.modcod)
        modulator = Modulator(c.sample_rate_hz, c.symbol_rate_hz, self.profile.rolloff)
        status = StatusLine(c.status == "true" or (c.status == "auto" and sys.stderr.isatty()))
        for handler in log.handlers:
            if isinstance(handler, _StderrHandler):
                handler.status = status
        frames_log = open(c.frames_log, "w") if c.frames_log else None
        _event(logging.INFO, "stream", out=c.out, modcod=self.modcod.name, symbol_rate_hz=c.symbol_rate_hz,
               sample_rate_hz=c.sample_rate_hz, datatype=c.datatype, frame_s=self.frame_s,
               frames_per_s=1 / self.frame_s, net_bit_rate=8 * self.modcod.data_bytes / self.frame_s)
        waiting: dict[bytes, tuple[int, float, str]] = {}  # new block id -> (height, notified at, source)
        window = _Window()
        next_status = 0.0
        t0 = self.clock()
        try:
            while not self.stop.is_set():
                n = self.frames
                if c.duration_s and n * self.frame_s >= c.duration_s:
                    break
                if c.realtime:
                    due = t0 + n * self.frame_s - c.lead_s
                    late = self.clock() - due
                    if late < 0:
                        self.stop.wait(-late)
                        if self.stop.is_set():
                            break
                    elif late > max(1.0, 2 * self.frame_s):
                        self.underruns += 1
                        _event(logging.WARNING, "late", frame=n, late_s=round(late, 3))
                        t0 += late  # start again from now: a burst to catch up helps no one
                self._apply_changes(events, scheduler, waiting)
                while scheduler.backfill_room():
                    try:
                        height, raw, cycle = backfill.get_nowait()
                    except queue.Empty:
                        break
                    scheduler.offer_backfill(height, raw, cycle)
                frame = scheduler.next_frame()
                iq = modulator.process(uplink.frame_symbols(frame.field))
                try:
                    sink.write(iq)
                except BrokenPipeError:
                    _event(logging.WARNING, "output closed", out=c.out)
                    break
                written = self.clock()
                self.frames += 1
                self._report_new(frame, written, waiting)
                window.add(frame.air_time_s, written, frame.bytes_by_share())
                if frames_log is not None:
                    frames_log.write(json.dumps(_frame_record(frame, written - t0)) + "\n")
                if written >= next_status:
                    next_status = written + 0.5
                    status.show(self._status_text(scheduler, window))
        finally:
            self.stop.set()
            status.clear()
            try:
                sink.write(modulator.flush())
            except BrokenPipeError:
                pass
            sink.close()
            if frames_log is not None:
                frames_log.close()
            for thread in threads:
                thread.join(timeout=5)
        summary = {"frames": self.frames, "air_s": round(self.frames * self.frame_s, 3), "samples": sink.samples,
                   "tip_height": scheduler.tip_height, "underruns": self.underruns, "new_blocks": self.latencies,
                   "bytes_by_share": {k.value: v for k, v in scheduler.bytes_sent.items()}}
        _event(logging.INFO, "stopped", **summary)
        return summary

    def _apply_changes(self, events: queue.Queue, scheduler: Scheduler, waiting: dict) -> None:
        while True:
            try:
                change = events.get_nowait()
            except queue.Empty:
                return
            new = scheduler.apply(change)
            for block in new:
                waiting[block.block_hash] = (block.height, change.notified_at, change.source)
            _event(logging.INFO, "tip", height=scheduler.tip_height, hash=display(scheduler.tip_hash), source=change.source,
                   connected=len(change.connected), disconnected=len(change.disconnected), resync=change.resync,
                   new=[b.height for b in new])

    def _report_new(self, frame: ScheduledFrame, written: float, waiting: dict) -> None:
        for packet in frame.packets:
            if packet.share is Share.NEW and packet.object_id in waiting:
                height, notified_at, source = waiting.pop(packet.object_id)
                entry = {"height": height, "hash": display(packet.object_id), "source": source, "frame": frame.index,
                         "latency_s": round(written - notified_at, 4)}
                self.latencies.append(entry)
                _event(logging.INFO, "block on air", **entry)

    def _status_text(self, scheduler: Scheduler, window: _Window) -> str:
        shares = " ".join(f"{k} {v:.0%}" for k, v in sorted(window.shares().items()))
        return (f"tip {scheduler.tip_height} | on air: {len(scheduler.carousel_heights)} carousel blocks | "
                f"new queue {scheduler.queued_new_packets()} pkts | share {shares} | "
                f"{window.frames_per_s():.1f} frames/s | late {self.underruns}")


def _frame_record(frame: ScheduledFrame, wall_s: float) -> dict:
    objects: dict[tuple[str, int, bytes], int] = {}
    for p in frame.packets:
        key = (p.share.value, p.object_type, p.object_id)
        objects[key] = objects.get(key, 0) + 1
    return {"frame": frame.index, "air_s": round(frame.air_time_s, 6), "wall_s": round(wall_s, 6),
            "objects": [[share, otype, (oid[::-1] if otype == ObjectType.BLOCK else oid).hex(), count]
                        for (share, otype, oid), count in objects.items()]}


# ------------------------------------------------------------------------------------------ CLI


def follow_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chaincast tx follow",
                                description="Follow a Bitcoin Core node and broadcast its chain: new blocks first, a carousel "
                                            "of recent blocks, a chain index, headers and a full-history backfill.")
    p.add_argument("--config", help="TOML file with any of the options below ([node], [radio], [output], [schedule], [log])")
    for section, names in SECTIONS.items():
        group = p.add_argument_group(f"[{section}]")
        for key in names:
            name = _LOG_KEYS[key] if section == "log" else key
            flag = _CLI_NAMES.get(name, "--" + name.replace("_", "-"))
            kind = FollowConfig.__dataclass_fields__[name].type
            if kind == "bool":
                group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=HELP[name])
            elif kind == "list[str]":
                group.add_argument(flag, dest=name, action="append", default=None, help=HELP[name])
            else:
                group.add_argument(flag, dest=name, type={"int": int, "float": float, "str": str}[kind], default=None,
                                   help=HELP[name])
    args = vars(p.parse_args(argv))
    try:
        config = load_config(args.pop("config"), args)
    except ConfigError as error:
        p.error(str(error))
    problems = _check(config)
    if problems:
        p.error(problems[0])
    status = StatusLine(False)
    handler = setup_logging(config, status)
    service = FollowService(config)
    previous = signal.signal(signal.SIGTERM, lambda *_: service.stop.set())
    try:
        service.run()
    except KeyboardInterrupt:
        _event(logging.INFO, "interrupted")
    finally:
        signal.signal(signal.SIGTERM, previous)
        handler.close()
    return 0


def _check(c: FollowConfig) -> list[str]:
    problems = []
    if not c.out:
        problems.append("--out is required (a file, a FIFO, - for stdout, or X.sigmf-meta)")
    if c.modcod not in MODCODS:
        problems.append(f"unknown MODCOD {c.modcod!r}")
    if c.datatype not in ("cf32_le", "cu8"):
        problems.append("datatype must be cf32_le or cu8")
    if c.chain and c.chain not in NETWORK_BY_GENESIS.values():
        problems.append(f"unknown chain {c.chain!r}")
    if c.status not in ("auto", "true", "false"):
        problems.append("status must be auto, true or false")
    if c.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("log level must be debug, info, warning or error")
    if not c.rpc_cookie and not c.datadir and not c.rpc_user and "@" not in c.rpc_url:
        problems.append("no RPC credentials: give --rpc-cookie, --datadir or --rpc-user/--rpc-password")
    problems += _check_values(c)
    if not problems:
        try:
            c.schedule()
        except ValueError as error:
            problems.append(str(error))
    return problems


def _flag(name: str) -> str:
    return _CLI_NAMES.get(name, "--" + name.replace("_", "-"))


def _check_values(c: FollowConfig) -> list[str]:
    """Numbers finite and in range, paths of the right kind, the RPC URL parseable: what would
    otherwise fail (or hang, or fill memory) only once the service runs."""
    problems: list[str] = []

    def check(what, *args, **kwargs) -> None:
        try:
            what(*args, **kwargs)
        except InputError as bad:
            problems.append(str(bad))

    check(inputs.radio_rates, c.sample_rate_hz, c.symbol_rate_hz, DEFAULT_PROFILE.rolloff)
    for name, low, high in [("rpc_timeout_s", 0.0, 3600.0), ("poll_interval_s", 0.0, 3600.0),
                            ("zmq_poll_interval_s", 0.0, 3600.0), ("index_interval_s", 0.0, 3600.0),
                            ("cu8_rms_lsb", 0.0, 128.0)]:
        check(inputs.number, _flag(name), getattr(c, name), low, high, low_open=True)
    for name, high in [("frequency_hz", 300e9), ("lead_s", 60.0), ("duration_s", 10 * 365 * 86400.0),
                       ("carousel_share", 1000.0), ("headers_share", 1000.0), ("backfill_share", 1000.0)]:
        check(inputs.number, _flag(name), getattr(c, name), 0.0, high)
    for name, low, high in [("carousel_blocks", 1, 100_000), ("new_block_passes", 1, 100), ("fresh_passes", 1, 256),
                            ("headers_per_object", 1, MAX_RUN_HEADERS), ("headers_from", 0, 100_000_000),
                            ("backfill_from", 0, 100_000_000), ("spread_window", 1, 100_000),
                            ("spread_bytes", 1, 1 << 30), ("bundle_below", 0, 4_000_000),
                            ("bundle_bytes", 0, MAX_BUNDLE_BYTES)]:
        check(inputs.integer, _flag(name), getattr(c, name), low, high)
    if c.out and c.out != "-":
        check(inputs.output_file, "--out", c.out, special_ok=True)  # a FIFO or a device is a fine output
        if c.out.endswith((".sigmf-meta", ".sigmf-data")):
            check(inputs.output_file, "--out", sigmf_paths(c.out)[1])
    for name in ("frames_log", "log_file"):
        if getattr(c, name):
            check(inputs.output_file, _flag(name), getattr(c, name), special_ok=True)
    if c.rpc_cookie:
        check(inputs.input_file, "--rpc-cookie", Path(c.rpc_cookie).expanduser(), max_bytes=COOKIE_MAX_BYTES)
    if c.datadir and not Path(c.datadir).expanduser().is_dir():
        problems.append(f"--datadir {c.datadir}: no such directory")
    try:
        parts = urlsplit(c.rpc_url if "://" in c.rpc_url else f"http://{c.rpc_url}")
        parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as bad:
        problems.append(f"--rpc-url {c.rpc_url!r}: {bad}")
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"--rpc-url {c.rpc_url!r} is not http://host:port")
    for endpoint in c.zmq:
        if not endpoint.startswith(("tcp://", "ipc://")):
            problems.append(f"--zmq {endpoint!r} is not a tcp:// or ipc:// endpoint")
    return problems
