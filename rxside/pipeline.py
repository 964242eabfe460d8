"""The demodulator on a thread of its own, so that on two cores demodulation and decoding overlap.

``ThreadedDemodulator`` wraps a ``chaincast.sdr.rx.Demodulator`` behind the same calls the
receiver makes (``process``, ``flush``, ``restart``, ``stats``, ``latency_samples``). ``process``
hands the samples to the demodulator's thread and returns the frames that thread has finished
since the last call (from earlier samples): while the caller decodes, validates and stores those,
the next samples are demodulated. The frames and their order are exactly the wrapped
demodulator's: one thread runs it, on the samples in the order given.

The overlap needs the heavy work on both sides to leave Python's GIL: numpy's array operations
do, and so do the numba kernels compiled with ``nogil=True`` (the LDPC decoder, the demodulator's
filters and timing loop).

Bounded: at most ``max_chunks`` chunks wait for the thread (``process`` blocks beyond that), so a
fast source cannot pile samples up in memory. ``latency_samples`` adds the samples handed over
whose frames have not been returned yet (still waiting, being demodulated, or finished but not
yet taken), so a restart's resume position (``Receiver._safe_resume_sample``) still covers every
frame the caller has not got.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

from chaincast.sdr.rx import Demodulator, DemodStats, PLFrame

_FLUSH = object()  # asks the thread for the frames held back (end of stream)


class ThreadedDemodulator:
    def __init__(self, demodulator: Demodulator, max_chunks: int = 2):
        self.demodulator = demodulator
        self._inbox: queue.Queue = queue.Queue(max_chunks)
        self._lock = threading.Lock()
        self._done: list[PLFrame] = []  # finished by the thread, not yet returned
        self._done_samples = 0  # the samples those frames were found in
        self._pending_samples = 0  # handed over, their frames not yet returned (see latency_samples)
        self._error: BaseException | None = None
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="chaincast-demodulator", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------------------------- the caller
    def process(self, iq: np.ndarray) -> list[PLFrame]:
        """Hand ``iq`` (complex64[n]) over; the frames finished so far (from earlier samples)."""
        iq = np.asarray(iq, dtype=np.complex64).reshape(-1)
        with self._lock:
            self._pending_samples += iq.size
        self._inbox.put(iq)
        return self._take()

    def flush(self) -> list[PLFrame]:
        """Every frame of the samples handed over, the ones the demodulator holds back included."""
        self._inbox.put(_FLUSH)
        self._wait_idle()
        return self._take()

    def restart(self) -> None:
        """After ``flush``: the demodulator forgets the stream (see ``Demodulator.restart``)."""
        self._wait_idle()
        self.demodulator.restart()

    def close(self) -> None:
        self._inbox.put(None)
        self._thread.join(5.0)

    @property
    def stats(self) -> DemodStats:
        return self.demodulator.stats

    @property
    def latency_samples(self) -> int:
        with self._lock:
            pending = self._pending_samples
        return self.demodulator.latency_samples + pending

    def _take(self) -> list[PLFrame]:
        with self._lock:
            if self._error is not None:
                raise self._error
            frames, self._done = self._done, []
            self._pending_samples -= self._done_samples
            self._done_samples = 0
        return frames

    def _wait_idle(self) -> None:
        self._inbox.join()
        if self._error is not None:
            raise self._error

    # -------------------------------------------------------------------------------- the thread
    def _run(self) -> None:
        while True:
            item = self._inbox.get()
            try:
                if item is None:
                    return
                frames = self.demodulator.flush() if item is _FLUSH else self.demodulator.process(item)
                with self._lock:
                    self._done.extend(frames)
                    if item is not _FLUSH:
                        self._done_samples += item.size
            except BaseException as error:  # handed to the caller at its next call
                with self._lock:
                    self._error = error
            finally:
                self._inbox.task_done()


def demodulator_for(cores: int, make: Callable[[], Demodulator]) -> Demodulator | ThreadedDemodulator:
    """The demodulator ``make()`` builds, on its own thread when more than one core is available."""
    demodulator = make()
    return ThreadedDemodulator(demodulator) if cores > 1 else demodulator
