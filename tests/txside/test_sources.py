"""Block sources: Core blk files (plain and XOR-obfuscated), blocks/ dirs, hex files, raw dirs."""

import os
import struct
from pathlib import Path

import pytest

from chaincast.txside.chain.block import BlockHeader
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.networks import MAGIC_BY_NETWORK
from chaincast.txside.chain.regtest import write_hex_chain
from chaincast.txside.chain.sources import (
    SourceFormat,
    detect_network,
    network_of_magic,
    open_source,
    read_blocks,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "blocks"
MAIN_BLK = DATA / "bitcoinj" / "first-100k-blocks.dat"
TESTNET_BLK = DATA / "blocks_iterator" / "blk-testnet.dat"
REGTEST_HEX = DATA / "pbk" / "regtest_blocks.txt"
MAIN_TIP = "0000000025c6b644f8add734be7e666fa4afa43ca0204d623a0c0b1fd2104c7a"
REGTEST_TIP = "3de082158b117acd088306c395d09771bb7cbf0b7355796c1b1e0bd748ef9bed"
MAIN_MAGIC = MAGIC_BY_NETWORK["main"]


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared block data not found: {path}")
    return path


def _hash_hex(raw: bytes) -> str:
    return BlockHeader.deserialize(raw[:80]).hash_hex


def _blk_bytes(blocks, magic=MAIN_MAGIC) -> bytes:
    return b"".join(magic + struct.pack("<I", len(b)) + b for b in blocks)


def _xor(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 8] for i, b in enumerate(data))


@pytest.fixture(scope="module")
def main_blocks():
    return list(read_blocks(_need(MAIN_BLK)))


def test_blk_file_blocks_and_tip(main_blocks):
    assert len(main_blocks) == 439
    assert _hash_hex(main_blocks[0]) == "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert _hash_hex(main_blocks[-1]) == MAIN_TIP
    assert open_source(MAIN_BLK).format is SourceFormat.BLK_FILE
    assert detect_network(MAIN_BLK) == "main"


def test_obfuscated_blocks_dir_matches_plain(main_blocks, tmp_path):
    # Two files plus a preallocated zero tail, written the way Core 28+ does: data XORed with
    # key[i % 8] (i = file offset), preallocated zeros left as plain zeros.
    key = os.urandom(8)
    while not all(key):  # keep the test meaningful: every key byte changes data
        key = os.urandom(8)
    blocks_dir = tmp_path / "blocks"
    blocks_dir.mkdir()
    (blocks_dir / "xor.dat").write_bytes(key)
    first, second = _blk_bytes(main_blocks[:200]), _blk_bytes(main_blocks[200:])
    (blocks_dir / "blk00000.dat").write_bytes(_xor(first, key) + bytes(4096))
    (blocks_dir / "blk00001.dat").write_bytes(_xor(second, key) + bytes(1000))
    (blocks_dir / "rev00000.dat").write_bytes(b"undo data is not a block")
    assert open_source(blocks_dir).xor_key == key
    assert list(read_blocks(blocks_dir)) == main_blocks
    assert list(read_blocks(tmp_path)) == main_blocks  # a datadir containing blocks/
    # A single blk file next to xor.dat is also de-obfuscated.
    assert list(read_blocks(blocks_dir / "blk00001.dat")) == main_blocks[200:]
    assert detect_network(blocks_dir) == "main"
    # Without the key the obfuscated data is rejected, not silently misread.
    (blocks_dir / "xor.dat").unlink()
    with pytest.raises(ChainDataError):
        list(read_blocks(blocks_dir))


def test_zero_gaps_and_key_equal_to_magic(main_blocks, tmp_path):
    # A key starting with the magic makes records at offsets = 0 mod 8 begin with raw zeros,
    # which must not be mistaken for preallocation padding.
    key = MAIN_MAGIC + b"\x01\x02\x03\x04"
    d = tmp_path / "blocks"
    d.mkdir()
    (d / "xor.dat").write_bytes(key)
    data = _blk_bytes(main_blocks[:50])
    (d / "blk00000.dat").write_bytes(_xor(data, key) + bytes(64))
    assert _xor(data, key)[:4] == bytes(4)
    assert list(read_blocks(d)) == main_blocks[:50]
    # Plain file with a zero gap between records (Core rescans for the magic after gaps).
    gap = tmp_path / "gap.dat"
    gap.write_bytes(_blk_bytes(main_blocks[:3]) + bytes(100) + _blk_bytes(main_blocks[3:6]) + bytes(100))
    assert list(read_blocks(gap)) == main_blocks[:6]
    junk = tmp_path / "junk.dat"
    junk.write_bytes(_blk_bytes(main_blocks[:3]) + bytes(100) + b"\x55" * 20)
    with pytest.raises(ChainDataError, match="after zero padding"):
        list(read_blocks(junk))


def test_blk_files_in_numeric_order_and_zero_key(main_blocks, tmp_path):
    d = tmp_path / "blocks"
    d.mkdir()
    (d / "xor.dat").write_bytes(bytes(8))  # all-zero key: no obfuscation
    for i in range(12):  # blk00010 must come after blk00009 and blk00002
        (d / f"blk{i:05d}.dat").write_bytes(_blk_bytes(main_blocks[i * 10 : i * 10 + 10]))
    assert open_source(d).xor_key is None
    assert list(read_blocks(d)) == main_blocks[:120]


def test_hex_file_and_raw_dir_give_same_blocks(main_blocks, tmp_path):
    blocks = main_blocks[:25]
    hex_path = tmp_path / "chain.txt"
    write_hex_chain(blocks, hex_path)
    # Blank lines and surrounding whitespace are ignored.
    hex_path.write_text("\n" + hex_path.read_text().replace("\n", "\n\n  ", 3))
    assert open_source(hex_path).format is SourceFormat.HEX_FILE
    assert list(read_blocks(hex_path)) == blocks
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    for i, b in enumerate(blocks):  # "block2" must sort before "block10" (natural order)
        (raw_dir / f"block{i}.bin").write_bytes(b)
    assert open_source(raw_dir).format is SourceFormat.RAW_DIR
    assert list(read_blocks(raw_dir)) == blocks
    assert detect_network(raw_dir) == "main"  # starts with the mainnet genesis block


def test_regtest_hex_file():
    blocks = list(read_blocks(_need(REGTEST_HEX)))
    assert len(blocks) == 206
    assert _hash_hex(blocks[-1]) == REGTEST_TIP
    assert detect_network(REGTEST_HEX) == "regtest"  # block 1 builds on the regtest genesis


def test_testnet_file_detected_and_truncation_reported():
    path = _need(TESTNET_BLK)
    assert detect_network(path) == "testnet"
    got = []
    with pytest.raises(ChainDataError, match=r"blk-testnet\.dat: truncated record at offset \d+"):
        for raw in read_blocks(path):
            got.append(raw)
    assert len(got) == 401  # every complete record came out before the error
    with pytest.raises(ChainDataError, match="expected main"):
        next(read_blocks(path, network="main"))
    assert next(read_blocks(path, network="testnet3"))[:4] == bytes.fromhex("01000000")


def test_truncated_blk_file(main_blocks, tmp_path):
    data = _blk_bytes(main_blocks[:5])
    for cut in (len(data) - 1, len(data) - len(main_blocks[4]) - 4):  # mid-block, mid-record-header
        p = tmp_path / f"cut{cut}.dat"
        p.write_bytes(data[:cut])
        with pytest.raises(ChainDataError, match=rf"{p.name}: truncated record"):
            list(read_blocks(p))


def test_garbage_and_bad_records(main_blocks, tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(5000))
    with pytest.raises(ChainDataError, match="garbage.bin"):
        list(read_blocks(garbage))
    # Known magic at the start, unknown magic later.
    bad_magic = tmp_path / "badmagic.dat"
    first = _blk_bytes(main_blocks[:1])
    bad_magic.write_bytes(first + b"\xde\xad\xbe\xef" + first[4:])
    with pytest.raises(ChainDataError, match=rf"unknown network magic deadbeef at offset {len(first)}"):
        list(read_blocks(bad_magic))
    # Framing is fine but the record length covers the block plus a stray byte.
    padded = tmp_path / "padded.dat"
    b = main_blocks[1]
    padded.write_bytes(MAIN_MAGIC + struct.pack("<I", len(b) + 1) + b + b"\x07")
    with pytest.raises(ChainDataError, match=r"padded\.dat: record at offset 0: not a valid block.*trailing"):
        list(read_blocks(padded))
    # Mixed networks within one blk file.
    mixed = tmp_path / "mixed.dat"
    mixed.write_bytes(first + _blk_bytes(main_blocks[1:2], MAGIC_BY_NETWORK["regtest"]))
    with pytest.raises(ChainDataError, match="magic changes"):
        list(read_blocks(mixed))


def test_bad_hex_lines(main_blocks, tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text(main_blocks[0].hex() + "\n\n" + main_blocks[1].hex()[:-2] + "zz\n")
    with pytest.raises(ChainDataError, match=r"bad\.txt: line 3 is not hex"):
        list(read_blocks(p))
    p.write_text(main_blocks[0].hex() + "\n" + "00" * 90 + "\n")
    with pytest.raises(ChainDataError, match=r"bad\.txt: line 2: not a valid block"):
        list(read_blocks(p))


def test_raw_dir_with_non_block_file(main_blocks, tmp_path):
    (tmp_path / "1.raw").write_bytes(main_blocks[0])
    (tmp_path / "2.raw").write_bytes(main_blocks[1][:-3])
    with pytest.raises(ChainDataError, match=r"2\.raw: not a valid block"):
        list(read_blocks(tmp_path))
    with pytest.raises(ChainDataError, match="no such file"):
        read_blocks(tmp_path / "missing")


def test_network_of_magic():
    assert network_of_magic(bytes.fromhex("f9beb4d9")) == "main"
    assert network_of_magic(bytes.fromhex("0b110907")) == "testnet"
    assert network_of_magic(bytes.fromhex("1c163f28")) == "testnet4"
    assert network_of_magic(bytes.fromhex("0a03cf40")) == "signet"
    assert network_of_magic(bytes.fromhex("fabfb5da")) == "regtest"
    with pytest.raises(ChainDataError):
        network_of_magic(b"\x00\x01\x02\x03")


# --- streaming: sizes checked before reading, chunk boundaries invisible ---------------------


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
def test_hex_and_blk_readers_give_the_same_blocks_for_any_chunk_size(main_blocks, tmp_path, monkeypatch, chunk):
    from chaincast.txside.chain import sources

    blocks = main_blocks[:4]
    hex_path = tmp_path / "chain.txt"
    # Blank runs, indentation, CRLF and a last line without a newline.
    hex_path.write_bytes(b"\n \n\t" + b"\r\n\n   ".join(b.hex().encode() for b in blocks[:3]) + b"  \n\n" + blocks[3].hex().encode())
    bad_path = tmp_path / "bad.txt"
    bad_path.write_bytes(b"\n\n" + blocks[0].hex().encode() + b"\n \n\n  zz\n")
    blk_path = tmp_path / "gap.dat"
    blk_path.write_bytes(_blk_bytes(blocks[:2]) + bytes(100) + _blk_bytes(blocks[2:]) + bytes(37))
    monkeypatch.setattr(sources, "_CHUNK_BYTES", chunk)
    monkeypatch.setattr(sources, "_ZERO_CHUNK", bytes(chunk))
    assert list(read_blocks(hex_path)) == blocks
    assert list(read_blocks(blk_path)) == blocks
    with pytest.raises(ChainDataError, match=r"bad\.txt: line 6 is not hex"):
        list(read_blocks(bad_path))


def test_a_hex_line_is_at_most_a_largest_block(tmp_path):
    from chaincast.txside.chain.sources import MAX_HEX_DIGITS

    at_limit = tmp_path / "at-limit.txt"
    at_limit.write_bytes(b"\n" + b"0" * MAX_HEX_DIGITS + b" \r\n")
    with pytest.raises(ChainDataError, match=r"at-limit\.txt: line 2: not a valid block"):  # read, then parsed
        list(read_blocks(at_limit))
    beyond = tmp_path / "beyond.txt"
    beyond.write_bytes(b"\n\n" + b"0" * (MAX_HEX_DIGITS + 2) + b"\n")
    with pytest.raises(ChainDataError, match=r"beyond\.txt: line 3 is longer than 8000000 hex digits"):
        list(read_blocks(beyond, verify=False))


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_raw_files_are_checked_by_size_before_any_is_read(main_blocks, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "1.blk").write_bytes(main_blocks[0])
    _sparse(raw / "2.blk", 4_000_001)
    with pytest.raises(ChainDataError, match=r"2\.blk: 4000001 bytes, too big for a raw block"):
        open_source(raw)  # before block 1 is read
    (raw / "2.blk").write_bytes(b"")
    with pytest.raises(ChainDataError, match=r"2\.blk: empty file"):
        open_source(raw)
    with pytest.raises(ChainDataError, match=r"big: 1073741824 bytes, too big for a raw block"):
        open_source(_sparse(tmp_path / "big", 1 << 30))


def test_an_xor_key_file_of_the_wrong_size_is_not_read(main_blocks, tmp_path):
    d = tmp_path / "blocks"
    d.mkdir()
    (d / "blk00000.dat").write_bytes(_blk_bytes(main_blocks[:1]))
    _sparse(d / "xor.dat", 1 << 30)
    with pytest.raises(ChainDataError, match=r"xor\.dat: XOR key must be 8 bytes, got 1073741824"):
        open_source(d)


def test_only_regular_files_and_directories_are_sources(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ChainDataError, match="fifo: not a regular file or directory"):
        open_source(tmp_path / "fifo")
    with pytest.raises(ChainDataError, match="not a regular file or directory"):
        open_source("/dev/zero")
