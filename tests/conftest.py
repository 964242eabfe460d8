"""Shared test fixtures: where the real chain data lives (../shared/data beside the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REGTEST_CHAIN = SHARED_DATA / "blocks" / "pbk" / "regtest_blocks.txt"
MAINNET_BLK = SHARED_DATA / "blocks" / "bitcoinj" / "first-100k-blocks.dat"
REGTEST_TIP = "3de082158b117acd088306c395d09771bb7cbf0b7355796c1b1e0bd748ef9bed"
MAINNET_TIP = "0000000025c6b644f8add734be7e666fa4afa43ca0204d623a0c0b1fd2104c7a"


def shared_file(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(scope="session")
def regtest_blocks() -> list[bytes]:
    lines = shared_file(REGTEST_CHAIN).read_text().split()
    return [bytes.fromhex(line) for line in lines]


@pytest.fixture(scope="session")
def mainnet_blocks() -> list[bytes]:
    data = shared_file(MAINNET_BLK).read_bytes()
    blocks, offset = [], 0
    while offset + 8 <= len(data) and data[offset : offset + 4] == bytes.fromhex("f9beb4d9"):
        length = int.from_bytes(data[offset + 4 : offset + 8], "little")
        blocks.append(data[offset + 8 : offset + 8 + length])
        offset += 8 + length
    return blocks
