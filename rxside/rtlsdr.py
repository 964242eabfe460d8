"""A local RTL-SDR (adapter): pyrtlsdr over the librtlsdr that pyrtlsdrlib ships, so a fresh
machine needs no Debian package.

librtlsdr's asynchronous reading (``rtlsdr_read_async``) runs in a thread of its own and hands
each USB buffer to a small queue; ``read`` takes from it. A device that disappears ends the async
call with an error: ``SourceLost``, and ``LiveInput`` opens the device again with backoff. Kept thin
on purpose: nothing here is exercised without a dongle except the failure to open one.
"""

from __future__ import annotations

import queue
import threading

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import SourceLost, Tuning
from chaincast.rxside.rtltcp import TUNER_NAMES, check_tuner_range

ASYNC_BUFFER_BYTES = 1 << 18  # per USB transfer handed over: 54 ms at 2.4 Msps
QUEUE_BUFFERS = 16  # between the USB thread and read(); beyond it the ring's drop policy applies upstream


class RtlSdrSource:
    datatype = "cu8"
    reopens = True

    def __init__(self, device: str, tuning: Tuning):
        try:
            import rtlsdr  # noqa: F401  (pyrtlsdr; loads librtlsdr from pyrtlsdrlib)
        except Exception as bad:  # ImportError, or OSError from a librtlsdr that does not load
            raise ReceiverError(f"rtlsdr://{device}: pyrtlsdr / librtlsdr not usable here ({bad})") from None
        self.device = device
        self.name = f"rtlsdr://{device}"
        self.tuning = tuning
        self.sample_rate_hz = tuning.sample_rate_hz
        self._sdr = None
        self._queue: queue.Queue = queue.Queue(QUEUE_BUFFERS)
        self._thread: threading.Thread | None = None
        self._failure: str | None = None
        self.tuner = ""
        self.loss_events = 0  # USB buffers lost because read() fell behind (LiveSource's loss counters)
        self.samples_lost = 0

    def open(self) -> None:
        from rtlsdr import RtlSdr
        from rtlsdr.rtlsdr import LibUSBError
        try:
            if self.device.isdigit() or not self.device:
                sdr = RtlSdr(device_index=int(self.device or 0))
            else:
                sdr = RtlSdr(serial_number=self.device)
        except (LibUSBError, OSError, IndexError) as bad:
            raise SourceLost(f"no RTL-SDR opened ({bad})") from None
        try:
            sdr.sample_rate = self.tuning.sample_rate_hz
            if self.tuning.frequency_hz is not None:
                sdr.center_freq = self.tuning.frequency_hz
            if self.tuning.ppm:
                sdr.freq_correction = self.tuning.ppm
            sdr.gain = "auto" if self.tuning.gain_db is None else self.tuning.gain_db
            if self.tuning.bias_tee:
                sdr.set_bias_tee(True)
            tuner_type = int(sdr.get_tuner_type())
            self.tuner = TUNER_NAMES.get(tuner_type, f"tuner type {tuner_type}")
            check_tuner_range(self.name, tuner_type, self.tuning.frequency_hz)
        except (LibUSBError, OSError) as bad:
            sdr.close()
            raise SourceLost(f"RTL-SDR settings refused ({bad})") from None
        except ReceiverError:
            sdr.close()
            raise
        self._sdr, self._failure = sdr, None
        self._queue = queue.Queue(QUEUE_BUFFERS)
        self._thread = threading.Thread(target=self._read_async, name=f"chaincast-usb {self.name}", daemon=True)
        self._thread.start()

    def _read_async(self) -> None:
        def on_buffer(values, _context):
            raw = bytes(values)
            try:
                self._queue.put_nowait(raw)
            except queue.Full:
                # read() is not keeping up: the backlog goes (as the ring drops its oldest samples),
                # so that what read() returns next follows the loss LiveInput counts before it
                lost = 0
                while True:
                    try:
                        lost += len(self._queue.get_nowait()) // 2
                    except queue.Empty:
                        break
                self.samples_lost += lost
                self.loss_events += 1
                self._queue.put_nowait(raw)
        try:
            self._sdr.read_bytes_async(on_buffer, ASYNC_BUFFER_BYTES)
            self._failure = "the device stopped streaming"
        except Exception as bad:
            self._failure = f"the device stopped streaming ({bad})"

    def read(self) -> bytes:
        while True:
            try:
                return self._queue.get(timeout=1.0)
            except queue.Empty:
                if self._sdr is None:
                    return b""
                if self._failure is not None or (self._thread is not None and not self._thread.is_alive()):
                    raise SourceLost(self._failure or "the device stopped streaming")

    def close(self) -> None:
        sdr, self._sdr = self._sdr, None
        if sdr is None:
            return
        try:
            sdr.cancel_read_async()
        except Exception:
            pass  # already gone (unplugged)
        if self._thread is not None:
            self._thread.join(2.0)
        try:
            sdr.close()
        except Exception:
            pass

    def capture(self) -> dict:
        return {"device": f"RTL-SDR {self.device or 0}" + (f" ({self.tuner})" if self.tuner else ""), **self.tuning.capture()}
