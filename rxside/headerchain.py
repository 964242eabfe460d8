"""Headers-first: the chain of block headers the receiver has checked, before any body arrives.

The uplink repeats every header from genesis in ``HEADERS`` objects (``chaincast.fec.wire.headers``,
which already checks that the headers of one run link up). ``HeaderChain`` attaches runs to the
headers it holds, from the chain's genesis on, and keeps only headers that pass the header rules
of Bitcoin Core's ``ContextualCheckBlockHeader`` / ``CheckProofOfWork`` it can check without
bodies:

- each header names the hash of the one before it;
- proof of work: the header's hash is at most the target its ``nBits`` encodes, and that target is
  positive, not negative, not overflowing, and at most the chain's ``powLimit``;
- the difficulty: ``nBits`` is what ``GetNextWorkRequired`` gives, on chains that always retarget
  by the 2016-block rule (main, signet). testnet3/testnet4 (20-minute minimum-difficulty blocks)
  and regtest (no retargeting) get only the two checks above;
- the timestamp is above the median of the 11 headers before it.

Where two branches compete, the one with more work (sum of ``2^256 / (target + 1)``) wins, as in
Core. Runs that do not attach yet (one before them was missed) wait, a bounded number of them.

What the receiver gets from it: how far the chain goes (``height``: a progress figure for the user,
blocks missing = headers height - tip), and the height of each expected block, so the bounded
reorder buffer can keep the blocks nearest the tip and drop strays first. libbitcoinkernel still
validates every block body; a header here is never a reason to skip that.

What is kept, so that the cost grows by bytes, not Python objects, per header (about 930,000
headers on main): per height the block hash (one ``bytearray``; 28 bytes on main and the testnets,
whose targets leave the top 4 bytes zero, 32 on regtest), ``nTime`` and ``nBits`` (4 bytes each,
``array``); the chain work at every ``WORK_STRIDE`` heights (one Python int per 2016 headers: the
work between two heights is summed from ``nBits``); and ``HashIndex``, an open-addressing table of
heights (4 bytes a slot, 1.25-1.5 slots a height) that finds a block hash among the hashes
themselves instead of copying them into a dict. About 42 bytes a header on main, 37 MiB at 930,000
headers (46 bytes on regtest); as lists and a dict of Python objects they took about 350.

A chain kept before (``headers``, from the receiver's state file, ``chaincast.rxside.store``) is
not checked header by header again at every start (7 us a header in Python: about 6 s on main).
What is trusted, and why:

- runs the state file *seals*: the store keeps, per run of 2016 heights, an HMAC-SHA256 of the
  chain's name, the run's first height and its headers, made with a secret key in a file of its
  own beside the state file (``ReceiverStore.key_path``). Only this receiver, holding that key,
  makes seals, and it seals only headers this class checked. A state file passed around without
  its key file, edited, or written by anyone else has no valid seal and is checked in full; the
  key file is as trusted as the Bitcoin Core datadir beside it, whose chainstate the node does
  not check again either;
- even a sealed run joins only where it continues the chain: its first header must be this chain's
  genesis block or name the hash of the header before it (computed, one per run), so sealed runs
  of other chains, other branches or other heights do not combine into a chain nobody checked.
  A sealed run's hashes are taken from its headers' previous-hash fields (they were checked to
  link) plus the hash of its last header, so reloading hashes one header per 2016;
- every other run (no seal, a seal that does not verify, a run that does not continue the chain)
  is checked as if it had just been received; a run that fails refuses the whole kept chain
  (``HeaderRejected``: the receiver starts its header chain over). A run that passes is handed to
  the state file to seal (``mark_checked``), so the full check happens once per state file.
"""

from __future__ import annotations

import functools
import secrets
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from chaincast.fec.wire.bitcoin import (CHAINS, HEADER_BYTES, block_hash, block_proof, derive_target, get_compact,
                                        set_compact)
from chaincast.fec.wire.headers import HeadersRun

RETARGET_INTERVAL = 2016
TARGET_TIMESPAN_S = 14 * 24 * 3600
MEDIAN_TIME_SPAN = 11
MAX_PENDING_RUNS = 64
MAX_PENDING_BYTES = 16 << 20  # headers kept in runs that wait (the default run is 161 kB)
HASH_BYTES = 32
WORK_STRIDE = RETARGET_INTERVAL  # heights per chain-work mark: on retargeting chains nBits changes once per stride
KEPT_RUN_HEADERS = RETARGET_INTERVAL  # a kept chain handed over as a plain list is checked in runs of this many
_U32 = "I" if array("I").itemsize == 4 else "L"  # array typecode of a 4-byte unsigned int


@dataclass(frozen=True)
class ChainRules:
    genesis_hash: bytes  # internal byte order
    pow_limit: int
    retargets: bool  # nBits follows the 2016-block rule at every height (no minimum-difficulty blocks)


# From the shared chain parameters (Core's kernel/chainparams.cpp): the 2016-block rule holds at
# every height where neither minimum-difficulty blocks nor "no retargeting" apply.
CHAIN_RULES = {
    name: ChainRules(params.genesis_hash, params.pow_limit,
                     not (params.pow_allow_min_difficulty_blocks or params.pow_no_retargeting))
    for name, params in CHAINS.items()
}


class HeaderRejected(Exception):
    """A header that breaks a rule; the message says which, at which height."""


def header_time(header: bytes) -> int:
    return struct.unpack_from("<I", header, 68)[0]


def header_bits(header: bytes) -> int:
    return struct.unpack_from("<I", header, 72)[0]


def next_bits(last_bits: int, first_time: int, last_time: int, pow_limit: int) -> int:
    """Core's ``CalculateNextWorkRequired``: the retarget from the timespan of the last 2016 blocks."""
    timespan = min(max(last_time - first_time, TARGET_TIMESPAN_S // 4), TARGET_TIMESPAN_S * 4)
    target = set_compact(last_bits).value * timespan // TARGET_TIMESPAN_S
    return get_compact(min(target, pow_limit))


def check_proof_of_work(header: bytes, pow_limit: int) -> None:
    """Core's ``CheckProofOfWork`` on one header, as ``HeaderRejected`` saying which part failed."""
    target = derive_target(header_bits(header), pow_limit)
    if target is None:
        raise HeaderRejected(f"nBits {header_bits(header):#010x} is not a valid target for this chain")
    if int.from_bytes(block_hash(header), "little") > target:
        raise HeaderRejected("hash above its target (no proof of work)")


_cached_block_proof = functools.lru_cache(maxsize=4096)(block_proof)  # few distinct nBits on a real chain


def proof_sum(bits: np.ndarray) -> int:
    """Chain work of headers with these ``nBits`` (uint32, one dimension): ``GetBlockProof`` summed,
    once per distinct value."""
    if not bits.size:
        return 0
    if bits.min() == bits.max():  # a retarget period of a main-like chain
        return _cached_block_proof(int(bits[0])) * bits.size
    values, counts = np.unique(bits, return_counts=True)
    return sum(_cached_block_proof(int(value)) * int(count) for value, count in zip(values, counts))


def kept_hash_bytes(pow_limit: int) -> int:
    """Bytes of a block hash worth keeping on a chain whose targets are at most ``pow_limit``: the
    last ones (the number's top bytes, in internal order) of every hash that passes are zero. 28 on
    main and the testnets, 30 on signet, 32 on regtest; at least 8 (``HashIndex`` mixes those)."""
    return min(HASH_BYTES, max(8, HASH_BYTES - (256 - pow_limit.bit_length()) // 8))


def header_fields_dtype(hash_bytes: int) -> np.dtype:
    """What is read from an 80-byte header (a structured record): the first ``hash_bytes`` of the
    previous block's hash, nTime and nBits."""
    return np.dtype({"names": ["prev", "time", "bits"], "formats": [f"V{hash_bytes}", "<u4", "<u4"],
                     "offsets": [4, 68, 72], "itemsize": HEADER_BYTES})


@dataclass(frozen=True)
class HeadersOutcome:
    """What one run did: ``added`` headers joined the chain (after ``replaced_from``, where a
    branch with more work replaced ours; None: nothing replaced), ``waiting``: the run does not
    attach yet and was kept, ``rejected``: why it was refused ("" if it was not)."""

    added: int = 0
    replaced_from: int | None = None
    waiting: bool = False
    rejected: str = ""


class HashIndex:
    """Block hash -> height over a chain's hashes (``hashes``: their first ``width`` bytes, a height
    after the other, the rest being zero), without a copy of them.

    An open-addressing table (linear probing) of ``height + 1`` (uint32; 0: an empty slot), each at
    the slot a salted mix of its hash's first 8 bytes picks. The salt is secret and odd (the mix is
    a bijection of those 8 bytes), so headers mined to crowd one slot cannot be aimed at it. Heights
    cut off by a reorganisation keep their slots until the next rebuild: a slot counts only if the
    hash at its height is the one asked for."""

    MIN_SLOTS = 1024
    SLOTS_PER_HEIGHT = 1.5  # when (re)built; rebuilt when slots in use pass MAX_LOAD
    MAX_LOAD = 0.8  # linear probing: about 3 slots looked at per hit, 13 per miss
    PLACE_BLOCK = 1 << 16  # heights placed per vectorised step: bounds the temporary arrays (~4 MB)

    def __init__(self, width: int = HASH_BYTES):
        self.width = width
        self._zero_end = bytes(HASH_BYTES - width)
        self._first_word = np.dtype({"names": ["word"], "formats": ["<u8"], "offsets": [0], "itemsize": width})
        self._salt = secrets.randbits(64) | 1
        self._new_table(self.MIN_SLOTS)
        self.indexed = 0  # heights below this are in the table

    def _new_table(self, slots: int) -> None:
        self._table = np.zeros(slots, np.uint32)
        self._slots = memoryview(self._table)  # indexing a memoryview is a plain int, several times faster than numpy's
        self._used = 0

    @property
    def nbytes(self) -> int:
        return self._table.nbytes

    def cut(self, count: int) -> None:
        """The chain now has ``count`` heights (those above stay in the table, stale)."""
        self.indexed = min(self.indexed, count)

    def sync(self, hashes: bytearray, count: int) -> None:
        """Index heights ``indexed`` .. ``count - 1`` of ``hashes``."""
        if count <= self.indexed:
            return
        if self._used + count - self.indexed > self.MAX_LOAD * len(self._table):
            self._new_table(max(self.MIN_SLOTS, int(count * self.SLOTS_PER_HEIGHT)))
            self.indexed = 0
        self._place(hashes, self.indexed, count)
        self.indexed = count

    def find(self, hashes: bytearray, count: int, wanted: bytes) -> int | None:
        """Height of ``wanted`` among the first ``count`` hashes (all indexed), or None."""
        width = self.width
        if len(wanted) != HASH_BYTES or wanted[width:] != self._zero_end:
            return None
        kept = wanted[:width]
        slots, size = self._slots, len(self._table)
        slot = (int.from_bytes(wanted[:8], "little") * self._salt & 0xFFFF_FFFF_FFFF_FFFF) % size
        while value := slots[slot]:
            height = value - 1
            if height < count and hashes[height * width:(height + 1) * width] == kept:
                return height
            slot = slot + 1 if slot + 1 < size else 0
        return None

    def _homes(self, hashes: bytearray, first: int, stop: int) -> np.ndarray:
        """Home slots (int64) of heights ``first`` .. ``stop - 1``: the mix of ``find``, vectorised."""
        words = np.frombuffer(hashes, self._first_word, stop - first, first * self.width)["word"].astype(np.uint64)
        return ((words * np.uint64(self._salt)) % np.uint64(len(self._table))).astype(np.int64)

    def _place(self, hashes: bytearray, first: int, stop: int) -> None:
        """Put heights ``first`` .. ``stop - 1`` into free slots: each round, the heights whose slot
        is free are written there (one of those asking for the same slot stays: which one does not
        matter), and the others move one slot on."""
        table, size = self._table, len(self._table)
        for lo in range(first, stop, self.PLACE_BLOCK):
            hi = min(stop, lo + self.PLACE_BLOCK)
            slots = self._homes(hashes, lo, hi)
            values = np.arange(lo + 1, hi + 1, dtype=np.uint32)
            while slots.size:
                free = table[slots] == 0
                table[slots[free]] = values[free]
                waiting = table[slots] != values  # heights are unique: a slot shows the one that stayed
                slots, values = slots[waiting] + 1, values[waiting]
                slots[slots == size] = 0
            self._used += hi - lo


def _list_runs(headers: Iterable[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """A kept chain given as 80-byte headers, as ``(first height, headers, sealed)`` runs (never sealed)."""
    items, first = iter(headers), 0
    while batch := list(islice(items, KEPT_RUN_HEADERS)):
        yield first, b"".join(batch), False
        first += len(batch)


class HeaderChain:
    """``HeaderChain(chain)``: headers from genesis (height 0) to ``height``, each checked.
    ``chain``: a name of ``CHAIN_RULES`` or rules of one's own (tests); ``headers``: a chain kept
    before: 80-byte headers, checked again, or the state file's ``StoredHeaders``, whose sealed
    runs are not (see the module docstring). A kept chain that fails is ``HeaderRejected``.

    ``on_change(from_height, headers)``: called after every change with the first changed height
    and the headers from there on (the receiver writes them to its store)."""

    def __init__(self, chain: str | ChainRules, headers: Iterable[bytes] = (),
                 on_change: Callable[[int, list[bytes]], None] | None = None):
        self.rules = CHAIN_RULES[chain] if isinstance(chain, str) else chain
        self._hash_bytes = kept_hash_bytes(self.rules.pow_limit)
        self._fields = header_fields_dtype(self._hash_bytes)
        self._hashes = bytearray()  # the first _hash_bytes of each height's block hash, internal byte order
        self._times = array(_U32)  # nTime a height, s
        self._bits = array(_U32)  # nBits a height
        self._work_marks = [0]  # [k]: chain work of heights 0 .. k * WORK_STRIDE - 1
        self._index = HashIndex(self._hash_bytes)
        self._pending: list[HeadersRun] = []
        self.on_change = None
        self._reload(headers)
        self.on_change = on_change

    @property
    def height(self) -> int:
        """Height of the last header (-1: none yet, not even genesis)."""
        return len(self._times) - 1

    @property
    def nbytes(self) -> int:
        """Memory the kept chain takes, in bytes as allocated (hashes, times, bits, work marks, hash index)."""
        marks = sys.getsizeof(self._work_marks) + sum(sys.getsizeof(w) for w in self._work_marks)
        return (sys.getsizeof(self._hashes) + sys.getsizeof(self._times) + sys.getsizeof(self._bits) + marks
                + self._index.nbytes)

    def height_of(self, block_hash: bytes) -> int | None:
        self._index.sync(self._hashes, self.height + 1)
        return self._index.find(self._hashes, self.height + 1, block_hash)

    def hash_at(self, height: int) -> bytes:
        """The block hash at ``height`` (negative: from the tip, as a list's index)."""
        count = self.height + 1
        at = height + count if height < 0 else height
        if not 0 <= at < count:
            raise IndexError(f"no header at height {height} (the chain has {count})")
        width = self._hash_bytes
        return bytes(self._hashes[at * width:(at + 1) * width]).ljust(HASH_BYTES, b"\0")

    def is_waiting(self, run: HeadersRun) -> bool:
        """Whether ``run`` is kept until the runs before it arrive."""
        return run in self._pending

    def add_run(self, run: HeadersRun) -> HeadersOutcome:
        outcome = self._attach(run)
        if outcome.added:  # a longer chain may let waiting runs attach
            while True:
                for waiting in self._pending:
                    if waiting.first_height <= self.height + 1:
                        self._pending.remove(waiting)
                        self._attach(waiting)
                        break
                else:
                    break
        return outcome

    def _reload(self, headers: Iterable[bytes]) -> None:
        """Take over a kept chain, run by run: a sealed run that continues the chain joins as it is,
        any other run is checked (and, if it passes, handed back to be sealed)."""
        kept_runs = getattr(headers, "kept_runs", None)
        mark_checked = getattr(headers, "mark_checked", None)
        for first, raw, sealed in kept_runs() if kept_runs is not None else _list_runs(headers):
            if sealed and self._adopt(first, raw):
                continue
            outcome = self._attach(HeadersRun(first, raw))
            if outcome.rejected or outcome.added != len(raw) // HEADER_BYTES:
                raise HeaderRejected(f"kept headers: {outcome.rejected or f'a gap before height {first}'}")
            if mark_checked is not None:
                mark_checked(first, raw)

    def _adopt(self, first: int, raw: bytes) -> bool:
        """Join a sealed run without checking its headers again, if it continues the chain (see
        the module docstring); False: it does not, check it instead."""
        if first != self.height + 1 or not raw or len(raw) % HEADER_BYTES:
            return False
        if first == 0:
            if block_hash(raw[:HEADER_BYTES]) != self.rules.genesis_hash:
                return False
        elif raw[4:36] != self.hash_at(first - 1):
            return False
        # each header names the hash of the one before it: those names are the run's hashes
        names = np.frombuffer(raw, self._fields)["prev"][1:].tobytes()
        self._append(names + block_hash(raw[-HEADER_BYTES:])[:self._hash_bytes], raw)
        return True

    def _wait(self, run: HeadersRun) -> HeadersOutcome:
        """Keep a run that does not attach yet. The runs kept are bounded in number and bytes;
        when full, the run that starts highest goes (a genuine run waits for one just before it;
        forged runs claim heights anywhere), which may be this one."""
        if run in self._pending:
            return HeadersOutcome(waiting=True)
        self._pending.append(run)
        while len(self._pending) > MAX_PENDING_RUNS or sum(len(r.headers) for r in self._pending) > MAX_PENDING_BYTES:
            self._pending.remove(max(self._pending, key=lambda r: r.first_height))
        if run in self._pending:
            return HeadersOutcome(waiting=True)
        return HeadersOutcome(rejected=f"a run from height {run.first_height}: too far ahead to keep while it waits")

    def _attach(self, run: HeadersRun) -> HeadersOutcome:
        first = run.first_height
        if first > self.height + 1:
            return self._wait(run)
        headers = [run.header(h) for h in range(first, run.last_height + 1)]
        # skip what we already hold; the first differing header is where a branch starts
        skip = 0
        while skip < len(headers) and first + skip <= self.height and block_hash(headers[skip]) == self.hash_at(first + skip):
            skip += 1
        start, new = first + skip, headers[skip:]
        if not new:
            return HeadersOutcome()
        if start == 0:
            if block_hash(new[0]) != self.rules.genesis_hash:
                return HeadersOutcome(rejected="not this chain's genesis block")
        elif new[0][4:36] != self.hash_at(start - 1):
            return HeadersOutcome(rejected=f"header {start} does not follow the header chain")
        try:
            checked, work = self._check(start, new)
        except HeaderRejected as why:
            return HeadersOutcome(rejected=str(why))
        replaced = start if start <= self.height else None
        if replaced is not None and work <= self._work_below(self.height + 1) - self._work_below(start):
            return HeadersOutcome(rejected=f"a branch from height {start} with less work than ours")
        self._truncate(start)
        self._append(b"".join(h[:self._hash_bytes] for h in checked), b"".join(new))
        if self.on_change is not None:
            self.on_change(start, new)
        return HeadersOutcome(added=len(new), replaced_from=replaced)

    def _check(self, start: int, new: list[bytes]) -> tuple[list[bytes], int]:
        """Hashes of ``new`` (headers from height ``start``) and their work, or ``HeaderRejected``."""
        times = self._times[max(0, start - RETARGET_INTERVAL):start].tolist()
        base = start - len(times)  # height of times[0]
        bits = self._bits[start - 1] if start else None
        hashes, work = [], 0
        for i, header in enumerate(new):
            height = start + i
            try:
                if i and header[4:36] != hashes[-1]:  # runs made without HeadersRun.unpack were never linked
                    raise HeaderRejected("does not follow the header before it")
                check_proof_of_work(header, self.rules.pow_limit)
                if height and self.rules.retargets:
                    expected = bits
                    if height % RETARGET_INTERVAL == 0:
                        expected = next_bits(bits, times[height - RETARGET_INTERVAL - base], times[height - 1 - base],
                                             self.rules.pow_limit)
                    if header_bits(header) != expected:
                        raise HeaderRejected(f"nBits {header_bits(header):#010x}, the difficulty rule says {expected:#010x}")
                recent = sorted(times[max(0, height - MEDIAN_TIME_SPAN - base):height - base])
                if recent and header_time(header) <= recent[len(recent) // 2]:
                    raise HeaderRejected("time not above the median of the 11 headers before it")
            except HeaderRejected as why:
                raise HeaderRejected(f"header {height}: {why}") from None
            times.append(header_time(header))
            bits = header_bits(header)
            hashes.append(block_hash(header))
            work += _cached_block_proof(bits)
        return hashes, work

    # ------------------------------------------------------------------ the kept arrays
    def _append(self, hashes: bytes, raw: bytes) -> None:
        """Add checked headers (``raw``, 80 bytes each) at the tip, with the kept bytes of their hashes."""
        fields = np.frombuffer(raw, self._fields)
        self._hashes += hashes
        self._times.frombytes(fields["time"].astype(np.uint32).tobytes())
        self._bits.frombytes(fields["bits"].astype(np.uint32).tobytes())
        count = self.height + 1
        while len(self._work_marks) * WORK_STRIDE <= count:
            k = len(self._work_marks)
            self._work_marks.append(self._work_marks[-1] + self._proof_between((k - 1) * WORK_STRIDE, k * WORK_STRIDE))

    def _truncate(self, height: int) -> None:
        """Drop heights ``height`` and above."""
        del self._hashes[height * self._hash_bytes:], self._times[height:], self._bits[height:]
        del self._work_marks[height // WORK_STRIDE + 1:]
        self._index.cut(height)

    def _proof_between(self, first: int, stop: int) -> int:
        """Chain work of heights ``first`` .. ``stop - 1``."""
        if stop <= first:
            return 0
        return proof_sum(np.frombuffer(self._bits, np.uint32, stop - first, first * 4))

    def _work_below(self, height: int) -> int:
        """Chain work of heights 0 .. ``height - 1``: the mark below, then the headers after it."""
        k = height // WORK_STRIDE
        return self._work_marks[k] + self._proof_between(k * WORK_STRIDE, height)
