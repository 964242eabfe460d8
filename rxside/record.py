"""``chaincast record SOURCE --out X.sigmf-meta [--seconds S]``: a live source to a SigMF recording.

The samples are written as the source delivers them, byte for byte (an RTL-SDR's ``cu8``, a
SoapySDR radio's ``cf32_le``), so that ``chaincast rx X.sigmf-meta`` later receives exactly what
was on the air. The metadata (SigMF 1.2, checked with the ``sigmf`` package before it is written)::

    global    core:datatype, core:sample_rate, core:num_channels 1, core:sha512 of the data,
              core:recorder "chaincast record", core:hw (the device), core:extensions (chaincast),
              chaincast:source (SOURCE as given), chaincast:samples_dropped (lost when the disk
              fell behind the radio), and the radio settings: chaincast:gain_db (or "auto"),
              chaincast:ppm, chaincast:bias_tee, chaincast:downlink_hz, chaincast:lnb_lo_hz,
              chaincast:tuner (rtl_tcp: what the server's greeting says)
    captures  one segment per stretch of continuous samples: core:sample_start, core:datetime
              (UTC of its first sample, to within the input buffer's delay), core:frequency (the
              tuner's centre in Hz: the LNB's IF), chaincast:dropped_before (samples lost just
              before it; segments after the first only)

Written safely: the samples go to a hidden ``.NAME.sigmf-data.partial`` beside the output,
renamed over the data file at the end, then the metadata likewise; an existing recording is not
replaced without ``--force``. The end comes with the input (standard input closed), after
``--seconds``, or with Ctrl-C / SIGTERM, and what was recorded by then is a whole recording.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sigmf import SigMFFile
from tqdm import tqdm

from chaincast.fec.wire.recording import BYTES_PER_SAMPLE, EXTENSION, KEY_DATATYPE, KEY_EXTENSIONS, KEY_FREQUENCY, \
    KEY_SAMPLE_RATE
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import DEFAULT_RING_SECONDS, LiveInput
from chaincast.rxside.logfmt import EventLog
from chaincast.rxside.runloop import StopSignals, default_overflow
from chaincast.rxside.source import SIGMF_SUFFIXES
from chaincast.rxside.sources import parse_source, open_live
from chaincast.rxside.tuningargs import add_tuning_arguments, tuning_from_args

SEGMENT_S = 0.1  # of samples taken from the input buffer at a time
MAX_SECONDS = 7 * 86400.0
RECORDER = "chaincast record"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # RFC 3339 in UTC, as SigMF's core:datetime asks


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """``--out`` -> (metadata path, data path). A SigMF suffix is replaced the way ``chaincast rx``
    reads it (``a.b.sigmf-meta`` -> ``a.b.sigmf-data``); any other name gets the suffixes added
    (``capture`` -> ``capture.sigmf-meta``, ``f1815.3_s1.92`` -> ``f1815.3_s1.92.sigmf-meta``)."""
    path = Path(out)
    if path.suffix in SIGMF_SUFFIXES:
        return path.with_suffix(".sigmf-meta"), path.with_suffix(".sigmf-data")
    return path.with_name(path.name + ".sigmf-meta"), path.with_name(path.name + ".sigmf-data")


def sigmf_datetime(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime(DATETIME_FORMAT)


def recording_metadata(datatype: str, sample_rate_hz: float, source_name: str, capture: dict,
                       segments: list[dict], samples_dropped: int, sha512: str) -> dict:
    """The SigMF metadata document (see the module docstring), checked by the ``sigmf`` package
    (jsonschema of SigMF 1.2): ``segments`` are the capture segments (``core:sample_start``,
    ``core:datetime`` and, after the first, ``chaincast:dropped_before``); ``capture`` is the
    source's ``capture()`` (its ``frequency_hz`` goes into every segment as ``core:frequency``)."""
    settings = dict(capture)
    frequency_hz = settings.pop("frequency_hz", None)
    device = settings.pop("device", source_name)
    global_fields = {KEY_DATATYPE: datatype, KEY_SAMPLE_RATE: float(sample_rate_hz), "core:num_channels": 1,
                     "core:sha512": sha512, "core:recorder": RECORDER, "core:hw": str(device),
                     KEY_EXTENSIONS: [EXTENSION], "chaincast:source": source_name,
                     "chaincast:samples_dropped": int(samples_dropped)}
    for key, value in sorted(settings.items()):
        global_fields[f"chaincast:{key}"] = value if isinstance(value, (bool, int, float, str)) else str(value)
    captures = []
    for segment in segments:
        fields = dict(segment)
        if frequency_hz is not None:
            fields[KEY_FREQUENCY] = float(frequency_hz)
        captures.append(fields)
    meta = SigMFFile(metadata={"global": global_fields, "captures": captures, "annotations": []})
    meta.validate()
    return json.loads(meta.dumps())


class RecordingFile:
    """Raw sample bytes to a hidden file beside the output; ``finish`` renames it into place and
    writes the metadata (hidden, then renamed too). ``segments``: the capture segments so far."""

    def __init__(self, meta_path: Path, data_path: Path, datatype: str, sample_rate_hz: float):
        self.meta_path, self.data_path = meta_path, data_path
        self.datatype = datatype
        self.sample_rate_hz = sample_rate_hz
        self.bytes_per_sample = BYTES_PER_SAMPLE[datatype]
        self.samples = 0
        self.samples_dropped = 0
        self.segments: list[dict] = []
        self._hash = hashlib.sha512()
        self._partial = data_path.with_name(f".{data_path.name}.partial")
        try:
            self._file = open(self._partial, "wb")
        except OSError as bad:
            raise ReceiverError(f"{self._partial}: cannot write ({bad.strerror or bad})") from None

    def new_segment(self, unix_s: float, dropped: int = 0) -> None:
        """The next samples start a capture segment (the first, or after a gap in the input);
        ``unix_s``: the wall-clock time of its first sample."""
        segment = {"core:sample_start": self.samples, "core:datetime": sigmf_datetime(unix_s)}
        if self.segments:
            segment["chaincast:dropped_before"] = int(dropped)
        self.segments.append(segment)

    def write(self, raw: bytes) -> None:
        """Whole samples."""
        try:
            self._file.write(raw)
        except OSError as bad:
            raise ReceiverError(f"{self._partial}: cannot write ({bad.strerror or bad})") from None
        self._hash.update(raw)
        self.samples += len(raw) // self.bytes_per_sample

    def finish(self, source_name: str, capture: dict) -> None:
        """The data file, then the metadata, renamed into place. Only what ``write`` completed is
        kept (a second Ctrl-C may stop a write half-way)."""
        self._file.flush()
        self._file.truncate(self.samples * self.bytes_per_sample)
        os.fsync(self._file.fileno())
        self._file.close()
        meta = recording_metadata(self.datatype, self.sample_rate_hz, source_name, capture, self.segments,
                                  self.samples_dropped, self._hash.hexdigest())
        os.replace(self._partial, self.data_path)
        partial_meta = self.meta_path.with_name(f".{self.meta_path.name}.partial")
        with open(partial_meta, "w") as f:
            json.dump(meta, f, indent=4, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial_meta, self.meta_path)

    def discard(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chaincast record",
        description="Record a live source to a SigMF recording (the samples as the radio gives them, with the "
                    "radio settings in the metadata) that 'chaincast rx' and 'chaincast point' read later.",
        epilog="Ctrl-C stops and keeps what was recorded. Example: chaincast record rtl_tcp://127.0.0.1:1234 "
               "--downlink-freq 11.2e9 --lnb-lo 9.75e9 --gain 30 --seconds 60 --out pass.sigmf-meta")
    p.add_argument("input", metavar="SOURCE",
                   help="- for raw IQ on standard input, rtl_tcp://HOST:PORT, rtlsdr://[INDEX|SERIAL] or soapy://ARGS")
    p.add_argument("--out", required=True, metavar="X.sigmf-meta",
                   help="the recording's metadata file; the samples go to X.sigmf-data beside it")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="stop after S seconds of samples (default: when standard input ends, or Ctrl-C; a radio or "
                        "an rtl_tcp server is reopened when lost, so without --seconds it runs until Ctrl-C)")
    p.add_argument("--datatype", choices=sorted(BYTES_PER_SAMPLE), default=None,
                   help="standard input's sample format (default cu8, as rtl_sdr writes)")
    p.add_argument("--force", action="store_true", help="replace an existing recording of that name")
    add_tuning_arguments(p)
    return p


def check_output(meta_path: Path, data_path: Path, force: bool) -> None:
    folder = meta_path.parent
    if not folder.is_dir():
        raise ReceiverError(f"--out {meta_path}: no such folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ReceiverError(f"--out {meta_path}: cannot write in {folder}")
    for path in (meta_path, data_path):
        if path.is_dir():
            raise ReceiverError(f"--out: {path} is a folder")
        if (path.exists() or path.is_symlink()) and not force:
            raise ReceiverError(f"--out: {path} exists (--force replaces it)")


def record_command(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.seconds is not None and not (math.isfinite(args.seconds) and 0 < args.seconds <= MAX_SECONDS):
        raise ReceiverError(f"--seconds {args.seconds:g}: must be more than 0 and at most {MAX_SECONDS:g}")
    spec = parse_source(args.input)
    if not spec.live:
        raise ReceiverError(f"{args.input}: record reads a live source (-, rtl_tcp://, rtlsdr://, soapy://); "
                            f"a recording is already one")
    tuning = tuning_from_args(args, spec.kind)  # for standard input: the settings of the program writing it, as metadata
    meta_path, data_path = output_paths(args.out)
    check_output(meta_path, data_path, args.force)
    log = EventLog("chaincast record")
    source = open_live(spec, tuning, args.datatype)
    live = LiveInput(source, ring_seconds=DEFAULT_RING_SECONDS, overflow=default_overflow(source), log=log).open()
    rate = live.sample_rate_hz
    target = None if args.seconds is None else max(1, round(args.seconds * rate))
    out = RecordingFile(meta_path, data_path, live.datatype, rate)
    error: BaseException | None = None
    stop = StopSignals(log)
    stop.on_stop(live.stop)
    try:
        record(live, out, target)
    except (Exception, KeyboardInterrupt) as stopped:  # a second Ctrl-C, a failing source: what was written is kept
        error = stopped
    finally:
        live.stop()
        live.join(2.0)
        stop.restore()
    if out.samples == 0:
        out.discard()
        if error is not None:
            raise error
        raise ReceiverError(f"{live.name}: no samples came; nothing recorded")
    out.finish(live.name, source.capture())
    print(f"{out.samples} samples, {out.samples / rate:.2f} s, {out.samples_dropped} dropped -> {meta_path}", flush=True)
    if isinstance(error, Exception):  # the source failed part-way: what came is kept, the error reported
        raise error
    return 0


def record(live: LiveInput, out: RecordingFile, target: int | None) -> None:
    """Segments from ``live`` into ``out`` until the input ends, ``live.stop()``, or ``target``
    samples."""
    rate = live.sample_rate_hz
    bps = live.bytes_per_sample
    started = time.time()
    live.start()
    with tqdm(total=None if target is None else round(target / rate, 2), unit="s", desc="record", file=sys.stderr,
              disable=None, leave=False) as bar:
        for segment in live.segments(max(1, int(SEGMENT_S * rate))):
            if not segment.raw:
                continue
            n = len(segment.raw) // bps
            out.samples_dropped += segment.dropped
            if not out.segments:
                out.new_segment(started)
            elif segment.gap:  # its first sample came about as long ago as the buffer and it hold
                out.new_segment(time.time() - (live.ring.held_samples + n) / rate, segment.dropped)
            raw = segment.raw if target is None else segment.raw[:(target - out.samples) * bps]
            out.write(raw)
            bar.update(round(len(raw) / bps / rate, 4))
            if out.samples_dropped:
                bar.set_postfix(dropped=out.samples_dropped, refresh=False)
            if target is not None and out.samples >= target:
                break
