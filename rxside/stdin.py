"""Raw IQ on standard input (adapter): ``rtl_sdr -f F -s 2.4e6 - | chaincast rx - ...``.

Its length is not known and it ends for good (no reopening). A pipe is treated as a radio (the
ring drops the oldest samples when the receiver falls behind; see ``chaincast.rxside.live``); a
regular file redirected with ``<`` is waited for instead, since nothing is lost by reading it
slower.
"""

from __future__ import annotations

import os
import select
import stat
import sys

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import Tuning

READ_BYTES = 1 << 18
POLL_S = 0.5


class StdinSource:
    name = "-"
    reopens = False

    def __init__(self, datatype: str, tuning: Tuning, fd: int | None = None):
        self.datatype = datatype
        self.sample_rate_hz = tuning.sample_rate_hz
        self.tuning = tuning
        self.fd = sys.stdin.fileno() if fd is None else fd
        try:
            mode = os.fstat(self.fd).st_mode
        except OSError as bad:
            raise ReceiverError(f"standard input: cannot read ({bad.strerror or bad})") from None
        if stat.S_ISDIR(mode):
            raise ReceiverError("standard input: is a folder")
        if os.isatty(self.fd):
            raise ReceiverError("standard input is a terminal: pipe samples in (rtl_sdr ... - | chaincast rx - ...)")
        self.is_regular_file = stat.S_ISREG(mode)
        self._closed = False

    def open(self) -> None:
        pass

    def read(self) -> bytes:
        while not self._closed:
            if not self.is_regular_file:
                ready, _, _ = select.select([self.fd], [], [], POLL_S)
                if not ready:
                    continue
            try:
                return os.read(self.fd, READ_BYTES)
            except OSError as bad:
                raise ReceiverError(f"standard input: {bad.strerror or bad}") from None
        return b""

    def close(self) -> None:
        self._closed = True

    def capture(self) -> dict:
        return {"device": "standard input", **self.tuning.capture()}
