"""Files and messages end to end: `tx keygen`, `tx --send` alongside blocks, `channel`, `rx --broadcaster-key`.

One recording carries 20 regtest blocks, a file and a message signed by the broadcaster, the same
file name signed by another key (forged), and a genuinely signed envelope whose payload was
altered afterwards (tampered). Only the first two may reach the inbox."""

import os
from pathlib import Path

import numpy as np

from tests.conftest import REGTEST_CHAIN, shared_file
from tests.test_end_to_end import chaincast, last_json

CHANNEL = ["--esn0-db", "6", "--cfo-hz", "20000", "--clock-ppm", "30", "--phase-noise-hz", "5", "--seed", "11"]


def keygen(path: Path) -> str:
    result = chaincast("tx", "keygen", "--out", path)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


def test_signed_files_cross_the_link_and_forged_or_tampered_ones_do_not(tmp_path):
    chain = tmp_path / "chain.hex"
    chain.write_text("\n".join(shared_file(REGTEST_CHAIN).read_text().split()[:20]) + "\n")
    broadcaster, other = tmp_path / "broadcaster.key", tmp_path / "other.key"
    public = keygen(broadcaster)
    keygen(other)
    rng = np.random.default_rng(12)
    genuine = rng.bytes(30_000)  # several RaptorQ symbols
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "report v1.bin").write_bytes(genuine)
    forged_dir, tampered_dir = tmp_path / "forged", tmp_path / "tampered"
    forged_dir.mkdir(), tampered_dir.mkdir()
    (forged_dir / "report v1.bin").write_bytes(rng.bytes(9_000))  # the same name, another key
    (tampered_dir / "report v1.bin").write_bytes(rng.bytes(9_000))
    for folder, key in ((forged_dir, other), (tampered_dir, broadcaster)):
        signed = chaincast("tx", "send", folder / "report v1.bin", "--key", key, "--save-envelope", folder / "env")
        assert signed.returncode == 0, signed.stderr
    tampered = tampered_dir / "env" / "report v1.bin.envelope"
    altered = bytearray(tampered.read_bytes())
    altered[-64 - 100] ^= 0x04  # a payload byte: still a well-formed envelope, no longer what was signed
    tampered.write_bytes(bytes(altered))

    clean, noisy = tmp_path / "up.sigmf-meta", tmp_path / "down.sigmf-meta"
    tx = chaincast("tx", "--source", chain, "--chain", "regtest", "--out", clean, "--passes", "2",
                   "--send", outbox / "report v1.bin", "--message", "gm from orbit \u2600", "--key", broadcaster,
                   "--send-envelope", forged_dir / "env" / "report v1.bin.envelope", "--send-envelope", tampered)
    assert tx.returncode == 0, tx.stderr
    assert "20 blocks, 4 files and messages" in tx.stdout
    ch = chaincast("channel", clean, noisy, *CHANNEL)
    assert ch.returncode == 0, ch.stderr

    datadir = tmp_path / "datadir"
    rx = chaincast("rx", noisy, "--chain", "regtest", "--datadir", datadir, "--json", "--broadcaster-key", public)
    assert rx.returncode == 0, rx.stderr
    report = last_json(rx.stdout)
    assert report["tip_height"] == 20 and report["blocks_validated"] == 20
    assert report["objects_complete"] == 5  # the 20 small blocks travel as one bundle, plus 4 envelopes
    assert (report["files_saved"], report["files_rejected"]) == (2, 2), report
    assert report["files_rejected_why"] == {"signature": 2}
    inbox = datadir / "chaincast-inbox"
    saved = {p.name: p.read_bytes() for p in inbox.iterdir()}
    message_name = next(name for name in saved if name.startswith("message-"))
    assert saved == {"report v1.bin": genuine, message_name: "gm from orbit \u2600".encode()}

    # again from the start, into the same inbox: the same envelopes are not saved twice
    again = chaincast("rx", noisy, "--chain", "regtest", "--datadir", datadir, "--json", "--broadcaster-key", public,
                      "--from-start", "--no-state")
    assert again.returncode == 0, again.stderr
    report = last_json(again.stdout)
    assert (report["files_saved"], report["files_known"], report["files_rejected"]) == (0, 2, 2), report
    assert sorted(os.listdir(inbox)) == sorted(saved)

    # no key configured: every envelope is counted and dropped, nothing is written
    plain = chaincast("rx", noisy, "--chain", "regtest", "--datadir", tmp_path / "plain", "--json", "--no-state")
    assert plain.returncode == 0, plain.stderr
    report = last_json(plain.stdout)
    assert (report["files_saved"], report["files_rejected"]) == (0, 4) and report["files_rejected_why"] == {"no_key": 4}
    assert not (tmp_path / "plain" / "chaincast-inbox").exists()


def test_rx_refuses_a_broadcaster_key_that_is_no_public_key(tmp_path):
    raw = tmp_path / "noise.cu8"
    raw.write_bytes(bytes(4800))
    for bad in ("abcd", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC30"):
        rx = chaincast("rx", raw, "--sample-rate", "2.4e6", "--chain", "regtest", "--datadir", tmp_path / "d",
                       "--broadcaster-key", bad)
        assert rx.returncode != 0 and "--broadcaster-key" in rx.stderr and "Traceback" not in rx.stderr
