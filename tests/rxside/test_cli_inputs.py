"""``chaincast rx`` refuses every bad input up front: a non-zero exit, one line naming the file or
option and what is wrong, no traceback, and nothing created or written (the datadir, the inbox,
the state file, the frames log, --out stay exactly as they were)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from chaincast.txside.cli import main
from tests.peak_rss import run_measured

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / "recordings" / "regtest-5blocks-8db.sigmf-meta"
CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
KEY = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"  # the x of secp256k1's generator


@pytest.fixture
def rec(tmp_path) -> Path:
    """A copy of the golden recording (regtest, 5 blocks, cu8 at 2.4 MHz), to damage."""
    folder = tmp_path / "rec"
    folder.mkdir()
    for suffix in (".sigmf-meta", ".sigmf-data"):
        shutil.copy(RECORDING.with_suffix(suffix), folder / f"up{suffix}")
    return folder / "up.sigmf-meta"


def run_rx(argv: list) -> int:
    """``chaincast rx ARGV`` in this process: its exit status (argparse's SystemExit counted as one)."""
    try:
        return main(["rx", *map(str, argv)])
    except SystemExit as stop:
        return stop.code


def listing(root: Path) -> dict[str, tuple[int, int]] | None:
    """Every path under ``root`` with its size and modification time; None if ``root`` is missing."""
    if not os.path.lexists(root):
        return None
    return {str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns) for path in root.rglob("*")}


def assert_refused(capsys, tmp_path: Path, argv: list, *names: str) -> str:
    """Run ``chaincast rx ARGV`` in this process; it must fail with one line holding every one of
    ``names`` and leave everything under ``tmp_path`` (datadir included) as it was."""
    capsys.readouterr()
    before = listing(tmp_path)
    code = run_rx(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("chaincast rx: error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert listing(tmp_path) == before
    return lines[0]


def write_meta(meta: Path, edit) -> None:
    doc = json.loads(meta.read_text())
    edit(doc)
    meta.write_text(json.dumps(doc))


# ------------------------------------------------------------------------ numbers given as options

@pytest.mark.parametrize("option, value, says", [
    ("--symbol-rate", "-1", "positive"), ("--symbol-rate", "0", "positive"), ("--symbol-rate", "nan", "positive"),
    ("--symbol-rate", "inf", "positive"),
    ("--symbol-rate", "2e4", "samples per symbol"),  # 120 samples per symbol
    ("--symbol-rate", "3e6", "below (1 + roll-off)"),
    ("--sample-rate", "nan", "positive"), ("--sample-rate", "2.5e6", "contradicts"),
    ("--search-hz", "nan", "finite"), ("--search-hz", "inf", "finite"), ("--search-hz", "-1", "finite"),
    ("--search-hz", "1e6", "only within"),
    ("--sink-wait", "-1", "seconds"), ("--sink-wait", "nan", "seconds"), ("--sink-wait", "inf", "seconds"),
    ("--sink-wait", "1e12", "seconds"),
    ("--chunk-samples", "0", "must be"), ("--chunk-samples", "-5", "must be"), ("--chunk-samples", "100000000000", "must be"),
])
def test_a_number_out_of_range_is_refused(capsys, tmp_path, rec, option, value, says):
    assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", "--datadir", tmp_path / "dd", f"{option}={value}"],
                   option, says)


@pytest.mark.parametrize("rate, says", [
    ("nan", "positive"), ("inf", "positive"), ("-inf", "positive"), ("0", "positive"), ("-2.4e6", "positive"),
    ("1e-300", "outside"), ("2e8", "outside"),  # 1e12: test_a_sample_rate_of_1e12_fails_at_once_in_bounded_memory
])
def test_a_raw_recordings_sample_rate_out_of_range_is_refused(capsys, tmp_path, rate, says):
    raw = tmp_path / "capture.cu8"
    raw.write_bytes(bytes(4800))
    assert_refused(capsys, tmp_path, [raw, f"--sample-rate={rate}", "--chain", "regtest", "--datadir", tmp_path / "dd"],
                   "--sample-rate", says)


def test_a_sample_rate_of_1e12_fails_at_once_in_bounded_memory(tmp_path):
    """It used to design filters for 1e6 samples per symbol: ~1 GB and no end."""
    raw = tmp_path / "capture.cu8"
    raw.write_bytes(bytes(100_000))
    run = run_measured([CHAINCAST, "rx", raw, "--sample-rate", "1e12", "--symbol-rate", "1e6", "--chain", "regtest",
                        "--datadir", tmp_path / "dd"], tmp_path, timeout_s=60)  # the imports alone take seconds on a loaded machine
    assert run.returncode is not None, "rx --sample-rate 1e12 did not end"
    assert run.returncode == 1
    assert run.peak_mib < 600, run.peak_mib  # the interpreter with numpy, numba and pbk: ~200 MB
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chaincast rx: error: --sample-rate 1e+12"), run.stderr
    assert not (tmp_path / "dd").exists()


# ------------------------------------------------------------------------------ the recording files

def _truncate_data(rec, tmp_path):
    with open(rec.with_suffix(".sigmf-data"), "r+b") as f:
        f.truncate(1001)
    return [rec], "1001 bytes"


def _empty_data(rec, tmp_path):
    rec.with_suffix(".sigmf-data").write_bytes(b"")
    return [rec], "empty"


def _no_data(rec, tmp_path):
    rec.with_suffix(".sigmf-data").unlink()
    return [rec], "missing"


def _data_is_a_folder(rec, tmp_path):
    rec.with_suffix(".sigmf-data").unlink()
    rec.with_suffix(".sigmf-data").mkdir()
    return [rec], "folder"


def _data_is_a_fifo(rec, tmp_path):
    rec.with_suffix(".sigmf-data").unlink()
    os.mkfifo(rec.with_suffix(".sigmf-data"))
    return [rec], "not a regular file"


def _no_meta(rec, tmp_path):
    rec.unlink()
    return [rec], "no such file"


def _meta_is_a_folder(rec, tmp_path):
    rec.unlink()
    rec.mkdir()
    return [rec], "folder"


def _meta_too_large(rec, tmp_path):
    with open(rec, "r+b") as f:
        f.truncate(17 << 20)  # sparse: 17 MiB of zero bytes
    return [rec], "MiB"


def _meta_not_text(rec, tmp_path):
    rec.write_bytes(b"\xff\xfe{\x00")
    return [rec], "not UTF-8"


def _meta_dangling_link(rec, tmp_path):
    rec.unlink()
    rec.symlink_to(tmp_path / "gone.sigmf-meta")
    return [rec], "broken symbolic link"


def _raw_empty(rec, tmp_path):
    raw = tmp_path / "capture.cu8"
    raw.write_bytes(b"")
    return [raw, "--sample-rate", "2.4e6"], "empty"


def _raw_odd_cu8(rec, tmp_path):
    raw = tmp_path / "capture.cu8"
    raw.write_bytes(bytes(4801))
    return [raw, "--sample-rate", "2.4e6"], "4801 bytes"


def _raw_torn_cf32(rec, tmp_path):
    raw = tmp_path / "capture.cf32"
    raw.write_bytes(bytes(8 * 1000 + 5))
    return [raw, "--sample-rate", "2.4e6"], "8005 bytes"


def _raw_missing(rec, tmp_path):
    return [tmp_path / "capture.cu8", "--sample-rate", "2.4e6"], "no such file"


def _raw_is_a_folder(rec, tmp_path):
    (tmp_path / "capture.cu8").mkdir()
    return [tmp_path / "capture.cu8", "--sample-rate", "2.4e6"], "folder"


def _raw_device(rec, tmp_path):
    return ["/dev/zero", "--datatype", "cu8", "--sample-rate", "2.4e6"], "not a regular file"


def _raw_without_rate(rec, tmp_path):
    raw = tmp_path / "capture.cu8"
    raw.write_bytes(bytes(4800))
    return [raw], "--sample-rate"


def _datatype_contradicts_suffix(rec, tmp_path):
    raw = tmp_path / "capture.cf32"
    raw.write_bytes(bytes(4800))
    return [raw, "--datatype", "cu8", "--sample-rate", "2.4e6"], "contradicts the .cf32 suffix"


def _datatype_for_sigmf(rec, tmp_path):
    return [rec, "--datatype", "cu8"], "--datatype is for raw files"


def _unknown_suffix(rec, tmp_path):
    other = tmp_path / "capture.wav"
    other.write_bytes(bytes(4800))
    return [other, "--sample-rate", "2.4e6"], "unknown recording type"


def _sigmf_archive(rec, tmp_path):
    archive = tmp_path / "capture.sigmf"
    archive.write_bytes(bytes(1024))
    return [archive], "archives"


@pytest.mark.parametrize("damage", [
    _truncate_data, _empty_data, _no_data, _data_is_a_folder, _data_is_a_fifo, _no_meta, _meta_is_a_folder,
    _meta_too_large, _meta_not_text, _meta_dangling_link, _raw_empty, _raw_odd_cu8, _raw_torn_cf32, _raw_missing,
    _raw_is_a_folder, _raw_device, _raw_without_rate, _datatype_contradicts_suffix, _datatype_for_sigmf,
    _unknown_suffix, _sigmf_archive,
], ids=lambda damage: damage.__name__.strip("_"))
def test_an_unusable_recording_file_is_refused(capsys, tmp_path, rec, damage):
    args, says = damage(rec, tmp_path)
    line = assert_refused(capsys, tmp_path, [*args, "--chain", "regtest", "--datadir", tmp_path / "dd"], says)
    assert str(args[0]).rsplit(".", 1)[0] in line  # the recording is named


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@pytest.mark.parametrize("suffix", [".sigmf-meta", ".sigmf-data"])
def test_an_unreadable_recording_is_refused(capsys, tmp_path, rec, suffix):
    rec.with_suffix(suffix).chmod(0)
    assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", "--datadir", tmp_path / "dd"], suffix, "cannot read")


# ------------------------------------------------------------------------------ the metadata's fields

def _set(key, value):
    return lambda doc: doc["global"].__setitem__(key, value)


def _text(old, new):
    return lambda text: text.replace(old, new)


@pytest.mark.parametrize("edit, says", [
    (_text('"core:sample_rate": 2400000.0', '"core:sample_rate": ' + "1" * 5000), "too many digits"),
    (_text('"core:sample_rate": 2400000.0', '"core:sample_rate": ' + "1" * 400), "too large"),
    (_text('"core:sample_rate": 2400000.0', '"core:sample_rate": NaN'), "finite"),
    (_text('"core:sample_rate": 2400000.0', '"core:sample_rate": Infinity'), "finite"),
    (_text('"core:sample_rate": 2400000.0', '"core:sample_rate": 1e999'), "finite"),
    (_text('"chaincast:symbol_rate": 1000000.0', '"chaincast:symbol_rate": -Infinity'), "finite"),
    (lambda text: '{"global": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    (lambda text: "[" * 100_000, "not SigMF metadata"),
    (lambda text: "{not json", "not valid JSON"),
    (lambda text: '{"global": [1]}', "no global object"),
    (_set("core:sample_rate", True), "core:sample_rate is not a number"),
    (_set("core:sample_rate", "2.4e6"), "core:sample_rate is not a number"),
    (_set("core:sample_rate", None), "sample rate"),
    (_set("core:sample_rate", 0), "core:sample_rate must be positive"),
    (_set("core:sample_rate", 2e8), "outside what the receiver takes"),
    (_set("core:sample_rate", 10.0), "outside what the receiver takes"),
    (_set("core:datatype", ["cu8"]), "core:datatype is not a string"),
    (_set("core:datatype", "ci16_le"), "unsupported datatype 'ci16_le'"),
    (_set("core:datatype", "cf32_le"), "not a whole number of cf32_le samples"),  # 354208 bytes of cu8: 44276 cf32
    (_set("chaincast:symbol_rate", "fast"), "chaincast:symbol_rate is not a number"),
    (_set("chaincast:symbol_rate", 0), "chaincast:symbol_rate must be positive"),
    (_set("chaincast:symbol_rate", 2e4), "samples per symbol"),
    (_set("chaincast:symbol_rate", 2.1e6), "below (1 + roll-off)"),
    (_set("chaincast:profile", ["default"]), "chaincast:profile is not a string"),
    (_set("chaincast:profile", "fast"), "unknown profile 'fast'"),
    (_set("chaincast:profile", ""), "unknown profile ''"),
    (_set("core:num_channels", 2), "single-channel"),
    (lambda doc: doc.__setitem__("captures", [{"core:frequency": "12 GHz"}]), "core:frequency is not a number"),
    (lambda doc: doc.__setitem__("captures", [{"core:frequency": 10 ** 400}]), "core:frequency is too large"),
], ids=lambda item: None if callable(item) else item)
def test_unusable_metadata_is_refused(capsys, tmp_path, rec, edit, says):
    if edit.__code__.co_varnames[:1] == ("text",):
        rec.write_text(edit(json.dumps(json.loads(rec.read_text()), indent=4)))
    else:
        write_meta(rec, edit)
    if says == "not a whole number of cf32_le samples":  # the golden data is whole cf32 samples: cut it
        with open(rec.with_suffix(".sigmf-data"), "r+b") as f:
            f.truncate(354206)
    assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", "--datadir", tmp_path / "dd"], "up.sigmf", says)


# ---------------------------------------------------------------------------- where rx would write

def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a file\n")
    return path


@pytest.mark.parametrize("case", [
    "datadir-is-a-file", "datadir-under-a-file", "chain-folder-is-a-file", "blocks-is-a-file", "chainstate-is-a-file",
    "datadir-dangling-link", "inbox-is-a-file", "inbox-under-a-file", "default-inbox-is-a-file", "out-is-a-file",
    "out-under-a-file", "state-is-a-folder", "state-under-a-file", "default-state-is-a-folder", "frames-log-is-a-folder",
    "frames-log-folder-missing", "frames-log-under-a-file", "frames-log-is-the-recording", "frames-log-is-the-metadata",
    "frames-log-is-the-state", "state-is-the-recording", "rpc-cookie-is-a-folder",
])
def test_an_output_path_of_the_wrong_kind_is_refused(capsys, tmp_path, rec, case):
    dd = tmp_path / "dd"
    extra: list = []
    if case == "datadir-is-a-file":
        dd, names = _file(dd), ["--datadir", "is a file"]
    elif case == "datadir-under-a-file":
        _file(tmp_path / "plain")
        dd, names = tmp_path / "plain" / "dd", ["--datadir", "plain is a file"]
    elif case == "chain-folder-is-a-file":
        names = ["--datadir", _file(dd / "regtest"), "not a folder"]
    elif case in ("blocks-is-a-file", "chainstate-is-a-file"):
        names = ["--datadir", _file(dd / "regtest" / case.split("-")[0]), "not a folder"]
    elif case == "datadir-dangling-link":
        dd.symlink_to(tmp_path / "gone")
        names = ["--datadir", "broken symbolic link"]
    elif case == "inbox-is-a-file":
        extra, names = ["--broadcaster-key", KEY, "--inbox", _file(tmp_path / "inbox")], ["--inbox", "is a file"]
    elif case == "inbox-under-a-file":
        extra = ["--broadcaster-key", KEY, "--inbox", _file(tmp_path / "plain") / "inbox"]
        names = ["--inbox", "no folder can be made"]
    elif case == "default-inbox-is-a-file":
        extra, names = ["--broadcaster-key", KEY], ["--inbox", _file(dd / "chaincast-inbox"), "is a file"]
    elif case == "out-is-a-file":
        extra, names = ["--sink", "folder", "--out", _file(tmp_path / "blocks")], ["--out", "is a file"]
    elif case == "out-under-a-file":
        extra, names = ["--sink", "folder", "--out", _file(tmp_path / "plain") / "blocks"], ["--out", "no folder"]
    elif case == "state-is-a-folder":
        (tmp_path / "state").mkdir()
        extra, names = ["--state", tmp_path / "state"], ["--state", "is a folder"]
    elif case == "state-under-a-file":
        extra, names = ["--state", _file(tmp_path / "plain") / "rx.sqlite"], ["--state", "plain is a file"]
    elif case == "default-state-is-a-folder":
        (dd / "regtest" / "chaincast-rx.sqlite").mkdir(parents=True)
        names = ["--state", "chaincast-rx.sqlite", "is a folder"]
    elif case == "frames-log-is-a-folder":
        extra, names = ["--frames-log", tmp_path], ["--frames-log", "is a folder"]
    elif case == "frames-log-folder-missing":
        extra, names = ["--frames-log", tmp_path / "nowhere" / "frames.jsonl"], ["--frames-log", "no such folder"]
    elif case == "frames-log-under-a-file":
        extra, names = ["--frames-log", _file(tmp_path / "plain") / "frames.jsonl"], ["--frames-log", "not a folder"]
    elif case == "frames-log-is-the-recording":
        extra, names = ["--frames-log", rec.with_suffix(".sigmf-data")], ["--frames-log", "which rx reads"]
    elif case == "frames-log-is-the-metadata":
        extra, names = ["--frames-log", rec], ["--frames-log", "which rx reads"]
    elif case == "frames-log-is-the-state":
        state = _file(tmp_path / "rx.sqlite")
        extra, names = ["--state", state, "--frames-log", state], ["--frames-log", "which rx reads"]
    elif case == "state-is-the-recording":
        extra, names = ["--state", rec.with_suffix(".sigmf-data")], ["--state", "which rx reads"]
    elif case == "rpc-cookie-is-a-folder":
        extra, names = ["--sink", "rpc", "--rpc-cookie", tmp_path], ["--rpc-cookie", "is a folder"]
    else:
        raise AssertionError(case)
    assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", "--datadir", dd, *extra], *names)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
@pytest.mark.parametrize("option", ["--datadir", "--frames-log"])
def test_an_output_in_a_read_only_folder_is_refused(capsys, tmp_path, rec, option):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        target = ["--datadir", locked / "dd"] if option == "--datadir" else ["--datadir", tmp_path / "dd",
                                                                               "--frames-log", locked / "f.jsonl"]
        assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", *target], option, "not writable")
    finally:
        locked.chmod(0o700)


def test_an_existing_datadir_keeps_exactly_what_it_had(capsys, tmp_path, rec):
    """A datadir from an earlier run (a state file, a block file, an inbox) is not touched by a refused run."""
    dd = tmp_path / "dd"
    for name in ("regtest/chaincast-rx.sqlite", "regtest/blocks/blk00000.dat", "chaincast-inbox/note.txt"):
        _file(dd / name)
    with open(rec.with_suffix(".sigmf-data"), "r+b") as f:
        f.truncate(1001)
    assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", "--datadir", dd, "--broadcaster-key", KEY,
                                      "--frames-log", tmp_path / "frames.jsonl"], "1001 bytes")


# ---------------------------------------------------------------------------- options that clash

@pytest.mark.parametrize("extra, says", [
    (["--state", "s.sqlite", "--no-state"], "--no-state"),
    (["--inbox", "inbox"], "--inbox is for --broadcaster-key"),
    (["--broadcaster-key", "abcd"], "--broadcaster-key"),
    (["--broadcaster-key", "FF" * 32], "--broadcaster-key"),
    (["--out", "blocks"], "--out is for --sink folder"),
    (["--sink", "folder"], "--sink folder needs --out"),
    (["--rpc-url", "http://127.0.0.1:1"], "--rpc-url is for --sink rpc"),
    (["--sink", "rpc", "--rpc-user", "u"], "--rpc-user and --rpc-password go together"),
    (["--sink", "rpc", "--rpc-user", "u", "--rpc-password", "p", "--rpc-cookie", "c"], "not both"),
    (["--sink", "rpc", "--rpc-user", "u", "--rpc-password", "p", "--rpc-url", "ftp://node"], "--rpc-url"),
    (["--sink", "rpc", "--rpc-user", "u", "--rpc-password", "p", "--rpc-url", "http://node:99999"], "--rpc-url"),
    (["--datadir="], "--datadir: an empty path"),
    (["--frames-log="], "--frames-log: an empty path"),
])
def test_clashing_or_malformed_options_are_refused(capsys, tmp_path, rec, monkeypatch, extra, says):
    monkeypatch.chdir(tmp_path)  # the relative paths above, and an empty --datadir, would land here
    assert_refused(capsys, tmp_path, [rec, "--chain", "regtest", "--datadir", tmp_path / "dd", *extra], says)


def test_argparse_errors_name_the_option_and_write_nothing(capsys, tmp_path, rec):
    for argv in ([rec, "--chain", "regtest"], [rec, "--chain", "bogus", "--datadir", tmp_path / "dd"],
                 [rec, "--chain", "regtest", "--datadir", tmp_path / "dd", "--sample-rate", "fast"]):
        capsys.readouterr()
        code = run_rx(argv)
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("chaincast rx: error: ")
        assert not (tmp_path / "dd").exists()


def test_a_good_recording_still_runs(capsys, tmp_path, rec):
    """The checks above leave the golden recording alone: 5 regtest blocks, the state file and frames log written."""
    dd = tmp_path / "dd"
    assert main(["rx", str(rec), "--chain", "regtest", "--datadir", str(dd), "--json",
                 "--frames-log", str(tmp_path / "frames.jsonl")]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["blocks_validated"] == 5
    assert (dd / "regtest" / "chaincast-rx.sqlite").is_file() and (tmp_path / "frames.jsonl").stat().st_size > 0


# ------------------------------------------------------------------------------ the state file

def test_a_damaged_state_file_is_refused_naming_reset_state_which_then_starts_a_new_one(tmp_path, rec, capsys):
    datadir = tmp_path / "dd"
    state = tmp_path / "rx.sqlite"
    state.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)  # a header, then garbage
    code = main(["rx", str(rec), "--chain", "regtest", "--datadir", str(datadir), "--state", str(state)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and str(state) in err[0] and "--reset-state" in err[0], err
    code = main(["rx", str(rec), "--chain", "regtest", "--datadir", str(datadir), "--state", str(state), "--reset-state"])
    err = capsys.readouterr().err
    assert code == 0 and "moved to" in err, err
    assert [p.name.split(".damaged-")[0] for p in tmp_path.glob("rx.sqlite.damaged-*")] == ["rx.sqlite"]


def test_damaged_rows_are_warned_about_and_the_run_goes_on(tmp_path, rec, capsys):
    import sqlite3

    datadir, state = tmp_path / "dd", tmp_path / "rx.sqlite"
    assert main(["rx", str(rec), "--chain", "regtest", "--datadir", str(datadir), "--state", str(state)]) == 0
    db = sqlite3.connect(state)
    db.execute("INSERT INTO header_runs VALUES (100800, x'00', NULL)")
    db.execute("INSERT INTO objects VALUES (1, x'00', 1, NULL, 0)")
    db.commit()
    db.close()
    capsys.readouterr()
    assert main(["rx", str(rec), "--chain", "regtest", "--datadir", str(datadir), "--state", str(state), "--from-start"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert any("damaged rebuilt objects dropped" in w for w in warnings), warnings
    assert any("headers after height" in w for w in warnings), warnings


@pytest.mark.parametrize("options, says", [
    (["--state-budget-mb", "0"], "--state-budget-mb 0"),
    (["--state-budget-mb", "nan"], "--state-budget-mb nan"),
    (["--no-state", "--reset-state"], "--reset-state is for a state file"),
])
def test_state_options_out_of_range(tmp_path, rec, capsys, options, says):
    code = main(["rx", str(rec), "--chain", "regtest", "--datadir", str(tmp_path / "dd"), *options])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and says in err[0], err
    assert not (tmp_path / "dd").exists()
