"""Packets -> objects, against a forger: bounded, and not steered by the first packet heard.

Anyone with a transmitter can add packets with valid CRCs to the broadcast, so a packet's header
is a claim, not a fact. The assembler:

- **admits** a packet only if what it declares fits the object's type (``fec.wire.objects``: a
  block is at most 4 MB, ...), is one RaptorQ source block, and names source block 0
  (``fec.fountain.check_transmission``); everything else is refused and counted, before any
  decoder or storage is spent on it;
- keeps **variants** apart: one object id with another transfer length or symbol size is another
  variant, collected and rebuilt on its own, and each rebuild is checked against the SHA-256
  trailer and the id (``BroadcastObject.decode``). A forged packet sent first under a genuine id
  therefore squats nothing;
- stores symbols in a **pool** with a byte budget (the state file's ``ReceiverStore``, else
  memory), and starts a RaptorQ decoder only once a variant holds K symbols, so a packet that
  declares a huge object costs one symbol's worth of storage, not the object's. When the budget
  or the variant count is exceeded, the variant heard least recently is pruned, those the chain
  index announces last;
- does not let a **bad symbol poison** the object: a rebuild that fails its check keeps the
  symbols and marks them suspect; later attempts rebuild from subsets of groups of symbols (by
  symbol id), preferring the least suspect groups and never one exactly as it failed before,
  so a garbage symbol sent ahead of every pass does not stop the object. Attempts are paid for by
  new symbols (``RETRIES_PER_K`` per K symbols heard), so a forger cannot buy CPU time without air
  time.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from chaincast.fec.fountain import (
    SUBSET_EXTRA_SYMBOLS,
    FountainDecoder,
    FountainError,
    check_transmission,
    decode_symbols,
    is_single_block_symbol,
    pass_of_symbol,
)
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.objects import BroadcastObject, max_transfer_length
from chaincast.fec.wire.packet import Packet
from chaincast.rxside.store import VARIANT_ROW_OVERHEAD, ReceiverStore, StoredVariant, VariantKey, symbol_cost
from chaincast.rxside.settings import DEFAULT_DISK_BUDGET, DEFAULT_MEMORY_BUDGET

DEFAULT_MAX_VARIANTS = 16384  # partial objects tracked at once (a genuine broadcast has a few hundred)
DEFAULT_DECODER_BUDGET = 32 << 20  # transfer bytes of the RaptorQ decoders alive at once (one takes up to ~6x its transfer while decoding)
MAX_COMPLETE_KEYS = 65536  # rebuilt objects remembered in memory (the store remembers more)
RETRIES_PER_K = 8  # rebuild attempts a contested variant may make per K new symbols
MAX_CREDITS = 4.0
MAX_SYMBOLS_PER_K = 4  # a variant holding this many times K symbols without a rebuild starts over
GROUPS_PER_ATTEMPT = 8
FAILED_SUBSETS_KEPT = 64  # fingerprints of subsets that failed, not to be tried again
ANNOUNCEMENTS_KEPT = 4  # chain indexes whose entries are protected from pruning


@dataclass
class AssemblerStats:
    objects_complete: int = 0
    objects_corrupt: int = 0  # rebuilds that failed their SHA-256 trailer or id (forged or garbage symbols)
    objects_combined: int = 0  # rebuilt from the symbols of two passes or more (one alone had not sufficed)
    objects_resumed: int = 0  # variants continued from symbols stored by an earlier run
    packets_duplicate: int = 0  # for objects already complete, or a symbol id already held
    packets_refused: int = 0  # declared something no genuine object has (see refused_why)
    variants_pruned: int = 0  # partial objects dropped to keep within the budget
    decoders_evicted: int = 0  # decoders dropped to keep within their budget (rebuilt from the pool)
    subset_attempts: int = 0  # rebuilds from a chosen subset of a contested variant's symbols
    refused_why: dict[str, int] = field(default_factory=dict)


@dataclass
class _Variant:
    key: VariantKey
    k: int
    symbols: int = 0  # distinct symbol ids in the pool
    cost: int = 0  # bytes against the budget
    decoder: FountainDecoder | None = None  # alive from K symbols until rebuilt or evicted
    contested: bool = False  # a rebuild failed its check: further rebuilds are from subsets
    credits: float = 0.0
    # symbol ids that were in failed rebuilds (sorted) and in how many: 6 bytes a symbol, beside
    # the symbol's own 72 or more bytes of budget
    suspects: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    suspect_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))
    failed: list[int] = field(default_factory=list)  # hashes of the subsets that failed
    resumed: bool = False  # had stored symbols when this run started

    @property
    def object_key(self) -> tuple[int, bytes]:
        return self.key[0], self.key[1]


class MemoryPool:
    """Symbols held in memory (no state file); the same calls as ``ReceiverStore``'s symbol part."""

    def __init__(self):
        self._symbols: dict[VariantKey, dict[int, bytes]] = {}

    def stored_variants(self) -> list[StoredVariant]:
        return []

    def add_symbol(self, key: VariantKey, symbol_id: int, symbol: bytes, heard: int) -> bool:
        held = self._symbols.setdefault(key, {})
        if symbol_id in held:
            return False
        held[symbol_id] = symbol
        return True

    def symbol_ids(self, key: VariantKey) -> list[int]:
        return sorted(self._symbols.get(key, ()))

    def symbols(self, key: VariantKey, symbol_ids: Iterable[int] | None = None) -> list[tuple[int, bytes]]:
        held = self._symbols.get(key, {})
        ids = sorted(held) if symbol_ids is None else sorted(i for i in set(symbol_ids) if i in held)
        return [(i, held[i]) for i in ids]

    def drop_variant(self, key: VariantKey) -> None:
        self._symbols.pop(key, None)


def _refusal(object_type: int, object_id: bytes, transfer_length: int, symbol_size: int) -> str:
    """Why no genuine object has this declaration ("" if one may)."""
    limit = max_transfer_length(object_type)
    if limit == 0:
        return "object type"
    if transfer_length > limit:
        return "object size"
    try:
        check_transmission(transfer_length, symbol_size)
    except FountainError:
        return "symbol size"
    return ""


class ObjectAssembler:
    """``add(packet)`` returns the object the packet completed, else None.

    ``store``: the receiver's state file, which then holds the symbols (budget ``disk_budget``
    bytes) and remembers rebuilt objects across restarts; without it symbols are held in memory
    (``memory_budget`` bytes)."""

    def __init__(self, store: ReceiverStore | None = None, *, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 disk_budget: int = DEFAULT_DISK_BUDGET, max_variants: int = DEFAULT_MAX_VARIANTS,
                 decoder_budget: int = DEFAULT_DECODER_BUDGET, seed: int = 0):
        self.store = store
        self.pool = store if store is not None else MemoryPool()
        self.budget = disk_budget if store is not None else memory_budget
        self.max_variants = max_variants
        self.decoder_budget = decoder_budget
        self.stats = AssemblerStats()
        self._rng = random.Random(seed)
        self._variants: OrderedDict[VariantKey, _Variant] = OrderedDict()  # least recently heard first
        self._by_object: dict[tuple[int, bytes], set[VariantKey]] = {}
        self._complete: OrderedDict[tuple[int, bytes], None] = OrderedDict()
        self._announcements: list[frozenset] = []
        self._cost = 0
        self._decoder_bytes = 0
        self._heard = 0
        for stored in self.pool.stored_variants():
            # a state file is a user's file: what it declares is checked as a packet's would be
            variant = None if _refusal(*stored.key) else self._track(stored.key)
            if variant is None:  # refused, or more than this receiver tracks
                self.pool.drop_variant(stored.key)
                continue
            self._cost += stored.cost - variant.cost
            variant.symbols, variant.cost, variant.resumed = stored.symbols, stored.cost, stored.symbols > 0
            self._heard = max(self._heard, stored.last_heard)
        self._make_room(0, None)

    # ------------------------------------------------------------------ public
    @property
    def objects_in_progress(self) -> int:
        """Object ids with at least one partial variant held."""
        return len(self._by_object)

    @property
    def stored_bytes(self) -> int:
        """Bytes of symbols held against the budget."""
        return self._cost

    def add(self, pkt: Packet) -> BroadcastObject | None:
        object_key = (pkt.object_type, pkt.object_id)
        if object_key in self._complete:
            self._complete.move_to_end(object_key)
            self.stats.packets_duplicate += 1
            return None
        key = (pkt.object_type, pkt.object_id, pkt.transfer_length, pkt.symbol_size)
        variant = self._variants.get(key)
        if not is_single_block_symbol(pkt.symbol_id):
            return self._refuse("source block")
        if variant is None:
            why = _refusal(*key)
            if why:
                return self._refuse(why)
            if self.store is not None and self.store.state_of(*object_key) is not None:  # rebuilt in an earlier run
                self._remember_complete(object_key)
                self.stats.packets_duplicate += 1
                return None
            self._make_room(VARIANT_ROW_OVERHEAD + symbol_cost(pkt.symbol_size), key)
            variant = self._track(key)
            if variant is None:
                return self._refuse("no room")
        self._heard += 1
        self._variants.move_to_end(key)
        if variant.resumed:
            variant.resumed = False
            self.stats.objects_resumed += 1
        if not self.pool.add_symbol(key, pkt.symbol_id, pkt.symbol, self._heard):
            self.stats.packets_duplicate += 1
            return None
        cost = symbol_cost(pkt.symbol_size)
        variant.symbols += 1
        variant.cost += cost
        self._cost += cost
        self._make_room(0, key)
        if self._cost > self.budget or variant.symbols > MAX_SYMBOLS_PER_K * (variant.k + SUBSET_EXTRA_SYMBOLS):
            # alone larger than the budget, or garbage enough to defeat every subset: forget it
            # (fresh passes start it again)
            self._drop(key)
            self.stats.variants_pruned += 1
            return None
        if variant.contested:
            variant.credits = min(MAX_CREDITS, variant.credits + RETRIES_PER_K / variant.k)
            return self._retry(variant)
        if variant.decoder is not None:
            transfer = variant.decoder.add(pkt.symbol_id, pkt.symbol)
            if transfer is None and not variant.decoder.broken:
                return None
            return self._finish(variant, transfer or b"", variant.decoder.symbol_ids())
        if variant.symbols >= variant.k:
            return self._first_attempt(variant)
        return None

    def reopen(self, object_type: int, object_id: bytes) -> None:
        """Accept packets for this object again: what was rebuilt was rejected downstream (for
        example a mutated block that shares its header, and so its id, with the genuine one)."""
        self._complete.pop((object_type, object_id), None)
        if self.store is not None:
            self.store.forget_object(object_type, object_id)

    def announce(self, entries: Iterable[tuple[int, bytes, int | None]]) -> None:
        """The objects a chain index lists (``(type, id, transfer length or None)``): pruned last.
        The union of the last ``ANNOUNCEMENTS_KEPT`` indexes counts, so a forged index cannot
        withdraw the protection a genuine one gave."""
        self._announcements.append(frozenset(entries))
        del self._announcements[:-ANNOUNCEMENTS_KEPT]

    # ------------------------------------------------------------------ admission and room
    def _refuse(self, why: str) -> None:
        self.stats.packets_refused += 1
        self.stats.refused_why[why] = self.stats.refused_why.get(why, 0) + 1

    def _track(self, key: VariantKey) -> _Variant | None:
        if len(self._variants) >= self.max_variants:
            return None
        variant = _Variant(key, check_transmission(key[2], key[3]), cost=VARIANT_ROW_OVERHEAD)
        self._cost += VARIANT_ROW_OVERHEAD
        self._variants[key] = variant
        self._by_object.setdefault(variant.object_key, set()).add(key)
        return variant

    def _announced(self, key: VariantKey) -> bool:
        return any((key[0], key[1], None) in a or (key[0], key[1], key[2]) in a for a in self._announcements)

    def _make_room(self, incoming: int, keep: VariantKey | None) -> None:
        """Prune the least recently heard variants (announced ones last) until ``incoming`` more
        bytes fit the budget and one more variant fits the count."""
        while self._cost + incoming > self.budget or len(self._variants) + (keep not in self._variants) > self.max_variants:
            victim = next((k for k in self._variants if k != keep and not self._announced(k)), None)
            if victim is None:
                victim = next((k for k in self._variants if k != keep), None)
            if victim is None:
                return
            self._drop(victim)
            self.stats.variants_pruned += 1

    def _drop(self, key: VariantKey) -> None:
        variant = self._variants.pop(key)
        self._cost -= variant.cost
        self._kill_decoder(variant)
        siblings = self._by_object[variant.object_key]
        siblings.discard(key)
        if not siblings:
            del self._by_object[variant.object_key]
        self.pool.drop_variant(key)

    # ------------------------------------------------------------------ decoders
    def _start_decoder(self, variant: _Variant) -> None:
        while self._decoder_bytes + variant.key[2] > self.decoder_budget:
            live = next((v for v in self._variants.values() if v.decoder is not None and v is not variant), None)
            if live is None:
                break
            self._kill_decoder(live)
            self.stats.decoders_evicted += 1
        variant.decoder = FountainDecoder(variant.key[2], variant.key[3])
        self._decoder_bytes += variant.key[2]

    def _kill_decoder(self, variant: _Variant) -> None:
        if variant.decoder is not None:
            variant.decoder = None
            self._decoder_bytes -= variant.key[2]

    def _first_attempt(self, variant: _Variant) -> BroadcastObject | None:
        """All the variant's symbols into a decoder, which then takes each new symbol."""
        self._start_decoder(variant)
        for symbol_id, symbol in self.pool.symbols(variant.key):
            transfer = variant.decoder.add(symbol_id, symbol)
            if transfer is not None:
                return self._finish(variant, transfer, variant.decoder.symbol_ids())
        if variant.decoder.broken:  # raptorq panicked on these symbols: a failed rebuild, as a bad digest is
            return self._finish(variant, b"", variant.decoder.symbol_ids())
        return None

    def _retry(self, variant: _Variant) -> BroadcastObject | None:
        """A rebuild from a subset of the symbols, if the variant has earned one and a subset can
        be chosen that did not fail before."""
        if variant.credits < 1:
            return None
        chosen = self._choose_subset(variant)
        if chosen is None:
            return None
        variant.credits -= 1
        self.stats.subset_attempts += 1
        transfer = decode_symbols(variant.key[2], variant.key[3], self.pool.symbols(variant.key, chosen.tolist()))
        if transfer is None:  # not enough independent symbols in the subset: no verdict on them
            return None
        return self._finish(variant, transfer, chosen)

    def _choose_subset(self, variant: _Variant) -> np.ndarray | None:
        """K + 2 or more symbol ids, whole groups of consecutive ids, the least suspect groups first
        (ties broken at random); None if too few symbols, or only subsets that failed come up."""
        ids = np.asarray(self.pool.symbol_ids(variant.key), np.uint32)
        need = variant.k + SUBSET_EXTRA_SYMBOLS
        if len(ids) < need:
            return None
        counts = np.zeros(len(ids), np.float64)
        if len(variant.suspects):
            at = np.minimum(np.searchsorted(variant.suspects, ids), len(variant.suspects) - 1)
            hit = variant.suspects[at] == ids
            counts[hit] = variant.suspect_counts[at[hit]]
        size = math.ceil(need / GROUPS_PER_ATTEMPT)
        starts = np.arange(0, len(ids), size)
        scores = np.add.reduceat(counts, starts) / np.diff(np.append(starts, len(ids)))
        for _ in range(16):
            order = np.argsort(scores + np.array([self._rng.random() for _ in starts]))
            chosen, taken = [], 0
            for g in order:
                chosen.append(ids[starts[g]:starts[g] + size])
                taken += len(chosen[-1])
                if taken >= need:
                    break
            subset = np.sort(np.concatenate(chosen))
            if hash(subset.tobytes()) not in variant.failed:
                return subset
        return None

    def _finish(self, variant: _Variant, transfer: bytes, used) -> BroadcastObject | None:
        """``used``: the symbol ids the rebuild was made from (a set or a sorted array)."""
        self._kill_decoder(variant)
        try:
            obj = BroadcastObject.decode(variant.key[0], variant.key[1], transfer)
        except WireError:
            self.stats.objects_corrupt += 1
            if not variant.contested:
                variant.contested = True
                variant.credits = 1.0
            used = np.unique(np.fromiter(used, np.uint32)) if not isinstance(used, np.ndarray) else used
            merged = np.union1d(variant.suspects, used)
            counts = np.zeros(len(merged), np.uint16)
            counts[np.searchsorted(merged, variant.suspects)] = variant.suspect_counts
            counts[np.searchsorted(merged, used)] += 1
            variant.suspects, variant.suspect_counts = merged, counts
            variant.failed.append(hash(used.tobytes()))
            del variant.failed[:-FAILED_SUBSETS_KEPT]
            return None
        self.stats.objects_complete += 1
        self.stats.objects_combined += len({pass_of_symbol(int(sid), variant.k) for sid in used}) > 1
        for key in list(self._by_object.get(variant.object_key, ())):  # every variant of this id is done
            self._drop(key)
        self._remember_complete(variant.object_key)
        if self.store is not None:
            self.store.object_complete(obj.object_type, obj.object_id, obj.payload)
        return obj

    def _remember_complete(self, object_key: tuple[int, bytes]) -> None:
        self._complete[object_key] = None
        self._complete.move_to_end(object_key)
        while len(self._complete) > MAX_COMPLETE_KEYS:
            self._complete.popitem(last=False)
