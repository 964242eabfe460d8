"""Link profiles and MODCODs: the numbers the uplink and the receiver must agree on.

A *MODCOD* fixes the modulation and the whole coding chain of one physical-layer (PL) frame; it is
signalled per frame in the PL header (PLS field, see :mod:`chaincast.fec.wire.plheader`). A
*profile* fixes the radio parameters of a stream (symbol rate, roll-off, sample rate) and the
default MODCOD. Both are plain data: the modem (:mod:`chaincast.sdr`) takes the numbers as
arguments and never imports this module.

Coding chain of one frame (see docs/architecture.md)::

    link-frame data field (data_bytes)
      -> Reed-Solomon outer code, rs_codewords x RS(rs_n, rs_n - rs_nsym), byte-interleaved
      -> inner code (inner_code) -> coded bits, zero-padded to coded_bits
      -> scrambled -> mapped to coded_bits / bits_per_symbol symbols = slots x 90 symbols
"""

from __future__ import annotations

from dataclasses import dataclass

SLOT_SYMBOLS = 90
"""Payload symbols per slot; a PL frame payload is a whole number of slots."""

SHORT_FRAME_SLOTS = 90
NORMAL_FRAME_SLOTS = 360


@dataclass(frozen=True)
class Modcod:
    """One modulation-and-coding choice, identified on the air by ``pls_id`` (0..63)."""

    name: str
    pls_id: int
    bits_per_symbol: int
    inner_code: str
    """Inner code name: ``"cc-k7-r1/2"`` (terminated K=7 convolutional code, (171, 133) octal)."""
    inner_rate: float
    rs_n: int
    rs_nsym: int
    rs_codewords: int
    short_frame: bool

    @property
    def slots(self) -> int:
        return SHORT_FRAME_SLOTS if self.short_frame else NORMAL_FRAME_SLOTS

    @property
    def payload_symbols(self) -> int:
        return self.slots * SLOT_SYMBOLS

    @property
    def coded_bits(self) -> int:
        """Bits carried by the PL frame payload (after padding)."""
        return self.payload_symbols * self.bits_per_symbol

    @property
    def rs_k(self) -> int:
        return self.rs_n - self.rs_nsym

    @property
    def data_bytes(self) -> int:
        """Size of the link-frame data field (before the outer code)."""
        return self.rs_codewords * self.rs_k

    @property
    def outer_bytes(self) -> int:
        return self.rs_codewords * self.rs_n


# The placeholder inner code of issue 2: a terminated K=7 rate-1/2 convolutional code.
# 4 x RS(252, 220) = 1008 bytes = 8064 bits; + 6 tail bits = 8070; x2 = 16140 <= 16200 coded bits.
MODCODS: dict[str, Modcod] = {
    m.name: m
    for m in (
        Modcod(
            name="qpsk-cc1/2",
            pls_id=1,
            bits_per_symbol=2,
            inner_code="cc-k7-r1/2",
            inner_rate=0.5,
            rs_n=252,
            rs_nsym=32,
            rs_codewords=4,
            short_frame=True,
        ),
    )
}
MODCODS_BY_PLS_ID: dict[int, Modcod] = {m.pls_id: m for m in MODCODS.values()}


@dataclass(frozen=True)
class Profile:
    """Radio parameters of a stream. Units are in the names."""

    name: str
    symbol_rate_hz: float
    rolloff: float
    sample_rate_hz: float
    modcod: str
    pilots: bool = True

    @property
    def samples_per_symbol(self) -> float:
        return self.sample_rate_hz / self.symbol_rate_hz


DEFAULT_PROFILE = Profile(
    name="default",
    symbol_rate_hz=1_000_000.0,
    rolloff=0.2,
    sample_rate_hz=2_400_000.0,  # what an RTL-SDR streams reliably
    modcod="qpsk-cc1/2",
    pilots=True,
)
PROFILES: dict[str, Profile] = {DEFAULT_PROFILE.name: DEFAULT_PROFILE}


class UnknownModcod(ValueError):
    pass


def modcod_by_name(name: str) -> Modcod:
    try:
        return MODCODS[name]
    except KeyError:
        raise UnknownModcod(f"unknown MODCOD {name!r}; known: {', '.join(MODCODS)}") from None
