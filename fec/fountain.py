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


class FountainDecoder:
    """Collects symbols of one object; ``add`` returns the transfer bytes once they are rebuilt."""

    def __init__(self, transfer_length: int, symbol_size: int):
        self.transfer_length = transfer_length
        self.symbol_size = symbol_size
        self._decoder = raptorq.Decoder.with_defaults(transfer_length, symbol_size)
        self._seen: set[int] = set()

    @property
    def symbols_received(self) -> int:
        return len(self._seen)

    def passes_heard(self) -> set[int]:
        """The carousel passes the symbols received so far come from."""
        k = source_symbol_count(self.transfer_length, self.symbol_size)
        return {pass_of_symbol(symbol_id, k) for symbol_id in self._seen}

    def add(self, symbol_id: int, data: bytes) -> bytes | None:
        if len(data) != self.symbol_size or symbol_id in self._seen:
            return None
        self._seen.add(symbol_id)
        return self._decoder.decode(symbol_id.to_bytes(_PAYLOAD_ID_BYTES, "big") + data)
