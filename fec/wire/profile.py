"""Link profiles and MODCODs: the numbers the uplink and the receiver must agree on.

A *MODCOD* fixes the modulation and the whole coding chain of one physical-layer (PL) frame; it is
signalled per frame in the PL header (PLS field, see :mod:`chaincast.fec.wire.plheader`). A
*profile* fixes the radio parameters of a stream (symbol rate, roll-off, sample rate) and the
default MODCOD. Both are plain data, shared by the uplink, the receiver and the modem (which reads
a frame's length and modulation from its PLS).

Coding chain of one frame (see docs/architecture.md)::

    link-frame data field (data_bytes)
      -> Reed-Solomon outer code, rs_codewords x RS(rs_n, rs_n - rs_nsym), byte-interleaved
      -> inner code (inner_code): LDPC of rate code_rate, n = coded_bits (64800 or 16200)
      -> 8PSK only: bit interleaver (bit_levels: which codeword segments go on which bit of the symbols)
      -> scrambled -> mapped to coded_bits / bits_per_symbol symbols = slots x 90 symbols
"""

from __future__ import annotations

from dataclasses import dataclass

SLOT_SYMBOLS = 90
"""Payload symbols per slot; a PL frame payload is a whole number of slots."""

NORMAL_FRAME_BITS = 64800
SHORT_FRAME_BITS = 16200
"""Coded bits of a PL frame payload: the LDPC code length (as DVB-S2's FECFRAME)."""


def frame_slots(bits_per_symbol: int, short_frame: bool) -> int:
    """Slots of a PL frame payload: QPSK 360 / 90, 8PSK 240 / 60 (normal / short)."""
    return (SHORT_FRAME_BITS if short_frame else NORMAL_FRAME_BITS) // bits_per_symbol // SLOT_SYMBOLS


@dataclass(frozen=True)
class Modcod:
    """One modulation-and-coding choice, identified on the air by ``pls_id`` (0..63) and the short
    frame flag of the PL header."""

    name: str
    pls_id: int
    bits_per_symbol: int
    inner_code: str
    """``"ldpc"`` (``chaincast.fec.ldpc`` code of ``code_rate`` and length ``coded_bits``) or
    ``"cc-k7-r1/2"`` (terminated K=7 convolutional code, (171, 133) octal; ``qpsk-cc1/2`` only)."""
    code_rate: str
    rs_n: int
    rs_nsym: int
    rs_codewords: int
    short_frame: bool
    bit_levels: tuple[int, ...] = ()
    """8PSK bit interleaver (``chaincast.fec.framecodec.interleave_bits``): the codeword is cut into
    ``len(bit_levels)`` equal segments, segment ``j`` going to bit ``bit_levels[j]`` of the
    symbols (each bit level takes its segments in codeword order); empty: none."""

    @property
    def slots(self) -> int:
        return frame_slots(self.bits_per_symbol, self.short_frame)

    @property
    def payload_symbols(self) -> int:
        return self.slots * SLOT_SYMBOLS

    @property
    def coded_bits(self) -> int:
        """Bits carried by the PL frame payload (after padding)."""
        return self.payload_symbols * self.bits_per_symbol

    @property
    def inner_rate(self) -> float:
        num, den = self.code_rate.split("/")
        return int(num) / int(den)

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

    @property
    def spectral_efficiency(self) -> float:
        """Data-field bits per payload symbol (pilots and header excluded)."""
        return 8 * self.data_bytes / self.payload_symbols


def column_levels(order: tuple[int, ...]) -> tuple[int, ...]:
    """``bit_levels`` of the plain column interleaver (codeword written column-wise into
    ``len(order)`` columns, read row-wise, column ``order[i]`` giving bit ``i`` of each symbol)."""
    levels = [0] * len(order)
    for bit, column in enumerate(order):
        levels[column] = bit
    return tuple(levels)


LDPC_RS_NSYM = 4
"""Parity bytes per RS codeword behind the LDPC codes: corrects 2 bytes per codeword (a safety net
for the few bits a non-converged LDPC frame leaves; 1.6% of the rate, DVB-S2's BCH costs 0.6%)."""

# 8PSK bit interleavers. Gray 8PSK's b2 is the weak bit (4 decision boundaries; bit-channel MI at
# 5.5 dB: b0 0.729, b1 0.728, b2 0.483). Codeword of rate 3/5: [0, n/5) degree-12 information bits,
# [n/5, 3n/5) degree-3 information bits, [3n/5, n) parity (degree 2).
# 2/3 (column order 2, 0, 1): b1 <- first third, b2 <- middle third, b0 <- last third, chosen by
# measurement (tests/bench/ldpc_fer.py, 64 frames; 2/3 at 6.45 dB: 14 / 18 / 64 / 64 frame errors
# of 64 for orders 201 / 021 / 012 / 210; b2 on the high-degree bits fails).
# 3/5: the same with b2's third moved n/10 later, i.e. 30 segments: b1 <- [0, n/3) (degree-12 and
# degree-3 information bits), b2 <- [13n/30, 23n/30) (degree-3 information bits and the first
# parity), b0 <- the rest. Measured (n = 64800, 3000 frames or 50 errors, 100 iterations): frame
# errors at Es/N0 5.45 / 5.50 / 5.55 dB: column order 201 63/192, 57/512, 42/3000; this 44/3000,
# 1/3000, 0/3000. Shifts of 2/30, 4/30 and 6/30 gave 16/3000, 7/3000 and 55/384 at 5.50 dB; b2 with
# part of the degree-12 bits or spread evenly over all classes (a GA-EXIT model's choice,
# tests/bench/psk8_mapping_design.py) was worse than the column order (54/384, 64/128 at 5.50 dB).
PSK8_3_5_LEVELS = (1,) * 10 + (0,) * 3 + (2,) * 10 + (0,) * 7
PSK8_2_3_LEVELS = column_levels((2, 0, 1))

# QPSK and 8PSK LDPC MODCODs: pls id, bits per symbol, code rate, 8PSK bit levels.
_LDPC_FAMILY = (
    (2, 2, "1/3", ()),
    (3, 2, "1/2", ()),
    (4, 2, "3/5", ()),
    (5, 2, "2/3", ()),
    (6, 2, "3/4", ()),
    (7, 2, "5/6", ()),
    (8, 3, "3/5", PSK8_3_5_LEVELS),
    (9, 3, "2/3", PSK8_2_3_LEVELS),
)


def _ldpc_modcod(pls_id: int, bits_per_symbol: int, rate: str, levels: tuple[int, ...], short: bool) -> Modcod:
    num, den = (int(x) for x in rate.split("/"))
    n = SHORT_FRAME_BITS if short else NORMAL_FRAME_BITS
    outer_bytes = n * num // den // 8  # whole bytes of the k information bits; the rest are zero
    codewords = -(-outer_bytes // 255)
    modulation = {2: "qpsk", 3: "8psk"}[bits_per_symbol]
    return Modcod(
        name=f"{modulation}-{rate}" + ("-short" if short else ""),
        pls_id=pls_id,
        bits_per_symbol=bits_per_symbol,
        inner_code="ldpc",
        code_rate=rate,
        rs_n=outer_bytes // codewords,
        rs_nsym=LDPC_RS_NSYM,
        rs_codewords=codewords,
        short_frame=short,
        bit_levels=levels,
    )


# The convolutional MODCOD, kept so that recordings made with it still decode:
# 4 x RS(252, 220) = 1008 bytes = 8064 bits; + 6 tail bits = 8070; x2 = 16140 <= 16200 coded bits.
_PLACEHOLDER = Modcod(
    name="qpsk-cc1/2",
    pls_id=1,
    bits_per_symbol=2,
    inner_code="cc-k7-r1/2",
    code_rate="1/2",
    rs_n=252,
    rs_nsym=32,
    rs_codewords=4,
    short_frame=True,
)

MODCODS: dict[str, Modcod] = {
    m.name: m
    for m in [_PLACEHOLDER]
    + [_ldpc_modcod(*entry, short) for short in (False, True) for entry in _LDPC_FAMILY]
}
MODCODS_ON_AIR: dict[tuple[int, bool], Modcod] = {(m.pls_id, m.short_frame): m for m in MODCODS.values()}
"""``(pls_id, short_frame)`` -> MODCOD: what a PL header names."""


def modcod_on_air(pls_id: int, short_frame: bool) -> Modcod | None:
    return MODCODS_ON_AIR.get((pls_id, short_frame))


# Es/N0 in dB at which the receiver's LDPC decoder reaches a frame error rate of 1e-3 on AWGN,
# keyed by (the normal frame's MODCOD name, short_frame). From docs/performance.md ("The codes:
# frame error rate on AWGN", measured 2026-11-25 with tests/bench/fer_sweep.py: exact LLRs, int16
# layered self-corrected offset min-sum, at most 100 iterations): its n = 64800 column for normal
# frames, its n = 16200 column for short frames. qpsk-3/5 normal is an upper bound (0/20000 frame
# errors at 2.18 dB). The decoder alone: the whole receiver needs 0.17-0.30 dB more (same page,
# "implementation loss"). qpsk-cc1/2 was not measured and has no entry.
REQUIRED_ESN0_DB: dict[tuple[str, bool], float] = {
    ("qpsk-1/3", False): -1.50, ("qpsk-1/3", True): -1.32,
    ("qpsk-1/2", False): 0.91, ("qpsk-1/2", True): 1.06,
    ("qpsk-3/5", False): 2.18, ("qpsk-3/5", True): 2.28,
    ("qpsk-2/3", False): 2.75, ("qpsk-2/3", True): 2.88,
    ("qpsk-3/4", False): 3.94, ("qpsk-3/4", True): 4.10,
    ("qpsk-5/6", False): 5.08, ("qpsk-5/6", True): 5.23,
    ("8psk-3/5", False): 5.44, ("8psk-3/5", True): 5.60,
    ("8psk-2/3", False): 6.45, ("8psk-2/3", True): 6.62,
}

_SHORT_SUFFIX = "-short"  # what MODCODS appends to a short-frame MODCOD's name


def required_esn0_db(name: str, short_frame: bool = False) -> float | None:
    """Es/N0 in dB for a frame error rate of 1e-3 on AWGN (``REQUIRED_ESN0_DB``); None for a MODCOD
    not measured or not known. ``name`` is a ``MODCODS`` name: a ``-short`` one is the short frame
    whatever ``short_frame`` says; the normal frame's name with ``short_frame=True`` is too."""
    if name.endswith(_SHORT_SUFFIX):
        name, short_frame = name[: -len(_SHORT_SUFFIX)], True
    return REQUIRED_ESN0_DB.get((name, short_frame))


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
    modcod="qpsk-3/5",
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
