"""The receive loops of ``chaincast rx``: a recording read chunk by chunk, or a live source read
in its own thread; both stop cleanly on SIGINT / SIGTERM (the frames held are finished, the state
committed, the summary printed, exit 0).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from chaincast.fec.kernels import kernels_mode
from chaincast.rxside.live import InputLevel, LiveInput
from chaincast.rxside.receiver import Receiver, ReceiveReport
from chaincast.rxside.source import FileSource, raw_to_complex
from chaincast.rxside.status import status_output, take_snapshot

LIVE_CHUNK_S = 0.05  # of input fed to the receiver at a time on a live source
STATUS_REFRESH_S = 0.25  # the terminal display and the metrics are updated this often


class StopSignals:
    """SIGINT and SIGTERM ask the run to stop; a second one stops it at once (KeyboardInterrupt)."""

    def __init__(self, log: Callable[..., None]):
        self.log = log
        self.signal_name: str | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (rx run inside a test or a flowgraph)
                pass

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def on_stop(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def _handle(self, signum, _frame) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self.log("stopping", signal=self.signal_name)
        for callback in self._callbacks:
            callback()

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


def default_overflow(source) -> str:
    """A radio cannot wait: drop. Standard input redirected from a file can, and loses nothing."""
    return "wait" if getattr(source, "is_regular_file", False) else "drop"


def receive_file(receiver: Receiver, source: FileSource, first_sample: int, sink_delivery, stop: StopSignals,
                 metrics=None) -> ReceiveReport:
    rate = source.info.sample_rate_hz
    started = time.monotonic()
    last_status = 0.0
    with tqdm(total=round(source.duration_s, 2), initial=round(first_sample / rate, 2), unit="s",
              desc="rx", file=sys.stderr, disable=None, leave=False) as bar:
        for chunk in source.chunks(first_sample):
            receiver.feed(chunk)
            if sink_delivery is not None:
                sink_delivery.poll()
            bar.update(round(len(chunk) / rate, 4))
            bar.set_postfix(lock="yes" if receiver.demodulator.stats.locked else "no", frames=receiver.link.stats.frames_ok,
                            blocks=receiver.delivery.stats.blocks_validated, refresh=False)
            if metrics is not None and time.monotonic() - last_status >= STATUS_REFRESH_S:
                metrics.update(take_snapshot(receiver, None, None, started, str(source.data_path)))
                last_status = time.monotonic()
            if stop.requested:
                break
        return receiver.finish(interrupted=stop.requested)


def receive_live(receiver: Receiver, live_input: LiveInput, sink_delivery, log, metrics=None,
                 status_interval_s: float = 10.0, seconds: float | None = None) -> ReceiveReport:
    """Until the source ends (standard input), ``seconds`` of running time (wall clock, so that a
    source that delivers nothing still stops) have passed, or a signal
    (``live_input.stop()``). Each gap in the input (dropped samples, a reopened source) makes the
    demodulator acquire again."""
    rate = live_input.sample_rate_hz
    chunk = max(1, int(LIVE_CHUNK_S * rate))
    level = InputLevel()
    started = time.monotonic()
    display = status_output(status_interval_s)
    last_status, fed = 0.0, False
    log("start", source=live_input.name, sample_rate_hz=rate, datatype=live_input.datatype,
        overflow=live_input.ring.overflow, ring_samples=live_input.ring.capacity_samples, kernels=kernels_mode())
    live_input.start()
    try:
        for segment in live_input.segments(chunk):
            if segment.gap and fed:
                receiver.discontinuity(segment.dropped)
            if segment.raw:
                iq = raw_to_complex(segment.raw, live_input.datatype)
                level.measure(iq)
                receiver.feed(iq)
                fed = True
            if sink_delivery is not None:
                sink_delivery.poll()
            now = time.monotonic()
            if now - last_status >= STATUS_REFRESH_S:
                snapshot = take_snapshot(receiver, live_input, level, started, live_input.name)
                display.update(snapshot)
                if metrics is not None:
                    metrics.update(snapshot)
                last_status = now
            if seconds is not None and now - started >= seconds:
                live_input.stop()
        report = receiver.finish()
    finally:
        display.close()
        live_input.stop()
    stats = live_input.stats
    log("end", source=live_input.name, samples=receiver.samples, samples_dropped=stats.ring.samples_dropped,
        overflows=stats.ring.overflows, reconnects=stats.reconnects, tip=report.tip_height)
    return report


def input_figures(live_input: LiveInput | None, receiver: Receiver, stop: StopSignals) -> dict:
    """The input's part of the ``--json`` summary (zeros for a recording)."""
    figures = {"source_live": live_input is not None, "samples_dropped": 0, "overflows": 0, "reconnects": 0,
               "discontinuities": receiver.discontinuities, "stopped_by": stop.signal_name}
    if live_input is not None:
        stats = live_input.stats
        figures |= {"source": live_input.name, "samples_dropped": stats.ring.samples_dropped,
                    "overflows": stats.ring.overflows, "reconnects": stats.reconnects, "source_losses": stats.losses,
                    "source_ended": stats.ended}
    return figures
