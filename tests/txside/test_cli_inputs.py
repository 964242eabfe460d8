"""Every uplink command refuses a bad input up front: a non-zero exit, one error line that names the
option or file and what is wrong, no traceback, and no file written (no partial recording).

Commands run in-process through the launcher (``chaincast.txside.cli.main``); the cases that must
show bounded memory or no hang (a 1 GiB sparse source, FIFOs) run as subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chaincast.fec.wire.recording import RecordingInfo
from chaincast.txside.chain.sources import MAX_HEX_DIGITS
from chaincast.txside.cli import main
from chaincast.txside.recording import SigmfWriter
from tests.conftest import REGTEST_CHAIN, shared_file
from tests.peak_rss import run_measured as measure

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
GIB = 1 << 30


def files_under(root: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")}


def error_line(code: int, err: str) -> str:
    """The one error line of a refused command, after checking the rest of stderr is at most
    argparse's usage (and never a traceback)."""
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    usage = lines[:-1]
    assert not usage or (usage[0].startswith("usage: ") and all(line.startswith(" ") for line in usage[1:])), err
    assert errors[0].startswith("chaincast "), err
    return errors[0]


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A folder with good inputs of every kind; the tests run in it."""
    monkeypatch.chdir(tmp_path)
    chain = shared_file(REGTEST_CHAIN).read_text().split()
    (tmp_path / "chain.hex").write_text("\n".join(chain[:3]) + "\n")
    assert main(["tx", "keygen", "--out", str(tmp_path / "key")]) == 0
    (tmp_path / "note.txt").write_text("hello")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    rng = np.random.default_rng(1)
    with SigmfWriter(tmp_path / "in.sigmf-meta", RecordingInfo(2.4e6, "cf32_le", None, 1e6, "default")) as writer:
        writer.write((rng.standard_normal(4000) + 1j * rng.standard_normal(4000)).astype(np.complex64))
    (tmp_path / "lte.cu8").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with open(tmp_path / "sparse-1g", "wb") as f:
        f.truncate(GIB)  # a hole: no disk used
    return tmp_path


def refused(work: Path, capsys, argv: list[str], *words: str) -> str:
    before = files_under(work)
    capsys.readouterr()
    code = main(argv)
    _, err = capsys.readouterr()
    line = error_line(code, err)
    for word in words:
        assert word in line, line
    assert files_under(work) == before, "a refused command wrote something"
    return line


TX = ["tx", "--source", "chain.hex", "--chain", "regtest", "--out", "up.sigmf-meta"]


@pytest.mark.parametrize("options, words", [
    (["--passes", "0"], ["--passes"]),
    (["--passes", "100000"], ["--passes"]),
    (["--sample-rate", "nan"], ["--sample-rate", "finite"]),
    (["--sample-rate", "inf"], ["--sample-rate", "finite"]),
    (["--sample-rate", "1e400"], ["--sample-rate", "finite"]),
    (["--sample-rate", "0"], ["--sample-rate"]),
    (["--sample-rate", "-2.4e6"], ["--sample-rate"]),
    (["--sample-rate", "1e9", "--symbol-rate", "1e8"], ["--sample-rate", "1e+08 Hz"]),
    (["--sample-rate", "1e8", "--symbol-rate", "1e5"], ["--sample-rate", "64"]),
    (["--sample-rate", "1e6"], ["--sample-rate", "roll-off"]),
    (["--symbol-rate", "nan"], ["--symbol-rate", "finite"]),
    (["--symbol-rate", "0"], ["--symbol-rate"]),
    (["--symbol-rate", "-1e6"], ["--symbol-rate"]),
    (["--pad-s", "nan"], ["--pad-s", "finite"]),
    (["--pad-s", "-1"], ["--pad-s"]),
    (["--pad-s", "1e6"], ["--pad-s"]),
    (["--frequency", "inf"], ["--frequency", "finite"]),
    (["--frequency", "nan"], ["--frequency", "finite"]),
    (["--frequency", "-1e9"], ["--frequency"]),
    (["--bundle-bytes", "5"], ["--bundle-bytes"]),
    (["--bundle-bytes", "4000001"], ["--bundle-bytes", "receiver refuses"]),
    (["--modcod", "qpsk-9/10-turbo"], ["--modcod"]),
    (["--passes", "two"], ["--passes"]),
])
def test_tx_numbers(work, capsys, options, words):
    refused(work, capsys, [*TX, *options], *words)


@pytest.mark.parametrize("source, words", [
    ("missing.hex", ["--source", "missing.hex", "no such file"]),
    ("empty", ["--source", "empty", "empty file"]),
    ("folder", ["--source", "folder", "no block files"]),
    ("/dev/zero", ["--source", "/dev/zero", "not a regular file"]),
    ("sparse-1g", ["--source", "sparse-1g", "too big for a raw block"]),
])
def test_tx_source_of_the_wrong_kind(work, capsys, source, words):
    refused(work, capsys, ["tx", "--source", source, "--chain", "regtest", "--out", "up.sigmf-meta"], *words)


@pytest.mark.parametrize("content, words", [
    (b"hello, not hex\n", ["note.hex", "line 1 is not hex"]),
    (b"\x01\x00" + bytes(range(256)) * 10, ["note.hex", "not a valid block"]),
    (bytes.fromhex("fabfb5da") + (10**9).to_bytes(4, "little"), ["note.hex", "implausible block length"]),
])
def test_tx_source_whose_content_is_not_blocks(work, capsys, content, words):
    (work / "note.hex").write_bytes(content)
    refused(work, capsys, ["tx", "--source", "note.hex", "--chain", "regtest", "--out", "up.sigmf-meta"], *words)


@pytest.mark.parametrize("out, words", [
    ("no-such-dir/up.sigmf-meta", ["--out", "no-such-dir", "does not exist"]),
    ("folder", ["--out", "folder", "is a directory"]),
    (".", ["--out", "is a directory"]),
    ("chain.hex/up.sigmf-meta", ["--out", "not a directory"]),
    ("u" * 300, ["--out", "File name too long"]),
])
def test_tx_out_that_cannot_be_written(work, capsys, out, words):
    refused(work, capsys, ["tx", "--source", "chain.hex", "--chain", "regtest", "--out", out], *words)


def test_tx_out_whose_data_file_is_a_directory(work, capsys):
    (work / "up.sigmf-data").mkdir()
    refused(work, capsys, TX, "--out", "up.sigmf-data", "is a directory")


@pytest.mark.parametrize("argv, words", [
    (["--key", "missing-key", "note.txt"], ["--key", "missing-key", "no such file"]),
    (["--key", "folder", "note.txt"], ["--key", "folder", "is a directory"]),
    (["--key", "empty", "note.txt"], ["--key", "empty", "empty file"]),
    (["--key", "sparse-1g", "note.txt"], ["--key", "sparse-1g", "bytes"]),
    (["--key", "note.txt", "note.txt"], ["--key", "note.txt", "not a key file"]),
    (["--key", "/dev/zero", "note.txt"], ["--key", "/dev/zero", "not a regular file"]),
    (["--key", "key", "missing.txt"], ["FILE missing.txt", "no such file"]),
    (["--key", "key", "folder"], ["FILE folder", "is a directory"]),
    (["--key", "key", "/dev/zero"], ["FILE /dev/zero", "not a regular file"]),
    (["--key", "key", "--send", "sparse-1g"], ["--send sparse-1g", "bytes, more than"]),
    (["--key", "key", "--message", ""], ["--message", "1 to"]),
    (["--key", "key", "--message", "x" * 70000], ["--message", "1 to"]),
    (["--key", "key", "--message", "bad \udcff byte"], ["--message", "UTF-8"]),
    (["--send-envelope", "missing.envelope"], ["--send-envelope", "no such file"]),
    (["--send-envelope", "note.txt"], ["--send-envelope", "note.txt", "not a chaincast envelope"]),
    (["--send-envelope", "sparse-1g"], ["--send-envelope", "sparse-1g", "more than"]),
    (["--send-envelope", "/dev/zero"], ["--send-envelope", "/dev/zero", "not a regular file"]),
    (["note.txt"], ["--key"]),
    ([], ["nothing to send"]),
])
def test_tx_send_inputs(work, capsys, argv, words):
    refused(work, capsys, ["tx", "send", "--out", "up.sigmf-meta", *argv], *words)


@pytest.mark.parametrize("target, words", [
    ("note.txt", ["--save-envelope", "note.txt", "not a directory"]),
    ("no-such-dir/envelopes", ["--save-envelope", "no-such-dir", "does not exist"]),
])
def test_tx_send_save_envelope_must_be_a_folder(work, capsys, target, words):
    refused(work, capsys, ["tx", "send", "--key", "key", "--save-envelope", target, "note.txt"], *words)


def test_tx_send_writes_no_envelope_when_the_source_is_bad(work, capsys):
    (work / "bad.hex").write_text("zz\n")
    refused(work, capsys, ["tx", "send", "--key", "key", "--save-envelope", "env", "--out", "up.sigmf-meta",
                           "--source", "bad.hex", "--chain", "regtest", "note.txt"], "bad.hex", "not hex")


def test_tx_send_saves_two_messages_of_one_name_under_two_names(work, capsys):
    assert main(["tx", "send", "--key", "key", "--save-envelope", "env", "--message", "a", "--message", "b"]) == 0
    assert len(list((work / "env").iterdir())) == 2


@pytest.mark.parametrize("out, words", [
    ("key", ["--out", "key", "exists"]),
    ("folder", ["--out", "folder", "is a directory"]),
    ("no-such-dir/key", ["--out", "no-such-dir", "does not exist"]),
])
def test_keygen_out(work, capsys, out, words):
    refused(work, capsys, ["tx", "keygen", "--out", out], *words)


@pytest.mark.parametrize("argv, words", [
    (["--blocks", "0", "--out", "c.hex"], ["--blocks"]),
    (["--blocks", "99999999999999999999", "--out", "c.hex"], ["--blocks"]),
    (["--blocks", "3", "--out", "folder"], ["--out", "folder", "is a directory"]),
    (["--blocks", "3", "--out", "no-such-dir/c.hex"], ["--out", "no-such-dir", "does not exist"]),
])
def test_chain_make_regtest(work, capsys, argv, words):
    refused(work, capsys, ["chain", "make-regtest", *argv], *words)


CHANNEL = ["channel", "in.sigmf-meta", "out.sigmf-meta", "--esn0-db", "10"]


@pytest.mark.parametrize("options, words", [
    (["--esn0-db", "nan"], ["--esn0-db", "finite"]),
    (["--esn0-db=-inf"], ["--esn0-db", "finite"]),
    (["--esn0-db=-1000"], ["--esn0-db"]),
    (["--cfo-hz", "2e6"], ["--cfo-hz", "half the input's sample rate"]),
    (["--cfo-hz", "nan"], ["--cfo-hz", "finite"]),
    (["--drift-hz-per-s", "inf"], ["--drift-hz-per-s", "finite"]),
    (["--clock-ppm=-1e6"], ["--clock-ppm"]),
    (["--clock-ppm", "nan"], ["--clock-ppm", "finite"]),
    (["--phase-noise-hz=-5"], ["--phase-noise-hz"]),
    (["--iq-gain-db", "inf"], ["--iq-gain-db"]),
    (["--iq-phase-deg", "90"], ["--iq-phase-deg"]),
    (["--dc", "nan"], ["--dc", "finite"]),
    (["--blank-fraction", "1"], ["--blank-fraction"]),
    (["--blank-fraction", "nan"], ["--blank-fraction"]),
    (["--blank-fraction", "0.3", "--blank-ms", "0"], ["--blank-ms"]),
    (["--blank-fraction", "0.3", "--blank-ms", "inf"], ["--blank-ms", "finite"]),
    (["--blank-fraction", "0.3", "--blank-ms", "1e-9"], ["--blank-ms", "shorter than one sample"]),
    (["--adc-rms-lsb", "0"], ["--adc-rms-lsb"]),
    (["--adc-rms-lsb", "inf"], ["--adc-rms-lsb", "finite"]),
    (["--seed=-1"], ["--seed"]),
    (["--interference-db", "nan"], ["--interference-db", "finite"]),
    (["--interference", "lte.cu8"], ["--interference-rate"]),
    (["--interference-rate", "1.92e6"], ["--interference-rate", "--interference"]),
    (["--interference", "lte.cu8", "--interference-rate", "nan"], ["--interference-rate", "finite"]),
    (["--interference", "lte.cu8", "--interference-rate", "1"], ["--interference-rate"]),
    (["--interference", "missing.cu8", "--interference-rate", "1.92e6"], ["--interference", "missing.cu8", "no such file"]),
    (["--interference", "empty", "--interference-rate", "1.92e6"], ["--interference", "empty", "empty file"]),
    (["--interference", "folder", "--interference-rate", "1.92e6"], ["--interference", "folder", "is a directory"]),
    (["--interference", "/dev/zero", "--interference-rate", "1.92e6"], ["--interference", "/dev/zero", "not a regular"]),
    (["--interference", "sparse-1g", "--interference-rate", "1.92e6"], ["--interference", "sparse-1g", "same"]),
])
def test_channel_options(work, capsys, options, words):
    refused(work, capsys, [*CHANNEL, *options], *words)


def _recording(work: Path, name: str, meta: str | None, data: bytes | None, data_dir: bool = False) -> None:
    if meta is not None:
        (work / f"{name}.sigmf-meta").write_text(meta)
    if data_dir:
        (work / f"{name}.sigmf-data").mkdir()
    elif data is not None:
        (work / f"{name}.sigmf-data").write_bytes(data)


GOOD_META = json.dumps({"global": {"core:datatype": "cu8", "core:sample_rate": 2.4e6}})


def _meta(**fields) -> str:
    return json.dumps({"global": {"core:datatype": "cu8", "core:sample_rate": 2.4e6, **fields}})


SAMPLES = b"\x80" * 64


@pytest.mark.parametrize("meta, data, data_dir, words", [
    pytest.param(None, None, False, ["bad.sigmf-meta", "no such recording"], id="missing"),
    pytest.param(GOOD_META, None, False, ["bad.sigmf-data", "missing"], id="no-data"),
    pytest.param(GOOD_META, b"", False, ["bad.sigmf-data", "empty file"], id="empty-data"),
    pytest.param(GOOD_META, b"\x80" * 1001, False, ["bad.sigmf-data", "1001 bytes", "whole number"], id="odd-length"),
    pytest.param(GOOD_META, None, True, ["bad.sigmf-data", "is a directory"], id="data-is-a-dir"),
    pytest.param("", SAMPLES, False, ["bad.sigmf-meta", "empty file"], id="empty-meta"),
    pytest.param("{{{ not json", SAMPLES, False, ["bad.sigmf-meta", "JSON"], id="not-json"),
    pytest.param(json.dumps({"captures": []}), SAMPLES, False, ["bad.sigmf-meta", "global"], id="no-global"),
    pytest.param(_meta(**{"core:datatype": "ci16_le"}), SAMPLES, False, ["bad.sigmf-meta", "datatype"], id="datatype"),
    pytest.param(json.dumps({"global": {"core:datatype": "cu8"}}), SAMPLES, False, ["bad.sigmf-meta", "sample_rate"],
                 id="no-rate"),
    pytest.param(_meta(**{"core:sample_rate": float("nan")}), SAMPLES, False, ["bad.sigmf-meta", "sample"], id="nan-rate"),
    pytest.param(_meta(**{"core:sample_rate": float("inf")}), SAMPLES, False, ["bad.sigmf-meta", "sample"], id="inf-rate"),
    pytest.param(_meta(**{"core:sample_rate": 1e300}), SAMPLES, False, ["bad.sigmf-meta", "sample"], id="huge-rate"),
    pytest.param(_meta(**{"chaincast:symbol_rate": -1}), SAMPLES, False, ["bad.sigmf-meta", "symbol"], id="negative-baud"),
    pytest.param(_meta(**{"chaincast:symbol_rate": 1e9}), SAMPLES, False, ["bad.sigmf-meta", "symbol"], id="baud-above-rate"),
])
def test_channel_input_recording(work, capsys, meta, data, data_dir, words):
    _recording(work, "bad", meta, data, data_dir)
    refused(work, capsys, ["channel", "bad.sigmf-meta", "out.sigmf-meta", "--esn0-db", "10"], *words)


def test_channel_input_metadata_that_is_not_text_or_too_big(work, capsys):
    (work / "bin.sigmf-meta").write_bytes(bytes(range(256)))
    (work / "bin.sigmf-data").write_bytes(b"\x80" * 64)
    refused(work, capsys, ["channel", "bin.sigmf-meta", "out", "--esn0-db", "10"], "bin.sigmf-meta", "not text")
    with open(work / "huge.sigmf-meta", "wb") as f:
        f.truncate(GIB)
    (work / "huge.sigmf-data").write_bytes(b"\x80" * 64)
    refused(work, capsys, ["channel", "huge.sigmf-meta", "out", "--esn0-db", "10"], "huge.sigmf-meta", "too big")


@pytest.mark.parametrize("output, words", [
    ("no-such-dir/out", ["output", "no-such-dir", "does not exist"]),
    ("folder", ["output", "folder", "is a directory"]),
    ("in.sigmf-meta", ["output", "in.sigmf-meta", "is an input"]),
    ("in", ["output", "is an input"]),
])
def test_channel_output(work, capsys, output, words):
    refused(work, capsys, ["channel", "in.sigmf-meta", output, "--esn0-db", "10"], *words)


@pytest.mark.parametrize("argv, words", [
    (["--out", "note.txt"], ["--out", "note.txt", "not a directory"]),
    (["--out", "no-such-dir/demo"], ["--out", "no-such-dir", "does not exist"]),
    (["--out", "."], ["--out", "not a demo's"]),
    (["--out", "demo", "--blocks", "0"], ["--blocks"]),
    (["--out", "demo", "--blocks", "1000000000"], ["--blocks"]),
    (["--out", "demo", "--esn0-db", "nan"], ["--esn0-db", "finite"]),
])
def test_demo(work, capsys, argv, words):
    refused(work, capsys, ["demo", *argv], *words)


@pytest.mark.parametrize("options, words", [
    (["--sample-rate", "nan"], ["--sample-rate", "finite"]),
    (["--symbol-rate", "inf"], ["--symbol-rate", "finite"]),
    (["--sample-rate", "1e6"], ["--sample-rate", "roll-off"]),
    (["--frequency", "nan"], ["--frequency", "finite"]),
    (["--lead-s", "inf"], ["--lead-s", "finite"]),
    (["--duration-s=-1"], ["--duration-s"]),
    (["--rpc-timeout-s", "0"], ["--rpc-timeout-s"]),
    (["--poll-interval-s", "nan"], ["--poll-interval-s", "finite"]),
    (["--carousel-share", "nan"], ["--carousel-share", "finite"]),
    (["--fresh-passes", "1000000"], ["--fresh-passes"]),
    (["--cu8-rms-lsb", "inf"], ["--cu8-rms-lsb", "finite"]),
    (["--out", "no-such-dir/up.cu8"], ["--out", "no-such-dir", "does not exist"]),
    (["--out", "folder"], ["--out", "folder", "is a directory"]),
    (["--frames-log", "folder"], ["--frames-log", "folder", "is a directory"]),
    (["--log-file", "no-such-dir/log"], ["--log-file", "does not exist"]),
    (["--rpc-cookie", "missing-cookie"], ["--rpc-cookie", "missing-cookie", "no such file"]),
    (["--rpc-cookie", "/dev/zero"], ["--rpc-cookie", "/dev/zero", "not a regular file"]),
    (["--datadir", "no-such-dir"], ["--datadir", "no-such-dir"]),
    (["--rpc-url", "http://127.0.0.1:99999"], ["--rpc-url", "Port"]),
    (["--rpc-url", "ftp://127.0.0.1"], ["--rpc-url"]),
    (["--zmq", "127.0.0.1:28332"], ["--zmq"]),
    (["--config", "missing.toml"], ["--config", "missing.toml", "no such file"]),
    (["--config", "/dev/zero"], ["--config", "/dev/zero", "not a regular file"]),
    (["--config", "sparse-1g"], ["--config", "sparse-1g", "more than"]),
    (["--config", "folder"], ["--config", "folder", "is a directory"]),
])
def test_follow_inputs(work, capsys, options, words):
    (work / "cookie").write_text("user:password")
    refused(work, capsys, ["tx", "follow", "--out", "up.cu8", "--rpc-cookie", "cookie", *options], *words)


# --- subprocesses: memory and hangs -------------------------------------------------------------


def run_measured(argv: list, cwd: Path, timeout_s: float = 60.0) -> tuple[int, str, float, float]:
    """(exit code, stderr, peak RSS in MiB, seconds) of a subprocess (``tests.peak_rss``)."""
    run = measure(argv, cwd, timeout_s)
    if run.returncode is None:
        pytest.fail(f"{' '.join(map(str, argv))} still running after {timeout_s} s")
    return run.returncode, run.stderr, run.peak_mib, run.seconds


def _sparse(path: Path, head: bytes, size: int = GIB) -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)  # the rest is a hole: no disk used
    return path


@pytest.fixture(scope="module")
def tx_baseline_rss_mib(tmp_path_factory) -> float:
    """Peak RSS of a tx refused at once (its imports: NumPy, SciPy, numba...)."""
    work = tmp_path_factory.mktemp("baseline")
    (work / "empty").write_bytes(b"")
    code, err, rss, _ = run_measured([CHAINCAST, "tx", "--source", "empty", "--chain", "main", "--out", "up"], work)
    assert code != 0 and "empty file" in err
    return rss


@pytest.mark.parametrize("kind, head, words", [
    ("raw", b"", ["--source", "too big for a raw block"]),
    ("hex", b"00" * 4096, ["line 1 is longer than", f"{MAX_HEX_DIGITS} hex digits"]),
])
def test_tx_refuses_a_1gib_source_fast_in_bounded_memory(tmp_path, tx_baseline_rss_mib, kind, head, words):
    source = _sparse(tmp_path / f"big-{kind}", head)
    code, err, rss, seconds = run_measured([CHAINCAST, "tx", "--source", source.name, "--chain", "main", "--out", "up"],
                                           tmp_path)
    line = error_line(code, err)
    assert all(word in line for word in words), line
    print(f"{kind}: peak RSS {rss:.0f} MiB, {tx_baseline_rss_mib:.0f} MiB for a tx refused at once; {seconds:.1f} s")
    assert rss < tx_baseline_rss_mib + 48
    assert seconds < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


READ_ALL = ("import sys; from chaincast.txside.chaincheck import check_chain; "
            "print(len(check_chain(sys.argv[1], 'main')))")


@pytest.fixture(scope="module")
def reader_baseline_rss_mib(tmp_path_factory) -> float:
    work = tmp_path_factory.mktemp("baseline")
    code, _, rss, _ = run_measured([sys.executable, "-c", "import chaincast.txside.chaincheck"], work)
    assert code == 0
    return rss


@pytest.mark.parametrize("head, words", [
    pytest.param(bytes.fromhex("f9beb4d9") + (0xFFFFFFF0).to_bytes(4, "little"),
                 ["implausible block length 4294967280 at offset 0"], id="declared-4GiB"),
    pytest.param(bytes.fromhex("f9beb4d9") + (3_999_000).to_bytes(4, "little"),
                 ["record at offset 0: not a valid block"], id="a-block-of-zeros"),
])
def test_a_1gib_blk_file_fails_on_its_first_record(tmp_path, reader_baseline_rss_mib, head, words):
    source = _sparse(tmp_path / "blk00000.dat", head)
    code, err, rss, seconds = run_measured([sys.executable, "-c", READ_ALL, source.name], tmp_path)
    assert code != 0 and all(word in err for word in words), err
    assert rss < reader_baseline_rss_mib + 32 and seconds < 30


def test_a_preallocated_blk_file_is_scanned_in_bounded_memory(tmp_path, reader_baseline_rss_mib, mainnet_blocks):
    """One block, then 256 MiB of preallocated zeros (as Core leaves a blk file): the block comes
    out, the zeros are read a chunk at a time."""
    genesis = mainnet_blocks[0]
    _sparse(tmp_path / "blk00000.dat", bytes.fromhex("f9beb4d9") + len(genesis).to_bytes(4, "little") + genesis,
            256 << 20)
    script = READ_ALL.replace("print(", "sys.exit(-1 + ")  # exit status 0: one block
    code, err, rss, seconds = run_measured([sys.executable, "-c", script, "."], tmp_path)
    assert code == 0, err
    assert rss < reader_baseline_rss_mib + 32 and seconds < 30


FIFO_CASES = [
    ["tx", "--source", "fifo", "--chain", "main", "--out", "up"],
    ["tx", "send", "--key", "fifo", "--message", "hi", "--out", "up"],
    ["tx", "send", "--key", "key", "--send-envelope", "fifo", "--out", "up"],
    ["channel", "fifo", "out", "--esn0-db", "10"],  # fifo.sigmf-meta is the FIFO
    ["channel", "rec", "out", "--esn0-db", "10"],  # rec.sigmf-data is the FIFO
    ["channel", "rec", "out", "--esn0-db", "10", "--interference", "fifo", "--interference-rate", "2e6"],
    ["tx", "follow", "--config", "fifo", "--out", "up.cu8"],
    ["tx", "follow", "--rpc-cookie", "fifo", "--out", "up.cu8"],
]


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes; every input is refused before."""
    os.mkfifo(tmp_path / "fifo")
    os.symlink("fifo", tmp_path / "fifo.sigmf-meta")
    os.mkfifo(tmp_path / "rec.sigmf-data")
    (tmp_path / "rec.sigmf-meta").write_text(GOOD_META)
    (tmp_path / "key").write_text("11" * 32 + "\n")
    script = ("import json, sys; from chaincast.txside.cli import main; "
              "print(json.dumps([main(argv) for argv in json.loads(sys.argv[1])]))")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(FIFO_CASES)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert json.loads(result.stdout) == [2] * len(FIFO_CASES), result.stderr
    lines = [line for line in result.stderr.splitlines() if ": error: "in line]
    assert len(lines) == len(FIFO_CASES) and all("not a regular file" in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr


# --- the recording writer --------------------------------------------------------------------------


def test_a_recording_that_fails_half_way_leaves_nothing_and_keeps_an_older_one(tmp_path):
    info = RecordingInfo(2.4e6, "cu8", None, 1e6, "default")
    with SigmfWriter(tmp_path / "rec", info, atomic=True) as writer:
        writer.write(np.ones(100, np.complex64))
    old = (tmp_path / "rec.sigmf-data").read_bytes()
    with pytest.raises(RuntimeError):
        with SigmfWriter(tmp_path / "rec", info, atomic=True) as writer:
            writer.write(np.zeros(5000, np.complex64))
            raise RuntimeError("the uplink failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.sigmf-data", "rec.sigmf-meta"]
    assert (tmp_path / "rec.sigmf-data").read_bytes() == old
    with pytest.raises(RuntimeError):
        with SigmfWriter(tmp_path / "new", info, atomic=True) as writer:
            writer.write(np.zeros(5000, np.complex64))
            raise RuntimeError("the uplink failed")
    assert not list(tmp_path.glob("*new*"))


def test_an_out_name_keeps_its_own_suffix(work, capsys):
    assert main(["tx", "--source", "chain.hex", "--chain", "regtest", "--out", "up.cu8", "--pad-s", "0"]) == 0
    assert (work / "up.cu8.sigmf-meta").is_file() and (work / "up.cu8.sigmf-data").is_file()
    assert not (work / "up.sigmf-meta").exists()


def test_good_inputs_still_pass(work, capsys):
    """The limits are wide of the real set-ups: the uplink's defaults, an RTL-SDR style channel."""
    assert main(["tx", "send", "--key", "key", "--out", "up.sigmf-meta", "--source", "chain.hex", "--chain",
                 "regtest", "--pad-s", "0.01", "--frequency", "1.2e10", "note.txt", "--message", "hi"]) == 0
    assert main(["channel", "up.sigmf-meta", "down.sigmf-meta", "--esn0-db", "8", "--cfo-hz", "30000",
                 "--clock-ppm", "40", "--interference", "lte.cu8", "--interference-rate", "1.92e6",
                 "--blank-fraction", "0.2", "--blank-ms", "20"]) == 0
    assert (work / "down.sigmf-data").stat().st_size > 0
