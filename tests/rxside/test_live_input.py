"""The bounded buffer between a live source's reader thread and the receive loop, and the reader's
reopening: the ring's accounting is checked against counts kept by the test itself."""

import threading
import time

import numpy as np
import pytest

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import InputLevel, LiveInput, SampleRing, SourceLost, wait_for


def _cu8(first: int, n: int) -> bytes:
    """n cu8 samples numbered first.. (I = low byte of the index, Q = next byte): the test can tell
    which samples arrived."""
    idx = np.arange(first, first + n, dtype=np.uint32)
    return np.stack([(idx & 0xFF).astype(np.uint8), ((idx >> 8) & 0xFF).astype(np.uint8)], axis=1).tobytes()


def _indices(raw: bytes) -> np.ndarray:
    pairs = np.frombuffer(raw, np.uint8).reshape(-1, 2).astype(np.uint32)
    return pairs[:, 0] | (pairs[:, 1] << 8)


def test_ring_drops_the_oldest_and_counts_what_it_dropped():
    ring = SampleRing(capacity_samples=1000, bytes_per_sample=2)
    for k in range(10):  # 10 chunks of 300 samples into 1000 samples of room
        ring.put(_cu8(300 * k, 300))
    assert ring.held_samples <= 1000
    seg = ring.get(10_000)
    got = _indices(seg.raw)
    # what is left is the newest, in order, and what was dropped is exactly the rest
    assert got[-1] == 2999 and np.all(np.diff(got) == 1)
    assert seg.gap and seg.dropped == 3000 - got.size == ring.stats.samples_dropped
    assert ring.stats.overflows >= 1 and ring.stats.samples_in == 3000
    ring.put(_cu8(3000, 10))
    nxt = ring.get(100)
    assert not nxt.gap and nxt.dropped == 0 and _indices(nxt.raw)[0] == 3000


def test_ring_splits_a_chunk_larger_than_asked_and_keeps_order():
    ring = SampleRing(capacity_samples=10_000, bytes_per_sample=2)
    ring.put(_cu8(0, 5000))
    parts = [ring.get(1234) for _ in range(5)]
    got = np.concatenate([_indices(p.raw) for p in parts])
    assert [len(p.raw) // 2 for p in parts] == [1234, 1234, 1234, 1234, 64]
    assert np.array_equal(got, np.arange(5000))


def test_ring_wait_mode_loses_nothing_and_holds_the_writer():
    ring = SampleRing(capacity_samples=500, bytes_per_sample=2, overflow="wait")
    done = threading.Event()

    def writer():
        for k in range(20):
            ring.put(_cu8(100 * k, 100))
        ring.close()
        done.set()

    threading.Thread(target=writer, daemon=True).start()
    time.sleep(0.2)
    assert not done.is_set() and ring.held_samples <= 500  # the writer waits for room
    got = []
    while (seg := ring.get(64, timeout_s=1.0)) is not None:
        got.append(_indices(seg.raw))
    assert np.array_equal(np.concatenate(got), np.arange(2000))
    assert ring.stats.samples_dropped == 0


def test_ring_close_with_error_raises_after_draining():
    ring = SampleRing(100, 2)
    ring.put(_cu8(0, 10))
    ring.close(ReceiverError("gone"))
    assert len(ring.get(100).raw) == 20
    with pytest.raises(ReceiverError, match="gone"):
        ring.get(100)


class CountingSource:
    """A source of numbered cu8 samples that is lost after ``lose_after`` reads of each opening
    (a stand-in for a radio the test can count; the rtl_tcp and stdin tests use real ones)."""

    name = "counting://"
    datatype = "cu8"
    sample_rate_hz = 1e5
    reopens = True

    def __init__(self, lose_after=5, fail_first_open=False, openings_before_end=3):
        self.lose_after, self.fail_first_open = lose_after, fail_first_open
        self.openings_before_end = openings_before_end
        self.opened, self.reads, self.next = 0, 0, 0

    def open(self):
        if self.fail_first_open and self.opened == 0:
            raise SourceLost("connection refused")
        self.opened += 1
        self.reads = 0

    def read(self):
        self.reads += 1
        if self.opened >= self.openings_before_end and self.reads > self.lose_after:
            return b""
        if self.reads > self.lose_after:
            raise SourceLost("connection reset")
        raw = _cu8(self.next, 100)
        self.next += 100
        return raw[:150] + raw[150:]  # whole samples

    def close(self):
        pass

    def capture(self):
        return {}


def test_reader_reopens_a_lost_source_and_marks_each_gap():
    source = CountingSource(lose_after=5, openings_before_end=3)
    events = []
    live = LiveInput(source, ring_seconds=1.0, backoff_s=(0.01, 0.05), log=lambda event, **f: events.append(event)).start()
    segments = list(live.segments(10_000))
    got = np.concatenate([_indices(s.raw) for s in segments if s.raw])
    assert np.array_equal(got, np.arange(1500))  # 3 openings x 5 reads x 100 samples, none dropped
    assert live.stats.opened == 3 and live.stats.reconnects == 2 and live.stats.losses == 2 and live.stats.ended
    assert events.count("source_lost") == 2 and events.count("source_open") == 3
    # each reopening is a gap for the demodulator (the missing samples are not known)
    gaps = [int(_indices(s.raw)[0]) for s in segments if s.gap]
    assert gaps == [500, 1000]  # at the first sample after each reopening, not before or after it


def test_a_source_that_fails_right_after_opening_waits_longer_each_time():
    # opens, then is lost at its first read, five times: a server that accepts and closes at once
    source = CountingSource(lose_after=0, openings_before_end=6)
    waits = []
    live = LiveInput(source, ring_seconds=1.0, backoff_s=(0.01, 0.08),
                     log=lambda event, **f: waits.append(f["wait_s"]) if event == "source_retry" else None).start()
    list(live.segments(10_000))
    assert waits == [0.01, 0.02, 0.04, 0.08, 0.08]  # doubling to the cap, never reset


def test_the_wait_starts_again_after_a_connection_that_worked():
    source = CountingSource(lose_after=5, openings_before_end=4)
    waits = []
    live = LiveInput(source, ring_seconds=1.0, backoff_s=(0.01, 0.08), stable_connection_s=0.0,
                     log=lambda event, **f: waits.append(f["wait_s"]) if event == "source_retry" else None).start()
    list(live.segments(10_000))
    assert waits == [0.01, 0.01, 0.01]  # each opening delivered samples: back to the shortest wait


def test_losses_below_the_ring_are_counted_and_start_a_new_segment():
    """A driver that overflows (SOAPY_SDR_OVERFLOW) or a USB queue that fills (pyrtlsdr's
    callback) loses samples before the ring sees them: counted with the ring's own drops, and the
    samples after them are a new segment, so the demodulator acquires again."""

    class Overflowing(CountingSource):
        loss_events = 0
        samples_lost = 0

        def read(self):
            if self.reads == 2:  # 300 samples lost in the driver, before the third read's samples
                self.next += 300
                self.samples_lost += 300
                self.loss_events += 1
            if self.reads == 4:  # a driver that does not say how many
                self.next += 100
                self.loss_events += 1
            return super().read()

    source = Overflowing(lose_after=6, openings_before_end=1)
    live = LiveInput(source, ring_seconds=1.0).start()
    segments = list(live.segments(10_000))
    got = np.concatenate([_indices(s.raw) for s in segments if s.raw])
    assert np.array_equal(got, np.r_[0:200, 500:700, 800:1000])
    assert live.stats.ring.samples_dropped == 300 and live.stats.ring.overflows == 2
    gaps = [(int(_indices(s.raw)[0]), s.dropped) for s in segments if s.gap]
    assert gaps == [(500, 300), (800, 0)]


def test_ring_note_loss_survives_the_ring_dropping_the_chunk_after_it():
    ring = SampleRing(capacity_samples=300, bytes_per_sample=2)
    ring.put(_cu8(0, 100))
    ring.note_loss(50)
    ring.put(_cu8(150, 100))
    ring.put(_cu8(250, 250))  # 450 > 300: both older chunks go
    seg = ring.get(1000)
    assert seg.gap and _indices(seg.raw)[0] == 250 and len(seg.raw) == 500
    assert seg.dropped == 250 == ring.stats.samples_dropped  # 200 dropped by the ring + the 50 lost before them
    assert ring.stats.overflows == 2


def test_first_opening_failure_is_an_error_for_the_user():
    live = LiveInput(CountingSource(fail_first_open=True))
    with pytest.raises(ReceiverError, match="counting://: connection refused"):
        live.open()


def test_stop_from_another_thread_ends_the_segments():
    class Endless(CountingSource):
        def read(self):
            time.sleep(0.001)
            raw = _cu8(self.next % 60000, 100)
            self.next += 100
            return raw

    live = LiveInput(Endless(), ring_seconds=0.5).start()
    threading.Timer(0.3, live.stop).start()
    t0 = time.monotonic()
    n = sum(len(s.raw) for s in live.segments(1000))
    assert n > 0 and time.monotonic() - t0 < 5
    live.join(2.0)
    assert wait_for(lambda: not live._thread.is_alive(), 2.0)


def test_input_level_of_cu8_full_scale_and_clipping():
    level = InputLevel()
    raw = np.array([0, 255] * 500 + [128, 128] * 500, np.uint8).tobytes()
    from chaincast.rxside.source import raw_to_complex
    level.measure(raw_to_complex(raw, "cu8"))
    assert level.clipping == pytest.approx(0.5)
    assert -3.5 < level.dbfs < 0.5  # half the samples at full scale on both rails
