"""Every fuzz target (tests/fuzz/targets.py) on a bounded number of hypothesis examples.

The short, deterministic version of ``make fuzz``: random bytes, and structured mutations of the
real encodings the target is seeded with (bytes flipped or set to boundary values, integers
overwritten with 0 / 1 / all ones, truncation, extension, a slice cut out or repeated). A failure
is a crash: the target raised something it is not registered with.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.linkframe import LinkFrame
from chaincast.fec.wire.packet import Packet
from tests.fuzz.targets import TARGETS, Target, forge_link_frame

EXAMPLES_PER_TARGET = 300
BOUNDARY_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)

_positions = st.integers(0, 1 << 16)
_mutations = st.one_of(
    st.tuples(st.just("flip"), _positions, st.integers(1, 255)),
    st.tuples(st.just("set"), _positions, st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0xFF))),
    st.tuples(st.just("int"), _positions, st.sampled_from((1, 2, 4, 8)), st.sampled_from(BOUNDARY_INTS)),
    st.tuples(st.just("truncate"), _positions),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("cut"), _positions, st.integers(1, 64)),
    st.tuples(st.just("repeat"), _positions, st.integers(1, 64)),
)


def mutate(data: bytes, mutations: list[tuple]) -> bytes:
    out = bytearray(data)
    for kind, *args in mutations:
        at = args[0] % (len(out) + 1) if kind != "extend" else 0
        if kind == "flip" and at < len(out):
            out[at] ^= args[1]
        elif kind == "set" and at < len(out):
            out[at] = args[1]
        elif kind == "int":
            width, value = args[1], args[2] & ((1 << 8 * args[1]) - 1)
            out[at : at + width] = value.to_bytes(width, "big")
        elif kind == "truncate":
            del out[at:]
        elif kind == "extend":
            out += args[0]
        elif kind == "cut":
            del out[at : at + args[1]]
        elif kind == "repeat":
            out[at:at] = out[at : at + args[1]]
    return bytes(out)


def inputs(target: Target) -> st.SearchStrategy[bytes]:
    seeds = list(target.seeds())
    mutated = st.builds(mutate, st.sampled_from(seeds), st.lists(_mutations, min_size=1, max_size=4))
    return st.one_of(st.binary(max_size=512), st.sampled_from(seeds), mutated)


@pytest.mark.parametrize("name", list(TARGETS))
def test_target_never_crashes(name):
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES_PER_TARGET, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(inputs(target))
    def run(data: bytes) -> None:
        target.check(data)

    run()


def test_mutations_reach_past_the_checksums():
    """The forged variants are what make the targets useful: a seed with a flipped payload byte
    still parses once its CRCs are recomputed."""
    field = TARGETS["link-frame"].seeds()[0]
    changed = mutate(field, [("flip", 200, 0x55)])  # inside the first packet's symbol
    with pytest.raises(WireError):
        LinkFrame.unpack(changed)
    packets = LinkFrame.unpack(forge_link_frame(changed)).packets
    assert Packet.unpack(packets[0]).symbol != Packet.unpack(LinkFrame.unpack(field).packets[0]).symbol
