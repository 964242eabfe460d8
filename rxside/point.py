"""``chaincast point SOURCE``: a pointing aid. Figures that move with the dish before any frame
decodes, refreshed four times a second.

Every window of input (``--window-seconds``, 0.25 s by default) is measured by
``chaincast.sdr.spectrum``:

* line (dB): the PSK spectral line over the noise floor around it (noise alone: about 5 dB with
  0.25 s windows; a signal from 6.6 dB, ``chaincast.sdr.spectrum.line_threshold_db``). It shows a
  signal far too weak to decode (Es/N0 -3 dB: about 10 dB) and rises 5 to 7 dB for every 3 dB of
  Es/N0 from 0 to 6 dB (17, 24, 29 dB): move the dish slowly for the highest line;
* Es/N0 (dB): from the spectrum, the band's power over the noise beside it (what ``rx`` reports
  from decoded frames; the default MODCOD decodes from about 2.4 dB);
* CFO (Hz): where the line says the carrier is;
* the input level (dB below full scale) and the share of clipped samples (lower the gain if this
  is more than a fraction of a percent).

On a terminal the line and Es/N0 are shown in large figures with bars that keep the peak seen so
far; otherwise one line per window (``--json``: one JSON object per window). The end comes with
the input, after ``--seconds`` of it, or with Ctrl-C / SIGTERM (exit 0); then the best line and
Es/N0 and when they were seen. A recording is read at real time (as a dish would deliver it)
unless ``--fast``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from chaincast.fec.wire.profile import DEFAULT_PROFILE, PROFILES, modcod_by_name, required_esn0_db
from chaincast.fec.wire.recording import BYTES_PER_SAMPLE
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.bigdigits import big_text
from chaincast.rxside.live import DEFAULT_RING_SECONDS, LiveInput, input_level
from chaincast.rxside.logfmt import EventLog
from chaincast.rxside.runloop import StopSignals, default_overflow
from chaincast.rxside.settings import MAX_SAMPLES_PER_SYMBOL
from chaincast.rxside.source import FileSource, raw_to_complex
from chaincast.rxside.sources import open_live, parse_source
from chaincast.rxside.tuningargs import add_tuning_arguments, refuse_tuning_for_stdin, tuning_from_args, tuning_given
from chaincast.sdr import spectrum

WINDOW_S = 0.25
WINDOW_RANGE_S = (0.02, 10.0)
LINE_BAR_DB = (0.0, 40.0)  # the line's bar: empty at 0 dB, full at 40 dB (noise alone fills an eighth)
ESN0_BAR_DB = (-5.0, 15.0)
ESN0_MARGIN_DB = 1.0  # green from the MODCOD's required Es/N0 plus this (the receiver's own loss is 0.2-0.3 dB)
BAR_WIDTH = 40


@dataclass(frozen=True)
class WindowFigures:
    """One window's figures. ``t_s``: input seconds from the start to the window's end (dropped
    samples included); ``line_threshold_db``: the line strength noise alone reaches once in 10^4
    windows of this length (``line_detected``: the line is above it); ``cfo_hz`` None when no line
    stands out; ``esn0_db`` None when not
    measurable (see ``chaincast.sdr.spectrum.band_esn0``); ``level_dbfs``: mean power in dB below
    a full-scale complex sine; ``clipping``: share of I and Q values at full scale; ``dropped``:
    samples lost before the window (a live source that outran the measurement)."""

    t_s: float
    line_db: float
    line_threshold_db: float
    line_detected: bool
    cfo_hz: float | None
    esn0_db: float | None
    level_dbfs: float | None
    clipping: float
    dropped: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Peaks:
    """The best line and Es/N0 seen so far, and when (input seconds at the window's end)."""

    windows: int = 0
    seconds: float = 0.0
    best_line_db: float | None = None
    best_line_t_s: float | None = None
    best_esn0_db: float | None = None
    best_esn0_t_s: float | None = None
    best_cfo_hz: float | None = None  # at the best line

    def update(self, figures: WindowFigures) -> None:
        self.windows += 1
        self.seconds = figures.t_s
        if self.best_line_db is None or figures.line_db > self.best_line_db:
            self.best_line_db, self.best_line_t_s, self.best_cfo_hz = figures.line_db, figures.t_s, figures.cfo_hz
        if figures.esn0_db is not None and (self.best_esn0_db is None or figures.esn0_db > self.best_esn0_db):
            self.best_esn0_db, self.best_esn0_t_s = figures.esn0_db, figures.t_s

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if not self.windows:
            return "summary: no window measured (less input than one window)"
        esn0 = (f"best Es/N0 {self.best_esn0_db:.1f} dB at {self.best_esn0_t_s:.2f} s" if self.best_esn0_db is not None
                else "Es/N0 not measured")
        cfo = f", CFO {self.best_cfo_hz:+.0f} Hz" if self.best_cfo_hz is not None else ""
        return (f"summary: {esn0}; best line {self.best_line_db:.1f} dB at {self.best_line_t_s:.2f} s{cfo} "
                f"({self.windows} windows, {self.seconds:.2f} s)")


class Meter:
    """Windows of ``window`` samples -> WindowFigures. ``feed(iq, gap, dropped)``; a gap starts a
    new window (the samples before it are not measured with the ones after)."""

    def __init__(self, sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, order: int, window: int):
        self.sample_rate_hz, self.symbol_rate_hz, self.rolloff, self.order = sample_rate_hz, symbol_rate_hz, rolloff, order
        self.window = window
        self._parts: list[np.ndarray] = []
        self._held = 0
        self._position = 0  # input samples so far, dropped ones included
        self._dropped = 0  # since the last window

    def feed(self, iq: np.ndarray, gap: bool = False, dropped: int = 0) -> Iterator[WindowFigures]:
        if gap:
            self._parts, self._held = [], 0
        self._position += dropped
        self._dropped += dropped
        while iq.size:
            take = min(iq.size, self.window - self._held)
            self._parts.append(iq[:take])
            self._held += take
            self._position += take
            iq = iq[take:]
            if self._held == self.window:
                yield self._measure()

    def flush(self) -> Iterator[WindowFigures]:
        """The last, partial window, if it holds at least half a window."""
        if self._held >= max(self.window // 2, spectrum.MIN_SAMPLES):
            yield self._measure()

    def _measure(self) -> WindowFigures:
        iq = np.concatenate(self._parts)
        self._parts, self._held = [], 0
        figures = spectrum.estimate(iq, self.sample_rate_hz, self.symbol_rate_hz, self.rolloff, self.order)
        level, clipping = input_level(iq)
        dropped, self._dropped = self._dropped, 0
        line = figures.line
        return WindowFigures(t_s=round(self._position / self.sample_rate_hz, 3), line_db=round(line.strength_db, 1),
                             line_threshold_db=round(line.threshold_db, 1), line_detected=line.detected, cfo_hz=round(line.cfo_hz, 1) if line.detected else None,
                             esn0_db=None if figures.band.esn0_db is None else round(figures.band.esn0_db, 2),
                             level_dbfs=level, clipping=clipping, dropped=dropped)


# ------------------------------------------------------------------------------------------ input


def file_chunks(source: FileSource, realtime: bool, stopped: threading.Event) -> Iterator[tuple[np.ndarray, bool, int]]:
    """A recording's chunks, each released when a radio would have delivered it (``realtime``)."""
    rate = source.info.sample_rate_hz
    started, position = time.monotonic(), 0
    for chunk in source.chunks():
        position += chunk.size
        if realtime and stopped.wait(max(0.0, started + position / rate - time.monotonic())):
            return
        if stopped.is_set():
            return
        yield chunk, False, 0


def live_chunks(live: LiveInput, chunk_samples: int) -> Iterator[tuple[np.ndarray, bool, int]]:
    live.start()
    for segment in live.segments(chunk_samples):
        if segment.raw:
            yield raw_to_complex(segment.raw, live.datatype), segment.gap, segment.dropped


# ---------------------------------------------------------------------------------------- display


def bar(value: float | None, peak: float | None, scale: tuple[float, float], width: int = BAR_WIDTH) -> str:
    """A bar filled to ``value`` on ``scale`` (dB), with ``|`` where the peak so far is."""
    low, high = scale

    def cells(v: float | None) -> int:
        return 0 if v is None else int(round(min(max((v - low) / (high - low), 0.0), 1.0) * width))

    filled, mark = cells(value), cells(peak)
    text = ["█"] * filled + ["░"] * (width - filled)
    if peak is not None:
        text[min(mark, width - 1)] = "┃"
    return "".join(text)


def terminal_view(figures: WindowFigures, peaks: Peaks, source_name: str, needed_db: float | None = None,
                  columns: int = 100):
    """The rich renderable for one window, for a terminal ``columns`` wide. ``needed_db``: the
    Es/N0 the profile's MODCOD needs (green from there plus ``ESN0_MARGIN_DB``, yellow from there,
    red below)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    line_style = "bold green" if figures.line_detected else "bold red"
    if figures.esn0_db is None:
        esn0_style, esn0_text = "dim", "--"
    else:
        needed = 0.0 if needed_db is None else needed_db
        esn0_style = ("bold green" if figures.esn0_db >= needed + ESN0_MARGIN_DB else
                      "bold yellow" if figures.esn0_db >= needed else "bold red")
        esn0_text = f"{figures.esn0_db:.1f}"

    def column(title: str, value: str, style: str, value_db: float | None, peak_db: float | None, peak_t: float | None,
               scale: tuple[float, float], note: str) -> Group:
        peak = "peak --" if peak_db is None else f"peak {peak_db:.1f} dB at {peak_t:.1f} s"
        return Group(Text(title, style="bold"), Text("\n".join(big_text(value, scale=2)), style=style),
                     Text(bar(value_db, peak_db, scale, width), style=style), Text(f"{peak}   {note}", style="dim"))

    width = max(10, min(BAR_WIDTH, (columns - 14) // 2))
    grid = Table.grid(padding=(0, 4))
    grid.add_row(
        column("LINE  dB", f"{figures.line_db:.1f}", line_style, figures.line_db, peaks.best_line_db, peaks.best_line_t_s,
               LINE_BAR_DB, "signal" if figures.line_detected else "no signal"),
        column("Es/N0  dB", esn0_text, esn0_style, figures.esn0_db, peaks.best_esn0_db, peaks.best_esn0_t_s,
               ESN0_BAR_DB, "" if needed_db is None else f"needs {needed_db:.1f}"))
    cfo = "--" if figures.cfo_hz is None else f"{figures.cfo_hz / 1e3:+.2f} kHz"
    level = "--" if figures.level_dbfs is None else f"{figures.level_dbfs:.1f} dBFS"
    clip_style = "bold red" if figures.clipping > 0.001 else ""
    status = Text.assemble(f"CFO {cfo}    input {level}    ", (f"clipping {100 * figures.clipping:.2f} %", clip_style),
                           f"    {figures.t_s:.1f} s" + (f"    dropped {figures.dropped}" if figures.dropped else ""))
    return Panel(Group(grid, Text(""), status), title=f"chaincast point  {source_name}", subtitle="Ctrl-C to stop")


def plain_line(figures: WindowFigures) -> str:
    esn0 = "-" if figures.esn0_db is None else f"{figures.esn0_db:.2f}dB"
    cfo = "-" if figures.cfo_hz is None else f"{figures.cfo_hz:.0f}Hz"
    level = "-" if figures.level_dbfs is None else f"{figures.level_dbfs:.1f}dBFS"
    return (f"t={figures.t_s:.2f}s line={figures.line_db:.1f}dB{'' if figures.line_detected else '(none)'} esn0={esn0} "
            f"cfo={cfo} level={level} clip={100 * figures.clipping:.2f}%" + (f" dropped={figures.dropped}" if figures.dropped else ""))


# -------------------------------------------------------------------------------------------- cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chaincast point",
        description="Pointing aid: the PSK spectral line and Es/N0 of the signal, four times a second, before any frame "
                    "decodes. Move the dish slowly for the highest line; then fine-tune for Es/N0.",
        epilog="Example: chaincast point rtl_tcp://127.0.0.1:1234 --downlink-freq 11.2e9 --lnb-lo 9.75e9 --gain 30")
    p.add_argument("input", metavar="SOURCE",
                   help="rtl_tcp://HOST:PORT, rtlsdr://[INDEX|SERIAL], soapy://ARGS, - (raw IQ on standard input), "
                        "or a recording (.sigmf-meta, .cu8, .cf32)")
    p.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="link profile: symbol rate, roll-off, modulation (default: a recording's, else 'default')")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="stop after S seconds of input, rounded up to whole windows (default: at the input's end, or Ctrl-C)")
    p.add_argument("--window-seconds", type=float, default=WINDOW_S, metavar="S",
                   help=f"input per measurement (default {WINDOW_S:g}: longer steadies the figures, shorter follows the "
                        f"dish faster)")
    p.add_argument("--json", action="store_true", help="one JSON object per window on stdout, then a summary object")
    p.add_argument("--fast", action="store_true", help="a recording: read as fast as it can be measured, not at real time")
    p.add_argument("--datatype", choices=sorted(BYTES_PER_SAMPLE), default=None,
                   help="raw sample format of standard input (default cu8) or of a raw file with another suffix")
    add_tuning_arguments(p)
    return p


def point_command(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.seconds is not None and not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ReceiverError(f"--seconds {args.seconds:g}: must be a positive number of seconds")
    low, high = WINDOW_RANGE_S
    if not (math.isfinite(args.window_seconds) and low <= args.window_seconds <= high):
        raise ReceiverError(f"--window-seconds {args.window_seconds:g}: must be {low:g} to {high:g}")
    spec = parse_source(args.input)
    log = EventLog("chaincast point")
    live = recording = None
    if spec.live:
        if args.fast:
            raise ReceiverError("--fast is for a recording; a live source comes at its own pace")
        if spec.kind == "stdin":
            refuse_tuning_for_stdin(args, "point")
        source = open_live(spec, tuning_from_args(args, spec.kind), args.datatype)
        live = LiveInput(source, ring_seconds=DEFAULT_RING_SECONDS, overflow=default_overflow(source), log=log)
        rate, name = source.sample_rate_hz, source.name
    else:
        given = tuning_given(args)
        if given:
            raise ReceiverError(f"{given[0]} is for a live source (rtl_tcp://, rtlsdr://, soapy://, -), not a recording")
        recording = FileSource(args.input, sample_rate_hz=args.sample_rate, datatype=args.datatype)
        rate, name = recording.info.sample_rate_hz, args.input
    profile = PROFILES[args.profile] if args.profile else PROFILES.get(recording.info.profile if recording else None,
                                                                       DEFAULT_PROFILE)
    symbol_rate = (recording.info.symbol_rate_hz if recording is not None and args.profile is None
                   and recording.info.symbol_rate_hz is not None else profile.symbol_rate_hz)
    sps = rate / symbol_rate
    if not 1.0 < sps <= MAX_SAMPLES_PER_SYMBOL:
        raise ReceiverError(f"{rate:g} samples/s for {symbol_rate:g} baud: point needs more than 1 and at most "
                            f"{MAX_SAMPLES_PER_SYMBOL} samples per symbol")
    window = max(spectrum.MIN_SAMPLES * 2, int(round(args.window_seconds * rate)))
    order = spectrum.line_order(modcod_by_name(profile.modcod).bits_per_symbol)
    meter = Meter(rate, symbol_rate, profile.rolloff, order, window)
    if live is not None:
        live.open()  # nothing listening, no dongle: an error now
    stopped = threading.Event()
    signals = StopSignals(log)
    signals.on_stop(stopped.set)
    if live is not None:
        signals.on_stop(live.stop)
        chunks = live_chunks(live, max(1, window // 4))
    else:
        recording.chunk_samples = max(1, window // 4)  # the pace of a real-time read: a quarter window at a time
        chunks = file_chunks(recording, not args.fast, stopped)
    show = Display(args.json, name, required_esn0_db(profile.modcod))
    peaks = Peaks()
    try:
        with show:
            for figures in measure(meter, chunks, stopped, args.seconds):
                peaks.update(figures)
                show.window(figures, peaks)
    finally:
        signals.restore()
        if live is not None:
            live.stop()
            live.join(2.0)
    show.summary(peaks)
    return 0


def measure(meter: Meter, chunks, stopped: threading.Event, seconds: float | None) -> Iterator[WindowFigures]:
    for iq, gap, dropped in chunks:
        for figures in meter.feed(iq, gap, dropped):
            yield figures
            if seconds is not None and figures.t_s >= seconds - 1e-9:
                return
        if stopped.is_set():
            return
    yield from meter.flush()


class Display:
    """Where the figures go: JSON lines, plain lines, or the live terminal view (stdout a terminal)."""

    def __init__(self, as_json: bool, source_name: str, needed_db: float | None = None):
        self.as_json = as_json
        self.source_name = source_name
        self.needed_db = needed_db
        self.terminal = not as_json and sys.stdout.isatty()
        self._live = None

    def __enter__(self) -> "Display":
        if self.terminal:
            from rich.live import Live
            self._live = Live(refresh_per_second=8, transient=False, auto_refresh=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def window(self, figures: WindowFigures, peaks: Peaks) -> None:
        if self.as_json:
            print(json.dumps({"kind": "window", **figures.as_dict()}), flush=True)
        elif self._live is not None:
            view = terminal_view(figures, peaks, self.source_name, self.needed_db, self._live.console.width)
            self._live.update(view, refresh=True)
        else:
            print(plain_line(figures), flush=True)

    def summary(self, peaks: Peaks) -> None:
        if self.as_json:
            print(json.dumps({"kind": "summary", **peaks.as_dict()}), flush=True)
        else:
            print(peaks.summary(), flush=True)
