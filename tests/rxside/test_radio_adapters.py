"""The thin radio adapters against the real libraries, as far as they go without a radio.

SoapySDR: Debian's python3-soapysdr, when installed, with its ``null`` driver (opens, takes every
setting, gives no samples). Not exercised here: streaming from a real radio, its overflows, a
device unplugged mid-stream. pyrtlsdr with pyrtlsdrlib's librtlsdr: only the failure to open a
dongle (see tests/rxside/test_live_rx.py); tuning and streaming need one.
"""

from __future__ import annotations

import json
import time

import pytest

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import LiveInput, Tuning
from chaincast.rxside.sources import parse_source
from tests.rxside.live_fixtures import Process, chaincast


def soapysdr_or_skip():
    from chaincast.rxside.soapy import load_soapysdr
    try:
        return load_soapysdr()
    except ReceiverError as missing:
        pytest.skip(str(missing))


def test_source_addresses_are_parsed_strictly():
    assert parse_source("rtl_tcp://10.0.0.2:1234").port == 1234
    assert parse_source("rtl_tcp://dish.local").port == 1234  # rtl_tcp's default port
    assert parse_source("rtl_tcp://[::1]:7373").host == "::1"
    assert parse_source("rtlsdr://").device == "" and parse_source("rtlsdr://00000001").device == "00000001"
    assert parse_source("soapy://driver=airspy,serial=1").device == "driver=airspy,serial=1"
    assert parse_source("capture.f1815.3.cu8").kind == "file" and parse_source("-").kind == "stdin"
    for bad, message in (("rtl_tcp://:1234", "no host"), ("rtl_tcp://h:70000", "port"), ("rtl_tcp://h:x", "port"),
                         ("rtlsdr://0/../x", "device index"), ("http://x", "unknown source type")):
        with pytest.raises(ReceiverError, match=message):
            parse_source(bad)


def test_soapy_null_device_takes_the_settings_and_is_reopened_when_it_gives_nothing():
    soapy = soapysdr_or_skip()
    from chaincast.rxside.soapy import SoapySource
    source = SoapySource("driver=null", Tuning(frequency_hz=1316.9e6, gain_db=30.0, ppm=3))
    events = []
    live = LiveInput(source, backoff_s=(0.05, 0.1), log=lambda event, **fields: events.append((event, fields))).open()
    assert source.driver == "null" and source._device is not None
    live.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and live.stats.reconnects < 1:
        time.sleep(0.05)
    live.stop()
    live.join(5)
    assert live.stats.losses >= 1 and live.stats.reconnects >= 1  # readStream refused, then reopened
    assert any(event == "source_lost" and "readStream" in fields["why"] for event, fields in events)
    assert live.stats.last_error == f"readStream: {soapy.errToStr(soapy.SOAPY_SDR_NOT_SUPPORTED)}"


def test_soapy_without_a_matching_device_is_a_one_line_error(tmp_path):
    soapysdr_or_skip()
    rx = chaincast("rx", "soapy://driver=nosuchradio", "--chain", "regtest", "--datadir", tmp_path / "d")
    assert rx.returncode != 0
    assert rx.stderr.strip().splitlines() == [rx.stderr.strip()]
    assert "soapy://driver=nosuchradio: no SoapySDR device matches" in rx.stderr
    assert not (tmp_path / "d").exists()


def test_rx_on_the_soapy_null_device_runs_until_sigint(tmp_path):
    soapysdr_or_skip()
    rx = Process(tmp_path, "rx", "rx", "soapy://driver=null", "--chain", "regtest", "--datadir", tmp_path / "d", "--json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "event=source_lost" not in rx.err_path.read_text():
        time.sleep(0.1)
    rx.interrupt()
    code, out, err = rx.wait(timeout=30)
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["source"] == "soapy://driver=null" and report["samples"] == 0 and report["source_losses"] >= 1


def test_soapy_frequencies_are_left_to_the_driver_and_seconds_stops_a_silent_device(tmp_path):
    """An RTL-SDR's tuning range does not apply to other radios (an Airspy, a HackRF, a Pluto):
    12 GHz is refused by no check of ours. The null device gives no samples: --seconds, which counts
    running time, still ends the run."""
    soapysdr_or_skip()
    started = time.monotonic()
    rx = chaincast("rx", "soapy://driver=null", "--chain", "regtest", "--datadir", tmp_path / "d", "--freq", "12e9",
                   "--seconds", "2", "--json")
    assert rx.returncode == 0, rx.stderr
    report = json.loads(rx.stdout.strip().splitlines()[-1])
    assert report["samples"] == 0 and time.monotonic() - started < 60
    tcp = chaincast("rx", "rtl_tcp://127.0.0.1:9", "--chain", "regtest", "--datadir", tmp_path / "e", "--freq", "12e9")
    assert tcp.returncode != 0 and "outside an RTL-SDR" in tcp.stderr
