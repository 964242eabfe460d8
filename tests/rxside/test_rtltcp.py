"""The rtl_tcp protocol against librtlsdr's rtl_tcp.c, and the client (``RtlTcpSource``) against
a real ``chaincast replay`` server process on loopback.

Byte layouts checked here come from rtl_tcp.c (osmocom/rtl-sdr, src/rtl_tcp.c): the greeting is
``dongle_info_t`` {char magic[4] = "RTL0"; uint32_t tuner_type; uint32_t tuner_gain_count}, both
numbers through ``htonl``; a command is the packed ``struct command`` {unsigned char cmd;
unsigned int param}, read with ``ntohl`` and handed to librtlsdr as an ``int`` where the function
takes one (rtlsdr_set_freq_correction(dev, int ppm)). The tuner enum (rtl-sdr.h) has R820T = 5;
librtlsdr's r82xx_gains table has 29 entries.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import LiveInput, SourceLost, Tuning, wait_for
from chaincast.rxside.replay import StreamClock, catch_up, parse_listen, split_commands
from chaincast.rxside.rtltcp import (
    COMMAND_NAMES, Command, Greeting, ProtocolError, RtlTcpSource, SET_FREQ, SET_FREQ_CORRECTION,
    SET_GAIN, SET_GAIN_MODE, SET_IF_GAIN, SET_SAMPLE_RATE, pack_command, pack_greeting, settings_commands,
    TUNER_NAMES, unpack_command, unpack_greeting,
)
from chaincast.sdr.channel import cu8_to_complex

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
RATE = 2_400_000  # samples/s, an RTL-SDR's usual rate


# ------------------------------------------------------------------------------------- protocol


def test_greeting_layout_is_rtl_tcp_dongle_info():
    raw = pack_greeting(5, 29)
    assert raw == b"RTL0" + bytes([0, 0, 0, 5]) + bytes([0, 0, 0, 29])
    assert unpack_greeting(raw) == Greeting(5, 29)
    assert unpack_greeting(raw).tuner_name == "R820T"


def test_greeting_refused_with_what_was_received():
    with pytest.raises(ProtocolError, match=r"b'HTTP'.*RTL0"):
        unpack_greeting(b"HTTP/1.1 400")
    with pytest.raises(ProtocolError, match="12 bytes, got 11"):
        unpack_greeting(pack_greeting(5, 29)[:11])
    with pytest.raises(ProtocolError, match="12 bytes, got 13"):
        unpack_greeting(pack_greeting(5, 29) + b"\x00")


def test_command_codes_are_rtl_tcp_switch_cases():
    # rtl_tcp.c command_worker: case 0x01 set freq ... case 0x0e set bias tee
    assert [code for code in sorted(COMMAND_NAMES)] == list(range(0x01, 0x0F))
    assert COMMAND_NAMES[0x01] == "set_freq" and COMMAND_NAMES[0x02] == "set_sample_rate"
    assert COMMAND_NAMES[0x05] == "set_freq_correction" and COMMAND_NAMES[0x0E] == "set_bias_tee"


def test_command_layout_and_signed_parameters():
    assert pack_command(SET_FREQ, 100_000_000) == bytes.fromhex("0105f5e100")  # 100e6 = 0x05f5e100
    assert pack_command(SET_SAMPLE_RATE, 2_400_000) == bytes.fromhex("0200249f00")
    # a negative ppm travels as its two's complement: ntohl then an int argument
    assert pack_command(SET_FREQ_CORRECTION, -5) == bytes.fromhex("05fffffffb")
    assert unpack_command(bytes.fromhex("05fffffffb")).value == -5
    # the frequency is unsigned: 4.29 GHz is a frequency, not -1 Hz
    assert unpack_command(bytes.fromhex("01ffffffff")).value == 0xFFFFFFFF
    # IF gain: stage in the high half, signed tenths of a dB in the low half
    command = Command.of(SET_IF_GAIN, (1 << 16) | (-10 & 0xFFFF))
    assert command.log_fields() == {"command": "set_if_gain", "stage": 1, "value": -10}
    assert unpack_command(bytes.fromhex("7f00000001")).name == "unknown_0x7f"


def test_command_refuses_wrong_lengths_and_values():
    for raw in (b"", b"\x01\x00\x00\x00", b"\x01\x00\x00\x00\x00\x00"):
        with pytest.raises(ProtocolError, match="5 bytes"):
            unpack_command(raw)
    for value in (1 << 32, -(1 << 31) - 1):
        with pytest.raises(ProtocolError, match="32 bits"):
            pack_command(SET_FREQ, value)


@given(st.integers(0, 255), st.integers(0, 0xFFFFFFFF))
def test_command_pack_unpack_round_trip(code, param):
    raw = Command(code, param).pack()
    assert len(raw) == 5 and raw[0] == code and int.from_bytes(raw[1:], "big") == param
    assert Command.unpack(raw) == Command(code, param)


@given(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_greeting_pack_unpack_round_trip(tuner_type, gain_count):
    assert Greeting.unpack(Greeting(tuner_type, gain_count).pack()) == Greeting(tuner_type, gain_count)


def test_settings_commands_order_and_values():
    tuning = Tuning(sample_rate_hz=2.4e6, frequency_hz=1_210_000_000, gain_db=29.7, ppm=-3, bias_tee=True)
    assert [(c.name, c.value) for c in settings_commands(tuning)] == [
        ("set_sample_rate", 2_400_000), ("set_freq", 1_210_000_000), ("set_freq_correction", -3),
        ("set_gain_mode", 1), ("set_gain", 297), ("set_bias_tee", 1)]
    # automatic gain, no frequency, no correction, bias tee left as the server has it
    assert [(c.code, c.param) for c in settings_commands(Tuning(sample_rate_hz=1.024e6))] == [
        (SET_SAMPLE_RATE, 1_024_000), (SET_GAIN_MODE, 0)]
    with pytest.raises(ReceiverError, match="frequency"):
        settings_commands(Tuning(frequency_hz=10.5e9))  # an LNB's downlink, not its IF


def test_replay_core_pieces():
    assert parse_listen("1234") == ("127.0.0.1", 1234)
    assert parse_listen("0.0.0.0:0") == ("0.0.0.0", 0)
    assert parse_listen("[::1]:1234") == ("::1", 1234)
    for bad in ("::1:1234", "host:", "host:65536", ":12"):
        with pytest.raises(ReceiverError, match="--rtl-tcp"):
            parse_listen(bad)
    clock = StreamClock(start_s=100.0, rate_sps=1000.0)
    assert clock.position(100.5) == 500 and clock.time_of(500) == 100.5 and clock.position(99.0) == 0
    assert catch_up(0, 1000, chunk_samples=100, max_lag_samples=900) == 0  # 900 behind: still within
    assert catch_up(0, 1001, chunk_samples=100, max_lag_samples=900) == 901  # the newest whole chunk
    commands, rest = split_commands(pack_command(SET_GAIN, 297) + pack_command(SET_FREQ, 5)[:3])
    assert commands == [Command(SET_GAIN, 297)] and rest == pack_command(SET_FREQ, 5)[:3]


# -------------------------------------------------------------------------------- server process


class Replay:
    """``chaincast replay`` in a subprocess on a free loopback port, its stderr lines collected."""

    def __init__(self, recording: Path, *options: str):
        self.proc = subprocess.Popen([CHAINCAST, "replay", str(recording), "--rtl-tcp", "127.0.0.1:0", *options],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        listen = self.wait_line("event=listen")
        self.port = int(re.search(r" port=(\d+)", listen).group(1))

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, needle: str, count: int = 1, timeout_s: float = 5.0) -> str:
        if not wait_for(lambda: len(self.events(needle)) >= count or self.proc.poll() is not None, timeout_s):
            raise AssertionError(f"no {needle!r} in {self.lines}")
        found = self.events(needle)
        if len(found) < count:
            self._reader.join(1.0)
            found = self.events(needle)
        assert len(found) >= count, f"no {needle!r} in {self.lines}"
        return found[count - 1]

    def events(self, needle: str) -> list[str]:
        return [line for line in list(self.lines) if needle in line]

    def exited(self, timeout_s: float = 5.0) -> int:
        """The exit status of a server that ends by itself."""
        code = self.proc.wait(timeout_s)
        self._reader.join(2.0)
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(10)
        self._reader.join(2.0)
        return code


@pytest.fixture
def replays():
    started: list[Replay] = []
    yield lambda *args: started.append(Replay(*args)) or started[-1]
    for replay in started:
        if replay.proc.poll() is None:
            replay.proc.kill()
            replay.proc.wait(5)


def cu8_recording(folder: Path, seconds: float, seed: int = 7) -> tuple[Path, bytes]:
    """A raw cu8 file of random bytes at ``RATE`` (what a dongle gives, as far as transport goes)."""
    data = np.random.default_rng(seed).integers(0, 256, 2 * int(seconds * RATE), dtype=np.uint8).tobytes()
    path = folder / "noise.cu8"
    path.write_bytes(data)
    return path, data


def read_until_lost(source: RtlTcpSource, limit_s: float = 10.0) -> tuple[bytes, str]:
    got, deadline = bytearray(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            got += source.read()
        except SourceLost as lost:
            return bytes(got), str(lost)
    raise AssertionError(f"still streaming after {limit_s} s")


def test_client_gets_the_recording_paced_and_its_commands_are_logged(tmp_path, replays):
    path, data = cu8_recording(tmp_path, 0.5)
    replay = replays(path, "--sample-rate", str(RATE))
    tuning = Tuning(sample_rate_hz=RATE, frequency_hz=1_210_000_000, gain_db=29.7, ppm=-3, bias_tee=True)
    source = RtlTcpSource("127.0.0.1", replay.port, tuning)
    started = time.monotonic()
    source.open()
    assert source.greeting == Greeting(5, 29)
    assert source.capture()["tuner"] == "R820T" and source.capture()["device"] == f"rtl_tcp 127.0.0.1:{replay.port}"
    got, why = read_until_lost(source)
    elapsed_s = time.monotonic() - started
    source.close()
    assert why == "connection closed by the server"
    assert got == data  # the recording's own bytes, in order, none lost, none added
    # paced at the recording's rate (0.5 s), loosely: the machine may be busy
    assert 0.4 <= elapsed_s <= 2.0, elapsed_s
    assert replay.exited() == 0  # by itself, at the end of the recording
    commands = [re.search(r"command=(\S+) value=(\S+)", line).groups() for line in replay.events("event=command")]
    assert commands == [("set_sample_rate", "2400000"), ("set_freq", "1210000000"), ("set_freq_correction", "-3"),
                        ("set_gain_mode", "1"), ("set_gain", "297"), ("set_bias_tee", "1")]
    assert not replay.events("event=warning")
    assert replay.events("event=end") and 'why="end of the recording"' in replay.events("event=disconnect")[0]


def test_a_cf32_recording_is_sent_as_the_cu8_it_came_from(tmp_path, replays):
    data = np.arange(2 * 40_000, dtype=np.uint64).astype(np.uint8)  # every code, many times
    iq = cu8_to_complex(data)
    path = tmp_path / "ramp.cf32"
    path.write_bytes(iq.astype("<c8").tobytes())
    replay = replays(path, "--sample-rate", str(RATE), "--speed", "4")
    source = RtlTcpSource("127.0.0.1", replay.port, Tuning(sample_rate_hz=2.048e6))
    source.open()
    got, _ = read_until_lost(source)
    source.close()
    assert got == data.tobytes()
    assert replay.exited() == 0
    assert "value=2048000" in replay.wait_line("command=set_sample_rate")
    assert "not resampled" in replay.wait_line("event=warning")


def test_drop_after_loses_the_connection_and_a_reopen_sends_the_settings_again(tmp_path, replays):
    path, data = cu8_recording(tmp_path, 0.5)
    replay = replays(path, "--sample-rate", str(RATE), "--loop", "--drop-after", "0.3")
    source = RtlTcpSource("127.0.0.1", replay.port, Tuning(sample_rate_hz=RATE, frequency_hz=433_920_000))
    source.open()
    first, why = read_until_lost(source, limit_s=3.0)
    assert why == "connection closed by the server"
    assert first == data[:len(first)] and 0.15 * RATE * 2 <= len(first) <= 0.6 * RATE * 2
    time.sleep(0.2)  # an outage: the clock goes on
    source.open()
    second = b""
    while len(second) < 100_000:
        second += source.read()
    source.close()
    replay.wait_line("event=disconnect", count=2)
    assert replay.stop() == 0
    # the second connection starts where the clock had got to, not where the first one stopped
    connect = replay.events("event=connect")[1]
    position_s = float(re.search(r"position_s=(\S+)", connect).group(1))
    assert position_s >= len(first) / 2 / RATE + 0.15
    start = 2 * int(re.search(r" position=(\d+)", connect).group(1))  # in the looped recording
    assert second == (data * 2)[start:start + len(second)]
    for name in ("set_sample_rate", "set_freq", "set_gain_mode"):
        assert len(replay.events(f"command={name} ")) == 2, replay.lines
    assert len(replay.events("event=drop")) == 1


def test_a_second_client_is_refused_while_one_is_served(tmp_path, replays):
    path, _ = cu8_recording(tmp_path, 0.5)
    replay = replays(path, "--sample-rate", str(RATE), "--loop")
    first = RtlTcpSource("127.0.0.1", replay.port, Tuning(sample_rate_hz=RATE))
    first.open()
    first.read()
    second = RtlTcpSource("127.0.0.1", replay.port, Tuning(sample_rate_hz=RATE))
    with pytest.raises(SourceLost, match="before its greeting"):
        second.open()
    first.close()
    assert "serving=127.0.0.1:" in replay.wait_line("event=refuse")
    assert replay.stop(signal.SIGINT) == 0
    assert "signal=SIGINT" in replay.wait_line("event=stop")


def test_a_client_that_stops_reading_is_skipped_ahead(tmp_path, replays):
    path, _ = cu8_recording(tmp_path, 0.5)
    replay = replays(path, "--sample-rate", str(RATE), "--loop", "--speed", "4")  # 19.2 MB/s
    source = RtlTcpSource("127.0.0.1", replay.port, Tuning(sample_rate_hz=RATE))
    source.open()
    time.sleep(1.5)  # 28 MB sent meanwhile: more than the socket buffers hold
    got = b""
    while not replay.events("event=skip"):
        got += source.read()
    source.close()
    assert "seconds=" in replay.events("event=skip")[0]
    assert replay.stop() == 0


# --------------------------------------------------------------------------- misbehaving servers


def serve_once(reply: bytes, close: bool = True, hold_s: float = 0.0) -> tuple[int, threading.Thread]:
    """A plain TCP server on loopback that sends ``reply`` to its first client."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run():
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(reply)
                time.sleep(hold_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def test_a_server_that_is_not_rtl_tcp_is_a_user_error():
    port, thread = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n", hold_s=0.5)
    source = RtlTcpSource("127.0.0.1", port, Tuning())
    with pytest.raises(ReceiverError, match=rf"rtl_tcp://127\.0\.0\.1:{port}: not an rtl_tcp server.*SSH-2\.0"):
        source.open()
    thread.join(2)


@pytest.mark.parametrize("tuner_type, frequency_hz, refused", [
    (5, 1.9e9, True),  # R820T: 24-1766 MHz
    (5, 1.3169e9, False),
    (1, 1.9e9, False),  # E4000: to 2200 MHz
    (2, 1.3169e9, True),  # FC0012: to 948.6 MHz
    (0, 1.9e9, False),  # unknown tuner: left to the server
])
def test_the_frequency_is_checked_against_the_tuner_the_server_names(tuner_type, frequency_hz, refused):
    port, thread = serve_once(pack_greeting(tuner_type, 29), hold_s=0.5)
    source = RtlTcpSource("127.0.0.1", port, Tuning(frequency_hz=frequency_hz))
    if refused:
        with pytest.raises(ReceiverError, match=rf"{TUNER_NAMES[tuner_type]} tuner covers .* not {frequency_hz / 1e6:g} MHz"):
            source.open()
    else:
        source.open()
        source.close()
    thread.join(2)


def test_transient_failures_are_source_lost():
    port, thread = serve_once(b"")  # accepts and closes at once
    with pytest.raises(SourceLost, match="before its greeting"):
        RtlTcpSource("127.0.0.1", port, Tuning()).open()
    thread.join(2)
    port, thread = serve_once(b"", hold_s=1.0)  # accepts and says nothing (a busy rtl_tcp)
    with pytest.raises(SourceLost, match="no greeting within 0.3 s"):
        RtlTcpSource("127.0.0.1", port, Tuning(), connect_timeout_s=0.3).open()
    thread.join(2)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        free_port = taken.getsockname()[1]
    with pytest.raises(SourceLost, match="cannot connect"):
        RtlTcpSource("127.0.0.1", free_port, Tuning()).open()


def test_live_input_reconnects_after_a_drop_and_marks_the_gap(tmp_path, replays):
    path, _ = cu8_recording(tmp_path, 0.5)
    replay = replays(path, "--sample-rate", str(RATE), "--loop", "--drop-after", "0.3")
    events = []
    live = LiveInput(RtlTcpSource("127.0.0.1", replay.port, Tuning(sample_rate_hz=RATE)), backoff_s=(0.1, 1.0),
                     log=lambda event, **fields: events.append(event)).start()
    segments = []
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and not (live.stats.reconnects == 1 and len(segments) > 3
                                               and segments[-1].raw and any(s.gap for s in segments)):
        segment = live.ring.get(1 << 16)
        if segment is None:
            break
        segments.append(segment)
    live.stop()
    live.join()
    assert live.stats.reconnects == 1 and live.stats.losses == 1, live.stats
    assert events[:4] == ["source_open", "source_lost", "source_retry", "source_open"]
    gaps = [i for i, s in enumerate(segments) if s.gap]
    assert len(gaps) == 1 and any(s.raw for s in segments[:gaps[0]]) and segments[gaps[0]].raw
    assert replay.stop() == 0


def test_replay_user_errors_are_one_line(tmp_path, capsys):
    from chaincast.txside.cli import main  # the launcher, which prints a ReceiverError as one line

    path, _ = cu8_recording(tmp_path, 0.01)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["replay", str(path), "--sample-rate", str(RATE), "--rtl-tcp", f"127.0.0.1:{port}"]) == 1
    assert capsys.readouterr().err == (f"chaincast replay: error: --rtl-tcp 127.0.0.1:{port}: cannot listen "
                                       f"(Address already in use)\n")
    assert main(["replay", str(path), "--sample-rate", str(RATE), "--rtl-tcp", "1234", "--speed", "0"]) == 1
    assert "--speed 0: must be above 0" in capsys.readouterr().err
    assert main(["replay", str(path), "--rtl-tcp", "1234"]) == 1  # a raw file without its rate
    assert "needs --sample-rate" in capsys.readouterr().err
