"""Which IQ source a SOURCE argument names, and the live source for it.

    recording.sigmf-meta | file.cu8 | file.cf32   a recording (``chaincast.rxside.source.FileSource``)
    -                                             raw IQ on standard input (--datatype, --sample-rate)
    rtl_tcp://HOST:PORT                           a dongle behind an rtl_tcp server
    rtlsdr://[INDEX|SERIAL]                       a local RTL-SDR (pyrtlsdr + pyrtlsdrlib)
    soapy://ARGS                                  any radio SoapySDR drives (e.g. soapy://driver=rtlsdr)

Adapters are imported only when named, so reading a recording needs none of their libraries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import LiveSource, Tuning

LIVE_SCHEMES = ("rtl_tcp", "rtlsdr", "soapy")
DEFAULT_RTL_TCP_PORT = 1234
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)$")


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "file", "stdin", "rtl_tcp", "rtlsdr", "soapy"
    text: str  # as given
    host: str = ""
    port: int = 0
    device: str = ""  # rtlsdr: index or serial ("" = the first); soapy: the device arguments

    @property
    def live(self) -> bool:
        return self.kind != "file"


def parse_source(text: str) -> SourceSpec:
    """SOURCE -> SourceSpec; ReceiverError naming what is wrong with a live source's address."""
    if text == "-":
        return SourceSpec("stdin", text)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in LIVE_SCHEMES:
        if sep:
            raise ReceiverError(f"{text}: unknown source type {scheme}:// (use {', '.join(s + '://' for s in LIVE_SCHEMES)}, "
                                f"'-' or a recording)")
        return SourceSpec("file", text)
    if scheme == "rtl_tcp":
        host, colon, port = rest.rstrip("/").rpartition(":")
        if not colon:
            host, port = rest.rstrip("/"), str(DEFAULT_RTL_TCP_PORT)
        if not host or not _HOST.match(host):
            raise ReceiverError(f"{text}: no host (rtl_tcp://HOST:PORT, e.g. rtl_tcp://127.0.0.1:1234)")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ReceiverError(f"{text}: the port must be 1 to 65535")
        return SourceSpec("rtl_tcp", text, host=host.strip("[]"), port=int(port))
    if scheme == "rtlsdr":
        device = rest.rstrip("/")
        if device and not re.fullmatch(r"[A-Za-z0-9_\-.]{1,64}", device):
            raise ReceiverError(f"{text}: a device index (0, 1, ...) or a serial number, e.g. rtlsdr://0")
        return SourceSpec("rtlsdr", text, device=device)
    if len(rest) > 1024:
        raise ReceiverError(f"{text[:40]}...: SoapySDR device arguments longer than 1024 characters")
    return SourceSpec("soapy", text, device=rest)


def open_live(spec: SourceSpec, tuning: Tuning, datatype: str | None = None) -> LiveSource:
    """The adapter for a live SourceSpec (not yet opened: ``LiveInput`` opens it in its thread).
    ``datatype`` is for standard input (cu8 unless given)."""
    if spec.kind == "stdin":
        from chaincast.rxside.stdin import StdinSource
        return StdinSource(datatype or "cu8", tuning)
    if datatype is not None:
        raise ReceiverError(f"--datatype is for a raw file or standard input; {spec.text} gives its own")
    if spec.kind == "rtl_tcp":
        from chaincast.rxside.rtltcp import RtlTcpSource
        return RtlTcpSource(spec.host, spec.port, tuning)
    if spec.kind == "rtlsdr":
        from chaincast.rxside.rtlsdr import RtlSdrSource
        return RtlSdrSource(spec.device, tuning)
    if spec.kind == "soapy":
        from chaincast.rxside.soapy import SoapySource
        return SoapySource(spec.device, tuning)
    raise ValueError(f"not a live source: {spec.text}")
