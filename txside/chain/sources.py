"""Read raw serialized blocks from the formats the uplink accepts, auto-detected.

* Bitcoin Core ``blk*.dat`` file, or a ``blocks/`` directory of them (``blk00000.dat``,
  ``blk00001.dat``... in numeric order). Each record is 4-byte network magic, LE u32 length,
  then the block. Preallocated files end in zero padding, which is skipped.
  Core 28+ XOR-obfuscates blk files with the 8-byte key in ``blocks/xor.dat``: byte i of a file
  is XORed with key[i % 8] (i counted from the start of the file); an all-zero key means none.
* A text file with one hex-encoded block per line (blank lines ignored).
* A directory of raw block files, one serialized block per file, in natural name order
  (and, as a convenience, a single raw block file).

Every block is checked to parse exactly (header, tx count, transactions with optional BIP 144
segwit marker); malformed input raises ChainDataError naming the file and offset or line.

Sources are streamed: a block is read only after its size is known to be at most
MAX_BLOCK_SERIALIZED_SIZE (4,000,000 bytes, BIP 141): a blk record's declared length, a raw
file's size from ``stat``, a hex line's length as it is read in chunks. Nothing is held but the
block being yielded (and at most one chunk of the file), so a huge or endless file fails on
its first oversized record, not after filling memory. Only regular files are read (a FIFO or a
device such as /dev/zero could block or never end).
"""

from __future__ import annotations

import enum
import os
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaincast.fec.wire.bitcoin import block_hash
from chaincast.txside.chain.block import HEADER_SIZE, MAX_BLOCK_SERIALIZED_SIZE, Block
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.networks import (
    NETWORK_BY_GENESIS,
    NETWORK_BY_MAGIC,
    network_of_magic,
    normalize_network,
)

__all__ = [
    "BlockSource",
    "SourceFormat",
    "detect_network",
    "network_of_magic",
    "open_source",
    "read_blk_file",
    "read_blocks",
    "read_xor_key",
]

BLK_NAME = re.compile(r"blk(\d{5})\.dat")
XOR_KEY_FILE = "xor.dat"
XOR_KEY_SIZE = 8
_NONZERO = re.compile(rb"[^\x00]")
# Printable ASCII and whitespace: a text file, read as hex lines (raw blocks contain 0x00 bytes).
_TEXT = re.compile(rb"[\x20-\x7e\t\r\n]*")
_RECORD_HEAD = struct.Struct("<4sI")
_CHUNK_BYTES = 1 << 20  # what the zero-padding scan and the hex reader read at a time
_ZERO_CHUNK = bytes(_CHUNK_BYTES)
MAX_HEX_DIGITS = 2 * MAX_BLOCK_SERIALIZED_SIZE
# A hex line may carry a little trailing whitespace (CR, spaces) beyond its digits.
_MAX_HEX_LINE_BYTES = MAX_HEX_DIGITS + 64
_NOT_SPACE = re.compile(rb"[^ \t\r\n\v\f]")
KINDS = "a blk*.dat file, a Bitcoin Core blocks/ directory, a hex-per-line file or raw block files"


class SourceFormat(enum.Enum):
    BLK_FILE = "blk file"
    BLOCKS_DIR = "blocks directory"
    HEX_FILE = "hex file"
    RAW_DIR = "raw block directory"
    RAW_FILE = "raw block file"


@dataclass(frozen=True)
class BlockSource:
    """What `open_source` found at a path: the format, the files in read order and the XOR key."""

    path: Path
    format: SourceFormat
    files: tuple[Path, ...]
    xor_key: bytes | None = None  # None when absent or all zeros

    def blocks(self, *, network: str | None = None, verify: bool = True) -> Iterator[bytes]:
        """The blocks, one at a time, each read only after its size was checked."""
        if self.format in (SourceFormat.BLK_FILE, SourceFormat.BLOCKS_DIR):
            want = normalize_network(network) if network else None
            for f in self.files:
                yield from read_blk_file(f, xor_key=self.xor_key, network=want, verify=verify)
        elif self.format is SourceFormat.HEX_FILE:
            yield from _read_hex_file(self.files[0], verify)
        else:
            for f in self.files:
                yield _read_raw_file(f)


def read_blocks(path: str | os.PathLike, *, network: str | None = None, verify: bool = True) -> Iterator[bytes]:
    """Yield raw serialized blocks from `path` in file order (format auto-detected).

    `network` (e.g. "main", "regtest") makes blk sources whose magic differs raise
    ChainDataError; it is not checked for hex/raw formats, which carry no magic (use
    `detect_network`). `verify=False` skips the per-block parse (framing is still checked).
    """
    return open_source(path).blocks(network=network, verify=verify)


def open_source(path: str | os.PathLike) -> BlockSource:
    """Detect the format at `path` without reading any block. Raw block files are checked by
    size here (empty, or larger than a block can be), so a wrong source fails before any read."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise ChainDataError(f"{p}: no such file or directory") from None
    except OSError as error:
        raise ChainDataError(f"{p}: {error.strerror or error}") from None
    try:
        if stat.S_ISDIR(mode):
            source = _open_dir(p)
        elif stat.S_ISREG(mode):
            source = _open_file(p)
        else:
            raise ChainDataError(f"{p}: not a regular file or directory (expected {KINDS})")
    except PermissionError as error:
        raise ChainDataError(f"{error.filename or p}: {error.strerror}") from None
    if source.format in (SourceFormat.RAW_DIR, SourceFormat.RAW_FILE):
        for f in source.files:
            _check_raw_size(f, f.stat().st_size)
    return source


def detect_network(path: str | os.PathLike) -> str | None:
    """Network of a block source, so a CLI can refuse a wrong --chain.

    blk sources: from the first record's magic. Other formats: from the first block if it is
    a genesis block or builds on one; otherwise None (unknown).
    """
    source = open_source(path)
    if source.format in (SourceFormat.BLK_FILE, SourceFormat.BLOCKS_DIR):
        for f in source.files:
            head = _read_prefix(f, 4, source.xor_key)
            if len(head) == 4 and any(head):
                return network_of_magic(head)
        return None
    for raw in source.blocks(verify=False):
        header = raw[:HEADER_SIZE]
        return NETWORK_BY_GENESIS.get(block_hash(header)) or NETWORK_BY_GENESIS.get(header[4:36])
    return None


# --- detection ---------------------------------------------------------------------------


def _natural_key(name: str) -> list:
    return [(0, int(tok), "") if tok.isdigit() else (1, 0, tok) for tok in re.split(r"(\d+)", name) if tok]


def read_xor_key(directory: Path) -> bytes | None:
    """The blk obfuscation key from `directory/xor.dat` (Core 28+), or None if absent or all zero."""
    f = directory / XOR_KEY_FILE
    if not f.is_file():
        return None
    size = f.stat().st_size
    if size != XOR_KEY_SIZE:
        raise ChainDataError(f"{f}: XOR key must be {XOR_KEY_SIZE} bytes, got {size}")
    with f.open("rb") as fh:
        key = fh.read(XOR_KEY_SIZE)
    return key if any(key) else None


def _blk_files(directory: Path) -> list[Path]:
    found = [(int(m.group(1)), e) for e in directory.iterdir() if (m := BLK_NAME.fullmatch(e.name)) and e.is_file()]
    return [e for _, e in sorted(found)]


def _open_dir(p: Path) -> BlockSource:
    blk = _blk_files(p)
    if not blk and (p / "blocks").is_dir():  # a Core datadir: use its blocks/ subdirectory
        sub = _blk_files(p / "blocks")
        if sub:
            p, blk = p / "blocks", sub
    if blk:
        return BlockSource(p, SourceFormat.BLOCKS_DIR, tuple(blk), read_xor_key(p))
    files = sorted(
        (e for e in p.iterdir() if e.is_file() and not e.name.startswith(".")), key=lambda e: _natural_key(e.name)
    )
    if not files:
        raise ChainDataError(f"{p}: directory holds no block files (expected {KINDS})")
    return BlockSource(p, SourceFormat.RAW_DIR, tuple(files))


def _open_file(p: Path) -> BlockSource:
    size = p.stat().st_size
    if size == 0:
        raise ChainDataError(f"{p}: empty file")
    key = read_xor_key(p.parent)
    head = _read_prefix(p, 4, None)
    # Honour a sibling xor.dat only if it turns the first bytes into a magic.
    if key and _xor(head, key, 0) in NETWORK_BY_MAGIC:
        return BlockSource(p, SourceFormat.BLK_FILE, (p,), key)
    if head in NETWORK_BY_MAGIC:
        return BlockSource(p, SourceFormat.BLK_FILE, (p,))
    with p.open("rb") as fh:
        sample = fh.read(4096)
    if _TEXT.fullmatch(sample) and sample.strip():
        return BlockSource(p, SourceFormat.HEX_FILE, (p,))
    return BlockSource(p, SourceFormat.RAW_FILE, (p,))


def _read_prefix(p: Path, n: int, key: bytes | None) -> bytes:
    with p.open("rb") as fh:
        data = fh.read(n)
    return _xor(data, key, 0) if key else data


# --- blk files ---------------------------------------------------------------------------


def _xor(data: bytes, key: bytes | None, offset: int) -> bytes:
    """Undo Core's blk obfuscation for `data` found at file `offset` (key byte = offset % 8)."""
    if not key or not data:
        return bytes(data)
    shift = offset % XOR_KEY_SIZE
    stream = (key[shift:] + key[:shift]) * (len(data) // XOR_KEY_SIZE + 1)
    n = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")).to_bytes(n, "little")


def _check_block(raw: bytes, where: str) -> None:
    try:
        Block.deserialize(raw)
    except ChainDataError as e:
        raise ChainDataError(f"{where}: not a valid block: {e}") from None


def read_blk_file(
    path: str | os.PathLike,
    *,
    xor_key: bytes | None = None,
    network: str | None = None,
    verify: bool = True,
) -> Iterator[bytes]:
    """Yield the blocks of one blk*.dat file. All records must carry the same known magic
    (and `network`'s, if given); zero padding (unobfuscated zeros, as preallocated) is skipped.
    Each record's declared length is checked against the bounds of a block and what is left of
    the file before the block is read."""
    p = Path(path)
    with p.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        expected = None
        pos = 0
        while pos < size:
            fh.seek(pos)
            if not any(fh.read(4)):
                # Preallocated space is written as plain zeros even when the data is obfuscated.
                nonzero = _next_nonzero(fh, pos)
                if nonzero is None:
                    return
                pos = _resync(fh, pos, nonzero, xor_key, expected, p)
            if size - pos < 8:
                raise ChainDataError(f"{p}: truncated record header at offset {pos} ({size - pos} bytes left)")
            fh.seek(pos)
            magic, length = _RECORD_HEAD.unpack(_xor(fh.read(8), xor_key, pos))
            net = NETWORK_BY_MAGIC.get(magic)
            if net is None:
                raise ChainDataError(f"{p}: unknown network magic {magic.hex()} at offset {pos}")
            if expected is None:
                expected = magic
                if network is not None and net != network:
                    raise ChainDataError(f"{p}: blocks are for {net}, expected {network} (offset {pos})")
            elif magic != expected:
                raise ChainDataError(
                    f"{p}: magic changes from {NETWORK_BY_MAGIC[expected]} to {net} at offset {pos}"
                )
            if not HEADER_SIZE <= length <= MAX_BLOCK_SERIALIZED_SIZE:
                raise ChainDataError(f"{p}: implausible block length {length} at offset {pos}")
            start = pos + 8
            if size - start < length:
                raise ChainDataError(
                    f"{p}: truncated record at offset {pos}: block of {length} bytes, {size - start} left"
                )
            data = fh.read(length)
            if len(data) < length:  # the file shrank while it was read
                raise ChainDataError(
                    f"{p}: truncated record at offset {pos}: block of {length} bytes, {len(data)} left"
                )
            raw = _xor(data, xor_key, start)
            if verify:
                _check_block(raw, f"{p}: record at offset {pos}")
            yield raw
            pos = start + length


def _next_nonzero(fh, pos: int) -> int | None:
    """Offset of the first non-zero byte at or after `pos`, read a chunk at a time; None at EOF."""
    fh.seek(pos)
    while chunk := fh.read(_CHUNK_BYTES):
        if chunk != _ZERO_CHUNK:  # a memcmp: preallocated files are mostly whole chunks of zeros
            found = _NONZERO.search(chunk)
            if found is not None:
                return pos + found.start()
        pos += len(chunk)
    return None


def _resync(fh, gap_start: int, nonzero: int, key: bytes | None, magic: bytes | None, p: Path) -> int:
    """After a run of zeros, find where the next record starts. Obfuscated record bytes can
    themselves be zero (key byte == data byte), up to the whole 8-byte record head when the
    key starts with the magic, so look up to 8 bytes back for the deobfuscated magic."""
    first = max(gap_start, nonzero - 8)
    fh.seek(first)
    window = fh.read(nonzero + 4 - first)
    for cand in range(first, nonzero + 1):
        got = _xor(window[cand - first : cand - first + 4], key, cand)
        if (magic is not None and got == magic) or (magic is None and got in NETWORK_BY_MAGIC):
            return cand
    raise ChainDataError(f"{p}: unexpected data after zero padding at offset {nonzero}")


# --- hex and raw files -------------------------------------------------------------------


def _hex_lines(p: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, content without surrounding whitespace) of each non-blank line of `p`,
    read a chunk at a time. A line is never held beyond MAX_HEX_DIGITS (plus a little trailing
    whitespace): a longer one raises ChainDataError as soon as that much of it was read."""
    lineno = 1
    line = bytearray()
    in_line = False  # `line` holds a line's first non-blank byte onwards
    with p.open("rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            pos, n = 0, len(chunk)
            while pos < n:
                if not in_line:
                    found = _NOT_SPACE.search(chunk, pos)
                    if found is None:  # the rest of the chunk is blank
                        lineno += chunk.count(b"\n", pos)
                        break
                    lineno += chunk.count(b"\n", pos, found.start())
                    pos, in_line = found.start(), True
                newline = chunk.find(b"\n", pos)
                end = n if newline < 0 else newline
                if len(line) + end - pos > _MAX_HEX_LINE_BYTES:
                    raise _long_line(p, lineno)
                line += chunk[pos:end]
                if newline < 0:
                    break
                yield lineno, _end_line(p, lineno, line)
                line.clear()
                in_line = False
                lineno += 1
                pos = newline + 1
        if in_line:
            yield lineno, _end_line(p, lineno, line)


def _end_line(p: Path, lineno: int, line: bytearray) -> bytes:
    text = bytes(line).rstrip()
    if len(text) > MAX_HEX_DIGITS:
        raise _long_line(p, lineno)
    return text


def _long_line(p: Path, lineno: int) -> ChainDataError:
    return ChainDataError(
        f"{p}: line {lineno} is longer than {MAX_HEX_DIGITS} hex digits "
        f"(a block is at most {MAX_BLOCK_SERIALIZED_SIZE} bytes)"
    )


def _read_hex_file(p: Path, verify: bool) -> Iterator[bytes]:
    for lineno, text in _hex_lines(p):
        try:
            raw = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise ChainDataError(f"{p}: line {lineno} is not hex") from None
        if verify:
            _check_block(raw, f"{p}: line {lineno}")
        yield raw


def _check_raw_size(p: Path, size: int) -> None:
    if size == 0:
        raise ChainDataError(f"{p}: empty file")
    if size > MAX_BLOCK_SERIALIZED_SIZE:
        raise ChainDataError(
            f"{p}: {size} bytes, too big for a raw block (at most {MAX_BLOCK_SERIALIZED_SIZE} bytes), "
            "and no blk file or hex text either"
        )


def _read_raw_file(p: Path) -> bytes:
    with p.open("rb") as fh:
        _check_raw_size(p, os.fstat(fh.fileno()).st_size)
        raw = fh.read(MAX_BLOCK_SERIALIZED_SIZE + 1)  # bounded even if the file grew since
    _check_raw_size(p, len(raw))
    # A raw block has no framing to fall back on, so it is always parsed.
    _check_block(raw, f"{p}")
    return raw
