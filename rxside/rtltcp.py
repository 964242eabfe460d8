"""The rtl_tcp protocol, and a live source (adapter) that reads a dongle behind an rtl_tcp server.

The protocol is the one librtlsdr's ``rtl_tcp`` speaks (src/rtl_tcp.c), which GNU Radio's osmosdr
source, SDR++ and GQRX also speak; pyrtlsdr's own TCP mode is a different protocol. One TCP
connection carries both directions:

server -> client, once, right after the connection is accepted: the greeting, 12 octets::

    0-3   magic        b"RTL0"
    4-7   tuner type   uint32, big-endian (rtlsdr_tuner: 0 unknown, 1 E4000, ... 5 R820T, 6 R828D)
    8-11  gain count   uint32, big-endian (how many gains the tuner has; 29 for an R820T)

then raw samples for as long as the connection lasts: ``cu8``, interleaved unsigned 8-bit I and
Q, exactly as the dongle delivers them, with no framing at all.

client -> server, at any time: commands of 5 octets each::

    0     command      uint8 (the ``SET_*`` constants below)
    1-4   parameter    uint32, big-endian

rtl_tcp hands the parameter on with ``ntohl`` to librtlsdr calls that take an ``int`` (the
frequency correction in ppm, the gain in tenths of a dB), so a negative value travels as its
32-bit two's complement. Command 0x06 packs the IF stage in the high 16 bits and a signed gain in
tenths of a dB in the low 16.

The pure part (``Greeting``, ``Command``, ``settings_commands``) touches no socket; the tests
check it against the layouts above, and ``chaincast replay`` (the server side, for tests and
for other rtl_tcp clients) uses the same code.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import SourceLost, Tuning

# ------------------------------------------------------------------------------------------ wire

GREETING = struct.Struct(">4sII")  # magic, tuner type, gain count (see the module docstring)
COMMAND = struct.Struct(">BI")  # command, parameter
MAGIC = b"RTL0"
UINT32_MAX = 0xFFFF_FFFF
assert GREETING.size == 12 and COMMAND.size == 5  # rtl_tcp.c: dongle_info_t, struct command (packed)

SET_FREQ = 0x01  # centre frequency in Hz
SET_SAMPLE_RATE = 0x02  # in samples/s
SET_GAIN_MODE = 0x03  # 0 automatic, 1 manual (then SET_GAIN applies)
SET_GAIN = 0x04  # tuner gain in tenths of a dB
SET_FREQ_CORRECTION = 0x05  # crystal error in ppm, signed
SET_IF_GAIN = 0x06  # stage << 16 | gain in tenths of a dB (signed 16 bits)
SET_TEST_MODE = 0x07  # 1: the RTL2832's counter instead of samples
SET_AGC_MODE = 0x08  # the RTL2832's digital AGC, 0 off / 1 on
SET_DIRECT_SAMPLING = 0x09  # 0 off, 1 I branch, 2 Q branch
SET_OFFSET_TUNING = 0x0A  # 0 off, 1 on
SET_RTL_XTAL = 0x0B  # the RTL2832's crystal in Hz
SET_TUNER_XTAL = 0x0C  # the tuner's crystal in Hz
SET_GAIN_BY_INDEX = 0x0D  # index into the tuner's gain table
SET_BIAS_TEE = 0x0E  # 0 off, 1 on (powers an LNA or LNB through the coax)

COMMAND_NAMES = {
    SET_FREQ: "set_freq", SET_SAMPLE_RATE: "set_sample_rate", SET_GAIN_MODE: "set_gain_mode",
    SET_GAIN: "set_gain", SET_FREQ_CORRECTION: "set_freq_correction", SET_IF_GAIN: "set_if_gain",
    SET_TEST_MODE: "set_test_mode", SET_AGC_MODE: "set_agc_mode", SET_DIRECT_SAMPLING: "set_direct_sampling",
    SET_OFFSET_TUNING: "set_offset_tuning", SET_RTL_XTAL: "set_rtl_xtal", SET_TUNER_XTAL: "set_tuner_xtal",
    SET_GAIN_BY_INDEX: "set_gain_by_index", SET_BIAS_TEE: "set_bias_tee",
}
# rtl_tcp passes these parameters to librtlsdr arguments declared ``int``: read them as signed.
SIGNED_COMMANDS = frozenset({SET_GAIN, SET_FREQ_CORRECTION, SET_BIAS_TEE})

TUNER_NAMES = {0: "unknown", 1: "E4000", 2: "FC0012", 3: "FC0013", 4: "FC2580", 5: "R820T", 6: "R828D"}
TUNER_R820T = 5
# What each tuner can tune, from librtlsdr's drivers (the E4000 has a hole near 1.1-1.25 GHz not
# listed here). A satellite IF (950-2150 MHz) needs an R820T/R828D (to 1766 MHz) or an E4000.
TUNER_RANGES_HZ = {1: (52e6, 2200e6), 2: (22e6, 948.6e6), 3: (22e6, 1100e6), 4: (146e6, 924e6),
                   5: (24e6, 1766e6), 6: (24e6, 1766e6)}


def check_tuner_range(name: str, tuner_type: int, frequency_hz: float | None) -> None:
    """ReceiverError when the tuner the device reports cannot tune ``frequency_hz``."""
    span = TUNER_RANGES_HZ.get(tuner_type)
    if frequency_hz is None or span is None or span[0] <= frequency_hz <= span[1]:
        return
    raise ReceiverError(f"{name}: its {TUNER_NAMES[tuner_type]} tuner covers {span[0] / 1e6:g}-{span[1] / 1e6:g} MHz, "
                        f"not {frequency_hz / 1e6:g} MHz")
R820T_GAIN_COUNT = 29  # librtlsdr's r82xx_gains table, 0 to 49.6 dB


class ProtocolError(ReceiverError):
    """Bytes that do not follow the rtl_tcp protocol (a server that is not rtl_tcp, a short read)."""


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x8000_0000 else value


@dataclass(frozen=True)
class Greeting:
    tuner_type: int  # rtlsdr_tuner enum (TUNER_NAMES)
    gain_count: int  # entries in the tuner's gain table

    def __post_init__(self) -> None:
        for field_name in ("tuner_type", "gain_count"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or not 0 <= value <= UINT32_MAX:
                raise ProtocolError(f"greeting {field_name} {value!r} is not a uint32")

    @property
    def tuner_name(self) -> str:
        return TUNER_NAMES.get(self.tuner_type, f"tuner type {self.tuner_type}")

    def pack(self) -> bytes:
        return GREETING.pack(MAGIC, self.tuner_type, self.gain_count)

    @classmethod
    def unpack(cls, raw: bytes) -> "Greeting":
        """Exactly ``GREETING.size`` octets starting with ``MAGIC``; ProtocolError naming what was
        received otherwise."""
        raw = bytes(raw)
        if len(raw) != GREETING.size:
            raise ProtocolError(f"an rtl_tcp greeting is {GREETING.size} bytes, got {len(raw)}: {_shown(raw)}")
        magic, tuner_type, gain_count = GREETING.unpack(raw)
        if magic != MAGIC:
            raise ProtocolError(f"not an rtl_tcp greeting: it starts with {_shown(magic)} where {MAGIC!r} was expected "
                                f"(received {_shown(raw)})")
        return cls(tuner_type, gain_count)


@dataclass(frozen=True)
class Command:
    code: int  # uint8, one of the SET_* constants (others are carried, named "unknown_0xNN")
    param: int  # uint32 as on the wire

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 0 <= self.code <= 0xFF:
            raise ProtocolError(f"command {self.code!r} is not a uint8")
        if not isinstance(self.param, int) or not 0 <= self.param <= UINT32_MAX:
            raise ProtocolError(f"command parameter {self.param!r} is not a uint32")

    @classmethod
    def of(cls, code: int, value: int) -> "Command":
        """A command with ``value`` as rtl_tcp's C side reads it: -2**31 to 2**32-1, negative
        values sent as their two's complement."""
        if not isinstance(value, int) or not -(1 << 31) <= value <= UINT32_MAX:
            raise ProtocolError(f"{COMMAND_NAMES.get(code, code)} value {value!r} does not fit in 32 bits")
        return cls(code, value & UINT32_MAX)

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.code, f"unknown_0x{self.code:02x}")

    @property
    def value(self) -> int:
        """The parameter as the server uses it: signed where librtlsdr takes an ``int``."""
        return _signed32(self.param) if self.code in SIGNED_COMMANDS else self.param

    def log_fields(self) -> dict:
        """For one log line: ``command=set_gain value=297``; the IF gain split into stage and gain."""
        if self.code == SET_IF_GAIN:
            gain = self.param & 0xFFFF
            signed_gain = gain - 0x1_0000 if gain & 0x8000 else gain
            return {"command": self.name, "stage": self.param >> 16, "value": signed_gain}
        return {"command": self.name, "value": self.value}

    def pack(self) -> bytes:
        return COMMAND.pack(self.code, self.param)

    @classmethod
    def unpack(cls, raw: bytes) -> "Command":
        raw = bytes(raw)
        if len(raw) != COMMAND.size:
            raise ProtocolError(f"an rtl_tcp command is {COMMAND.size} bytes, got {len(raw)}: {_shown(raw)}")
        return cls(*COMMAND.unpack(raw))


def pack_greeting(tuner_type: int, gain_count: int) -> bytes:
    return Greeting(tuner_type, gain_count).pack()


def unpack_greeting(raw: bytes) -> Greeting:
    return Greeting.unpack(raw)


def pack_command(code: int, value: int) -> bytes:
    return Command.of(code, value).pack()


def unpack_command(raw: bytes) -> Command:
    return Command.unpack(raw)


def _shown(raw: bytes) -> str:
    """At most 16 octets of what a peer sent, for a one-line message."""
    return repr(raw[:16]) + ("..." if len(raw) > 16 else "")


def _uint32_hz(what: str, value_hz: float) -> int:
    rounded = round(value_hz)
    if not 0 < rounded <= UINT32_MAX:
        raise ReceiverError(f"{what} {value_hz:g} Hz cannot be sent to rtl_tcp (1 Hz to {UINT32_MAX} Hz)")
    return rounded


def settings_commands(tuning: Tuning) -> list[Command]:
    """The commands that apply ``tuning``, in the order sent on every connection: sample rate,
    frequency (if given), crystal correction (if not zero), gain mode and gain, bias tee (if asked:
    not sending it leaves a server started with ``rtl_tcp -T`` as it is). ReceiverError for a
    value the protocol cannot carry."""
    commands = [Command.of(SET_SAMPLE_RATE, _uint32_hz("the sample rate", tuning.sample_rate_hz))]
    if tuning.frequency_hz is not None:
        commands.append(Command.of(SET_FREQ, _uint32_hz("the frequency", tuning.frequency_hz)))
    if tuning.ppm:
        commands.append(Command.of(SET_FREQ_CORRECTION, int(tuning.ppm)))
    if tuning.gain_db is None:
        commands.append(Command.of(SET_GAIN_MODE, 0))
    else:
        commands += [Command.of(SET_GAIN_MODE, 1), Command.of(SET_GAIN, round(tuning.gain_db * 10))]
    if tuning.bias_tee:
        commands.append(Command.of(SET_BIAS_TEE, 1))
    return commands

# ---------------------------------------------------------------------------------------- client

CONNECT_TIMEOUT_S = 5.0  # to connect, and then for the greeting
POLL_S = 1.0  # a blocked read looks at close() this often
STALL_S = 10.0  # no samples at all for this long: the server or the path is gone
READ_BYTES = 1 << 18  # at most per recv: 55 ms at 2.4 Msps


class RtlTcpSource:
    """A dongle behind an rtl_tcp server (``LiveSource``, cu8). Every ``open`` connects, checks
    the greeting and sends all the settings again: a restarted server starts from its own
    defaults. A refused, timed-out or reset connection is ``SourceLost`` (``LiveInput`` makes
    the first one an error for the user); a server that answers with something other than an
    rtl_tcp greeting is a ReceiverError."""

    datatype = "cu8"
    reopens = True

    def __init__(self, host: str, port: int, tuning: Tuning, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 stall_s: float = STALL_S):
        self.host, self.port = host, int(port)
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.name = f"rtl_tcp://{self.address}"
        self.tuning = tuning
        self.sample_rate_hz = tuning.sample_rate_hz
        self.commands = settings_commands(tuning)  # refuses an impossible setting before any connection
        self.connect_timeout_s = connect_timeout_s
        self.stall_s = stall_s
        self.greeting: Greeting | None = None
        self._sock: socket.socket | None = None

    def open(self) -> None:
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except OSError as bad:  # refused, unreachable, timed out, no such host
            raise SourceLost(f"cannot connect ({_why(bad)})") from None
        try:
            self.greeting = self._read_greeting(sock)
            check_tuner_range(self.name, self.greeting.tuner_type, self.tuning.frequency_hz)
            sock.sendall(b"".join(command.pack() for command in self.commands))
            sock.settimeout(POLL_S)
        except OSError as bad:
            sock.close()
            raise SourceLost(f"connection lost while opening ({_why(bad)})") from None
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def _read_greeting(self, sock: socket.socket) -> Greeting:
        raw = b""
        while len(raw) < GREETING.size:
            try:
                part = sock.recv(GREETING.size - len(raw))
            except TimeoutError:
                # rtl_tcp serves one client at a time and lets the others wait without a greeting
                raise SourceLost(f"no greeting within {self.connect_timeout_s:g} s (is another client "
                                 f"connected to the server?)") from None
            if not part:
                if raw and not MAGIC.startswith(raw[:len(MAGIC)]):
                    raise ReceiverError(f"{self.name}: not an rtl_tcp server: it sent {_shown(raw)} and closed "
                                        f"the connection")
                raise SourceLost("connection closed by the server before its greeting (is another client connected?)")
            raw += part
        try:
            return Greeting.unpack(raw)
        except ProtocolError as bad:
            raise ReceiverError(f"{self.name}: not an rtl_tcp server: {bad}") from None

    def read(self) -> bytes:
        silent_s = 0.0
        while True:
            sock = self._sock
            if sock is None:
                return b""
            try:
                raw = sock.recv(READ_BYTES)
            except TimeoutError:
                silent_s += POLL_S
                if silent_s >= self.stall_s:
                    raise SourceLost(f"no samples for {self.stall_s:g} s") from None
                continue
            except OSError as bad:
                if self._sock is None:  # closed from another thread
                    return b""
                raise SourceLost(f"connection lost ({_why(bad)})") from None
            if raw:
                return raw
            if self._sock is None:  # close() shut the socket down under the recv
                return b""
            raise SourceLost("connection closed by the server")

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread
        except OSError:
            pass  # already reset by the peer
        sock.close()

    def capture(self) -> dict:
        fields = {"device": f"rtl_tcp {self.address}", **self.tuning.capture()}
        if self.greeting is not None:
            fields["tuner"] = self.greeting.tuner_name
        return fields


def _why(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return error.strerror or str(error) or type(error).__name__
