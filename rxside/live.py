"""Live IQ input: the contract every radio adapter meets, and the bounded buffer between a
radio's reader thread and the receive loop.

A live source (a local RTL-SDR, a remote one behind rtl_tcp, a SoapySDR device, raw samples on
standard input) delivers raw sample bytes (``cu8``: interleaved unsigned 8-bit I and Q, as an
RTL-SDR gives them; ``cf32_le``: little-endian complex64) at its sample rate, for as long as it
runs. Its reader runs in a thread of its own and puts what it reads into a ``SampleRing``; the
receive loop takes it out. Neither waits for the other: when the ring is full the oldest samples
are dropped and counted, and the loop is told that the next segment does not follow the last one,
so the demodulator acquires again. Memory is the ring's capacity, whatever the input rate.

A source that goes away (a dongle unplugged, an rtl_tcp server restarted) raises ``SourceLost``
and is reopened with exponential backoff, its settings sent again; the first opening failing is
an error for the user (a wrong address, no dongle), not something to retry for ever.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from chaincast.fec.wire.recording import BYTES_PER_SAMPLE
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.settings import DEFAULT_RING_SECONDS, DEFAULT_SAMPLE_RATE_HZ, Tuning  # noqa: F401 (adapters take them from here)

BACKOFF_S = (0.5, 30.0)  # first and longest wait before reopening a lost source
# A connection that delivered samples for this long was a working one: the wait before the next
# reopening starts again from the shortest. One that opens and fails at once (a server that accepts
# and closes, a device that opens but gives nothing) keeps doubling the wait, so it is not retried
# twice a second for months.
STABLE_CONNECTION_S = 10.0


class SourceLost(Exception):
    """The source stopped delivering (connection closed, device gone): reopen it later."""


class LiveSource(Protocol):
    """What a radio adapter provides (rtl_tcp, pyrtlsdr, SoapySDR, standard input)."""

    name: str  # how the user named it: "rtl_tcp://127.0.0.1:1234", "rtlsdr://0", "-"
    datatype: str  # "cu8" or "cf32_le"
    sample_rate_hz: float
    reopens: bool  # whether a SourceLost is retried (standard input ends for good)

    def open(self) -> None:
        """Connect and apply the settings. ReceiverError when it cannot work at all (no such
        device, refused connection at the first try); SourceLost when it may work later."""

    def read(self) -> bytes:
        """Block until some samples arrive and return their bytes (any length); b"" at the end
        of the stream; SourceLost when it stops delivering. Never blocks for more than about a
        second without returning, so that ``close`` from another thread is seen."""

    def close(self) -> None:
        """Release the device or connection; safe to call twice and from another thread."""

    def capture(self) -> dict:
        """Settings and device description for recording metadata."""

    # Optional: ``loss_events`` and ``samples_lost``, running counts of losses below the ring (a
    # driver's overflow, a USB buffer the adapter could not queue; 0 samples when the driver does
    # not say how many). ``LiveInput`` adds them to the ring's counts and marks a gap there.


# ---------------------------------------------------------------------------------------- buffer


@dataclass(frozen=True)
class Segment:
    """Raw sample bytes taken from the ring. ``dropped``: samples lost right before it (the ring
    was full); ``gap``: it does not follow the segment before (dropped samples, or a reopened
    source whose missing samples are not known)."""

    raw: bytes
    dropped: int
    gap: bool


@dataclass
class RingStats:
    samples_in: int = 0  # put by the reader (the ones dropped included)
    samples_out: int = 0  # taken by the receive loop
    samples_dropped: int = 0  # lost because the ring was full
    overflows: int = 0  # times the ring was full (each loses one or more chunks)
    peak_fill_samples: int = 0


class SampleRing:
    """A bounded FIFO of raw sample chunks between one writer thread and one reader.

    ``overflow="drop"``: ``put`` never waits; when the ring would hold more than
    ``capacity_samples`` the oldest chunks go (a live radio cannot be paused). ``"wait"``: ``put``
    waits for room (a file on standard input, which can be).
    """

    def __init__(self, capacity_samples: int, bytes_per_sample: int, overflow: str = "drop"):
        if overflow not in ("drop", "wait"):
            raise ValueError(f"overflow must be 'drop' or 'wait', got {overflow!r}")
        if capacity_samples < 1:
            raise ValueError("capacity_samples must be positive")
        self.capacity_samples = int(capacity_samples)
        self.bytes_per_sample = int(bytes_per_sample)
        self.overflow = overflow
        self.stats = RingStats()
        self._chunks: deque[tuple[bytes, bool, int]] = deque()  # (raw, a gap right before it, samples lost right before it)
        self._held = 0  # samples in _chunks
        self._dropped_pending = 0  # dropped since the last get (right before the oldest chunk held)
        self._gap_pending = False  # before the oldest chunk held (samples dropped)
        self._gap_next = False  # before the next chunk put (the source was reopened, or lost samples)
        self._lost_next = 0  # samples lost below the ring before the next chunk put
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    @property
    def held_samples(self) -> int:
        return self._held

    def put(self, raw: bytes) -> None:
        """Add whole samples (``len(raw)`` a multiple of ``bytes_per_sample``)."""
        n = len(raw) // self.bytes_per_sample
        if n == 0:
            return
        if n > self.capacity_samples:  # larger than the ring: only its newest part fits
            skipped = n - self.capacity_samples
            raw, n = raw[skipped * self.bytes_per_sample:], self.capacity_samples
            with self._cond:
                self._note_drop(skipped)
        with self._cond:
            self.stats.samples_in += n
            if self.overflow == "wait":
                while self._held + n > self.capacity_samples and not self._closed:
                    self._cond.wait(0.5)
                if self._closed:
                    return
            elif self._held + n > self.capacity_samples:
                lost = 0
                while self._held + n > self.capacity_samples:
                    oldest, _, lost_before = self._chunks.popleft()
                    k = len(oldest) // self.bytes_per_sample
                    self._held -= k
                    lost += k
                    self._dropped_pending += lost_before  # counted already, when it was lost
                self._note_drop(lost)
            self._chunks.append((raw, self._gap_next, self._lost_next))
            self._gap_next, self._lost_next = False, 0
            self._held += n
            self.stats.peak_fill_samples = max(self.stats.peak_fill_samples, self._held)
            self._cond.notify_all()

    def _note_drop(self, samples: int) -> None:
        self.stats.samples_dropped += samples
        self.stats.overflows += 1
        self._dropped_pending += samples
        self._gap_pending = True

    def note_loss(self, samples: int, events: int = 1) -> None:
        """Samples lost before they reached the ring (``samples`` 0: how many is not known): counted
        with the ring's own drops, and the next samples put start a new segment."""
        with self._cond:
            self.stats.samples_dropped += samples
            self.stats.overflows += events
            self._lost_next += samples
            self._gap_next = True

    def mark_gap(self) -> None:
        """The next samples put do not follow the last ones (the source was reopened)."""
        with self._cond:
            self._gap_next = True

    def close(self, error: BaseException | None = None) -> None:
        """No more samples will come; ``get`` returns what is held, then None (or raises ``error``)."""
        with self._cond:
            self._closed = True
            self._error = error
            self._cond.notify_all()

    def get(self, max_samples: int, timeout_s: float = 0.25) -> Segment | None:
        """Up to ``max_samples`` samples, waiting at most ``timeout_s`` for any. An empty segment
        on a timeout; None once closed and drained (the error given to ``close`` is raised then)."""
        with self._cond:
            if not self._chunks and not self._closed:
                self._cond.wait(timeout_s)
            if not self._chunks:
                if self._closed:
                    if self._error is not None:
                        raise self._error
                    return None
                return Segment(b"", 0, False)
            parts, taken = [], 0
            gap = self._gap_pending or self._chunks[0][1]
            dropped = self._dropped_pending + self._chunks[0][2]
            while self._chunks and taken < max_samples:
                chunk, gap_before, _ = self._chunks[0]
                if parts and gap_before:  # a segment never spans a gap
                    break
                k = len(chunk) // self.bytes_per_sample
                if taken + k > max_samples and parts:
                    break
                if taken + k > max_samples:  # split a chunk larger than what is asked
                    cut = (max_samples - taken) * self.bytes_per_sample
                    parts.append(chunk[:cut])
                    self._chunks[0] = (chunk[cut:], False, 0)
                    k = max_samples - taken
                else:
                    parts.append(self._chunks.popleft()[0])
                taken += k
            self._held -= taken
            self.stats.samples_out += taken
            segment = Segment(b"".join(parts), dropped, gap)
            self._dropped_pending, self._gap_pending = 0, False
            self._cond.notify_all()
            return segment


# ---------------------------------------------------------------------------------------- reader


@dataclass
class InputStats:
    connected: bool = False
    opened: int = 0  # successful openings (the first, and each reopening)
    reconnects: int = 0  # openings after a loss
    losses: int = 0
    last_error: str = ""
    ended: bool = False  # the source reached its end (standard input closed)
    last_input_monotonic: float | None = None  # time.monotonic() when samples last came in
    ring: RingStats = field(default_factory=RingStats)


class LiveInput:
    """A live source read in its own thread into a ``SampleRing``.

    ``segments()`` yields what the ring holds until the source ends, ``stop()`` is called, or the
    first opening fails (its ReceiverError is raised from ``segments``). ``log(event, **fields)``
    is told of openings, losses and reopenings.
    """

    def __init__(self, source: LiveSource, ring_seconds: float = DEFAULT_RING_SECONDS, overflow: str = "drop",
                 backoff_s: tuple[float, float] = BACKOFF_S, log: Callable[..., None] | None = None,
                 stable_connection_s: float = STABLE_CONNECTION_S):
        self.source = source
        self.stable_connection_s = stable_connection_s
        self.bytes_per_sample = BYTES_PER_SAMPLE[source.datatype]
        capacity = max(1, int(ring_seconds * source.sample_rate_hz))
        self.ring = SampleRing(capacity, self.bytes_per_sample, overflow)
        self.backoff_s = backoff_s
        self.log = log or (lambda event, **fields: None)
        self.stats = InputStats(ring=self.ring.stats)
        self._stop = threading.Event()
        self._opened_already = False
        self._thread = threading.Thread(target=self._run, name=f"chaincast-reader {source.name}", daemon=True)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def sample_rate_hz(self) -> float:
        return self.source.sample_rate_hz

    @property
    def datatype(self) -> str:
        return self.source.datatype

    def open(self) -> "LiveInput":
        """Open the source in the calling thread, so that a source that cannot work at all (no
        dongle, nothing listening) is a ReceiverError before the receiver writes anything."""
        try:
            self.source.open()
        except SourceLost as lost:
            raise ReceiverError(f"{self.source.name}: {lost}") from None
        self._opened_already = True
        return self

    def start(self) -> "LiveInput":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading (from any thread, a signal handler included): ``segments`` ends after
        what the ring holds."""
        self._stop.set()
        self.ring.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def join(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def segments(self, max_samples: int) -> Iterator[Segment]:
        while True:
            segment = self.ring.get(max_samples)
            if segment is None:
                return
            yield segment

    def _run(self) -> None:
        delay, first = self.backoff_s[0], True
        try:
            while not self._stop.is_set():
                try:
                    if not self._opened_already:
                        self.source.open()
                    self._opened_already = False
                except SourceLost as lost:
                    if first:
                        raise ReceiverError(f"{self.source.name}: {lost}") from None
                    self._lost(str(lost))
                else:
                    self.stats.opened += 1
                    self.stats.reconnects += not first
                    self.stats.connected, first = True, False
                    self.log("source_open", source=self.source.name, opened=self.stats.opened)
                    opened_at, samples_before = time.monotonic(), self.ring.stats.samples_in
                    try:
                        if self._pump():
                            self.stats.ended = True
                            self.log("source_end", source=self.source.name)
                            return
                    except SourceLost as lost:
                        self._lost(str(lost))
                    finally:
                        self.stats.connected = False
                        self.source.close()
                    if (time.monotonic() - opened_at >= self.stable_connection_s
                            and self.ring.stats.samples_in > samples_before):
                        delay = self.backoff_s[0]
                if not self.source.reopens:
                    return
                self.log("source_retry", source=self.source.name, wait_s=round(delay, 2))
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self.backoff_s[1])
                self.ring.mark_gap()
        except ReceiverError as error:
            self.ring.close(error)
        except Exception as error:  # a bug in an adapter: the loop reports it, the reader ends
            self.ring.close(ReceiverError(f"{self.source.name}: {type(error).__name__}: {error}"))
        finally:
            self.ring.close()

    def _lost(self, why: str) -> None:
        self.stats.losses += 1
        self.stats.last_error = why
        self.log("source_lost", source=self.source.name, why=why, losses=self.stats.losses)

    def _pump(self) -> bool:
        """Read until the stream ends (True) or stop() (False); SourceLost propagates."""
        partial = b""  # a read may end inside a sample
        events_seen = getattr(self.source, "loss_events", 0)
        samples_seen = getattr(self.source, "samples_lost", 0)
        while not self._stop.is_set():
            raw = self.source.read()
            events = getattr(self.source, "loss_events", 0)
            if events != events_seen:
                samples = getattr(self.source, "samples_lost", 0)
                self.ring.note_loss(max(0, samples - samples_seen), max(1, events - events_seen))
                events_seen, samples_seen = events, samples
                partial = b""  # what follows does not continue the sample cut short
            if not raw:
                return True
            if partial:
                raw = partial + raw
            cut = len(raw) - len(raw) % self.bytes_per_sample
            partial = raw[cut:]
            self.ring.put(raw[:cut])
            self.stats.last_input_monotonic = time.monotonic()
        return False


# ----------------------------------------------------------------------------------------- meter


def input_level(iq: np.ndarray) -> tuple[float | None, float]:
    """(mean power in dB relative to a full-scale complex sine, share of I and Q values at or
    beyond full scale). cu8 converted by ``cu8_to_complex`` maps codes 0 and 255 to exactly -1.0
    and +1.0, so the same test counts a dongle's clipped samples."""
    if not iq.size:
        return None, 0.0
    power = float(np.mean(iq.real.astype(np.float64) ** 2 + iq.imag.astype(np.float64) ** 2))
    dbfs = round(10 * math.log10(power), 1) if power > 0 else -120.0
    clipping = float(np.count_nonzero(np.abs(iq.view(np.float32)) >= 1.0)) / (2 * iq.size)
    return dbfs, round(clipping, 5)


@dataclass
class InputLevel:
    """The input's level (``input_level``) over the last segment measured."""

    dbfs: float | None = None
    clipping: float = 0.0

    def measure(self, iq: np.ndarray) -> None:
        if iq.size:
            self.dbfs, self.clipping = input_level(iq)


def wait_for(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes (for tests and shutdown)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()
