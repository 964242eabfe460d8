"""Inputs that `make fuzz` (tests/fuzz) found crashing a wire parser, kept as literals.

Each parser must answer them with WireError, like any other malformed input.
"""

import pytest

from chaincast.fec.wire import WireError
from chaincast.fec.wire.packet import HEADER_BYTES, Packet
from chaincast.fec.wire.plheader import Pls, PlsError


def test_size_at_refuses_a_negative_offset_beyond_the_buffer():
    # target packet-size-at: offset -28432 into 11 bytes raised struct.error
    with pytest.raises(WireError):
        Packet.size_at(bytes.fromhex("0000ee9090f000000000a6"), -28432)


def test_size_at_refuses_a_negative_offset_inside_the_buffer():
    # target packet-size-at: offset -1 counted from the end and framed a 65583-byte packet out of
    # the last bytes of a 110-byte buffer
    buffer = b"\xff" * 107 + bytes.fromhex("00eea6")
    with pytest.raises(WireError):
        Packet.size_at(buffer, -1)
    assert Packet.size_at(buffer, 0) == HEADER_BYTES + 0xFFFF


@pytest.mark.parametrize("value", [1768, -128, 256, -1])
def test_pls_value_outside_8_bits_is_a_wire_error(value):
    # target pls: Pls.unpack(1768) raised PlsError, a ValueError outside the WireError family,
    # so a caller catching the wire package's one exception would crash
    with pytest.raises(WireError):
        Pls.unpack(value)
    assert issubclass(PlsError, WireError)
