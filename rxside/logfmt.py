"""Structured log lines for services: ``chaincast rx: ts=... event=NAME key=value ...`` on stderr.

One line per event, ``key=value`` pairs (logfmt: a value with spaces, quotes or ``=`` is quoted),
so that ``grep event=source_lost`` or ``journalctl -u chaincast-rx | grep tip=`` finds what one
looks for, and a log shipper can split the fields.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    if not text or any(c in text for c in ' "=\\\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    return text


def format_event(program: str, event: str, fields: dict, when: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if when is None else when))
    pairs = " ".join(f"{key}={format_value(value)}" for key, value in fields.items())
    return f"{program}: ts={stamp} event={event}" + (f" {pairs}" if pairs else "")


class EventLog:
    """``log(event, **fields)`` writes one line to ``stream`` (stderr by default), flushed."""

    def __init__(self, program: str, stream: TextIO | None = None):
        self.program = program
        self.stream = stream

    def __call__(self, event: str, **fields) -> None:
        stream = self.stream or sys.stderr
        try:
            print(format_event(self.program, event, fields), file=stream, flush=True)
        except (OSError, ValueError):
            pass  # a closed or broken stderr must not stop a receiver
