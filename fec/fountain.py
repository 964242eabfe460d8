"""Fountain code: RaptorQ (RFC 6330, the ``raptorq`` package) over one object's transfer data.

The encoder turns ``transfer`` bytes into encoding symbols of ``symbol_size`` bytes, each named by
its 32-bit FEC payload ID (SBN u8, ESI u24). Pass 0 sends every source symbol plus
``overhead(K)`` repair symbols; pass ``p >= 1`` sends ``K + overhead(K)`` repair symbols that no
earlier pass sent, so a receiver that heard parts of several passes combines them: any K symbols
(plus a few) rebuild the object, with failure probability about 1/256^(h+1) for h extra symbols.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import raptorq

from chaincast.fec.wire.packet import SYMBOL_ALIGN

_PAYLOAD_ID_BYTES = 4
# RFC 6330 K'max (table 2): the most source symbols one source block can have. Objects of at most
# this many symbols are one source block (raptorq splits larger ones), so every genuine symbol
# has source block number 0; the receiver refuses larger declarations before raptorq sees them.
MAX_SOURCE_SYMBOLS = 56403
# Extra symbols beyond K that a rebuild attempt from a chosen subset takes: RaptorQ fails to
# decode from K symbols about 1% of the time, from K + 2 about once in a million (RFC 6330 1.1).
SUBSET_EXTRA_SYMBOLS = 2


class FountainError(ValueError):
    """Object transmission information the decoder cannot accept (more than one source block,
    a symbol size that is no multiple of ``SYMBOL_ALIGN``, an empty object)."""


def choose_symbol_size(transfer_length: int, max_symbol_size: int) -> int:
    """Largest useful symbol size: the object in one symbol if it fits, else ``max_symbol_size``."""
    if max_symbol_size < SYMBOL_ALIGN:
        raise ValueError(f"max symbol size {max_symbol_size} is below {SYMBOL_ALIGN}")
    whole = -(-transfer_length // SYMBOL_ALIGN) * SYMBOL_ALIGN
    return min(whole, max_symbol_size - max_symbol_size % SYMBOL_ALIGN)


def source_symbol_count(transfer_length: int, symbol_size: int) -> int:
    return -(-transfer_length // symbol_size)


def repair_overhead(k: int, fraction: float = 0.05, minimum: int = 2) -> int:
    """Repair symbols sent beyond K per pass: covers a few lost packets at no great cost."""
    return max(minimum, math.ceil(k * fraction))


@dataclass(frozen=True)
class EncodedSymbol:
    symbol_id: int  # RaptorQ FEC payload ID (SBN << 24 | ESI)
    data: bytes


class FountainEncoder:
    def __init__(self, transfer: bytes, symbol_size: int):
        if symbol_size % SYMBOL_ALIGN:
            raise ValueError(f"symbol size must be a multiple of {SYMBOL_ALIGN}")
        self.transfer_length = len(transfer)
        self.symbol_size = symbol_size
        self.k = source_symbol_count(len(transfer), symbol_size)
        self._encoder = raptorq.Encoder.with_defaults(transfer, symbol_size)

    def pass_symbols(self, pass_index: int) -> list[EncodedSymbol]:
        """Symbols to send in carousel pass ``pass_index`` (0-based); no symbol is sent twice."""
        h = repair_overhead(self.k)
        if pass_index == 0:
            first_repair, count = 0, h
        else:
            first_repair, count = h + (pass_index - 1) * (self.k + h), self.k + h
        packets = self._encoder.get_encoded_packets(first_repair + count)
        source = [p for p in packets if _esi(p) < self.k]
        repair = [p for p in packets if _esi(p) >= self.k][first_repair : first_repair + count]
        chosen = (source if pass_index == 0 else []) + repair
        return [EncodedSymbol(int.from_bytes(p[:_PAYLOAD_ID_BYTES], "big"), bytes(p[_PAYLOAD_ID_BYTES:])) for p in chosen]


def pass_of_symbol(symbol_id: int, k: int) -> int:
    """The carousel pass that sends ``symbol_id`` (see ``FountainEncoder.pass_symbols``): pass 0 the
    K source symbols and the first h repair symbols, pass p >= 1 the next K + h repair symbols
    (RaptorQ numbers repair symbols from K on; one source block)."""
    esi = symbol_id & 0xFFFFFF
    h = repair_overhead(k)
    return 0 if esi < k + h else 1 + (esi - k - h) // (k + h)


def _esi(packet: bytes) -> int:
    return int.from_bytes(packet[1:_PAYLOAD_ID_BYTES], "big")


def check_transmission(transfer_length: int, symbol_size: int) -> int:
    """K, the source symbol count, of an object the decoder accepts; ``FountainError`` otherwise.
    Accepted: a positive length, a symbol size that is a positive multiple of ``SYMBOL_ALIGN``
    and no larger than the object needs, and at most ``MAX_SOURCE_SYMBOLS`` source symbols (one
    source block)."""
    if transfer_length < 1:
        raise FountainError(f"transfer length {transfer_length} is not positive")
    if symbol_size < SYMBOL_ALIGN or symbol_size % SYMBOL_ALIGN:
        raise FountainError(f"symbol size {symbol_size} is not a positive multiple of {SYMBOL_ALIGN}")
    if symbol_size > -(-transfer_length // SYMBOL_ALIGN) * SYMBOL_ALIGN:
        raise FountainError(f"symbol size {symbol_size} exceeds the {transfer_length}-byte object it carries")
    k = source_symbol_count(transfer_length, symbol_size)
    if k > MAX_SOURCE_SYMBOLS:
        raise FountainError(f"{k} source symbols (at most {MAX_SOURCE_SYMBOLS}, one source block)")
    return k


def is_single_block_symbol(symbol_id: int) -> bool:
    """Whether the FEC payload ID names source block 0, the only block of an accepted object."""
    return symbol_id >> 24 == 0


class FountainDecoder:
    """Collects symbols of one object; ``add`` returns the transfer bytes once they are rebuilt.

    Only objects ``check_transmission`` accepts are decoded, and symbols of another source block
    than 0 are ignored, so raptorq never sees a payload ID outside the object it was set up for
    (it panics on one). A panic raptorq may still raise is caught: the decoder is then ``broken``
    and rebuilds nothing."""

    def __init__(self, transfer_length: int, symbol_size: int):
        self.k = check_transmission(transfer_length, symbol_size)
        self.transfer_length = transfer_length
        self.symbol_size = symbol_size
        self._decoder = raptorq.Decoder.with_defaults(transfer_length, symbol_size)
        self._seen: set[int] = set()
        self.broken = False

    @property
    def symbols_received(self) -> int:
        return len(self._seen)

    def symbol_ids(self) -> set[int]:
        return set(self._seen)

    def passes_heard(self) -> set[int]:
        """The carousel passes the symbols received so far come from."""
        return {pass_of_symbol(symbol_id, self.k) for symbol_id in self._seen}

    def add(self, symbol_id: int, data: bytes) -> bytes | None:
        if self.broken or len(data) != self.symbol_size or symbol_id in self._seen or not is_single_block_symbol(symbol_id):
            return None
        self._seen.add(symbol_id)
        try:
            return self._decoder.decode(symbol_id.to_bytes(_PAYLOAD_ID_BYTES, "big") + data)
        except BaseException as failure:  # pyo3's PanicException derives from BaseException
            if type(failure).__name__ != "PanicException":
                raise
            self.broken = True
            return None


def decode_symbols(transfer_length: int, symbol_size: int, symbols: list[tuple[int, bytes]]) -> bytes | None:
    """The transfer rebuilt from exactly these ``(symbol_id, data)`` symbols, or None if they do
    not suffice. A fresh decoder each time: used to rebuild from a chosen subset."""
    decoder = FountainDecoder(transfer_length, symbol_size)
    for symbol_id, data in symbols:
        transfer = decoder.add(symbol_id, data)
        if transfer is not None:
            return transfer
    return None
