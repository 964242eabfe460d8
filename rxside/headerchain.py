"""Headers-first: the chain of block headers the receiver has checked, before any body arrives.

The uplink repeats every header from genesis in ``HEADERS`` objects (``chaincast.fec.wire.headers``,
which already checks that the headers of one run link up). ``HeaderChain`` attaches runs to the
headers it holds, from the chain's genesis on, and keeps only headers that pass the header rules
of Bitcoin Core's ``ContextualCheckBlockHeader`` / ``CheckProofOfWork`` it can check without
bodies:

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
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from chaincast.fec.wire.bitcoin import CHAINS, block_hash, block_proof, derive_target, get_compact, set_compact
from chaincast.fec.wire.headers import HeadersRun

RETARGET_INTERVAL = 2016
TARGET_TIMESPAN_S = 14 * 24 * 3600
MEDIAN_TIME_SPAN = 11
MAX_PENDING_RUNS = 64
MAX_PENDING_BYTES = 16 << 20  # headers kept in runs that wait (the default run is 161 kB)


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


@dataclass(frozen=True)
class HeadersOutcome:
    """What one run did: ``added`` headers joined the chain (after ``replaced_from``, where a
    branch with more work replaced ours; None: nothing replaced), ``waiting``: the run does not
    attach yet and was kept, ``rejected``: why it was refused ("" if it was not)."""

    added: int = 0
    replaced_from: int | None = None
    waiting: bool = False
    rejected: str = ""


class HeaderChain:
    """``HeaderChain(chain)``: headers from genesis (height 0) to ``height``, each checked.
    ``chain``: a name of ``CHAIN_RULES`` or rules of one's own (tests); ``headers``: a chain kept
    before (from the store), checked again, so a tampered state file is refused.

    ``on_change(from_height, headers)``: called after every change with the first changed height
    and the headers from there on (the receiver writes them to its store)."""

    def __init__(self, chain: str | ChainRules, headers: list[bytes] = (),
                 on_change: Callable[[int, list[bytes]], None] | None = None):
        self.rules = CHAIN_RULES[chain] if isinstance(chain, str) else chain
        self._headers: list[bytes] = []
        self._hashes: list[bytes] = []
        self._heights: dict[bytes, int] = {}
        self._work: list[int] = []  # cumulative work up to and including each height
        self._pending: list[HeadersRun] = []
        self.on_change = None
        if headers:
            outcome = self.add_run(HeadersRun(0, b"".join(headers)))
            if outcome.rejected:
                raise HeaderRejected(f"kept headers: {outcome.rejected}")
        self.on_change = on_change

    @property
    def height(self) -> int:
        """Height of the last header (-1: none yet, not even genesis)."""
        return len(self._headers) - 1

    def height_of(self, block_hash: bytes) -> int | None:
        return self._heights.get(block_hash)

    def hash_at(self, height: int) -> bytes:
        return self._hashes[height]

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
        headers = [run.header(h) for h in range(first, run.last_height + 1)]
        if first > self.height + 1:
            return self._wait(run)
        # skip what we already hold; the first differing header is where a branch starts
        skip = 0
        while skip < len(headers) and first + skip <= self.height and block_hash(headers[skip]) == self._hashes[first + skip]:
            skip += 1
        start, new = first + skip, headers[skip:]
        if not new:
            return HeadersOutcome()
        if start == 0:
            if block_hash(new[0]) != self.rules.genesis_hash:
                return HeadersOutcome(rejected="not this chain's genesis block")
        elif new[0][4:36] != self._hashes[start - 1]:
            return HeadersOutcome(rejected=f"header {start} does not follow the header chain")
        try:
            checked, work = self._check(start, new)
        except HeaderRejected as why:
            return HeadersOutcome(rejected=str(why))
        replaced = start if start <= self.height else None
        if replaced is not None and work <= self._work[-1] - self._work[start - 1]:
            return HeadersOutcome(rejected=f"a branch from height {start} with less work than ours")
        self._truncate(start)
        for header, h in zip(new, checked):
            self._heights[h] = len(self._headers)
            self._work.append((self._work[-1] if self._work else 0) + block_proof(header_bits(header)))
            self._headers.append(header)
            self._hashes.append(h)
        if self.on_change is not None:
            self.on_change(start, new)
        return HeadersOutcome(added=len(new), replaced_from=replaced)

    def _check(self, start: int, new: list[bytes]) -> tuple[list[bytes], int]:
        """Hashes of ``new`` (headers from height ``start``) and their work, or ``HeaderRejected``."""
        times = [header_time(h) for h in self._headers[max(0, start - RETARGET_INTERVAL):start]]
        base = start - len(times)  # height of times[0]
        bits = header_bits(self._headers[start - 1]) if start else None
        hashes, work = [], 0
        for i, header in enumerate(new):
            height = start + i
            try:
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
            work += block_proof(bits)
        return hashes, work

    def _truncate(self, height: int) -> None:
        for h in self._hashes[height:]:
            self._heights.pop(h, None)
        del self._headers[height:], self._hashes[height:], self._work[height:]
