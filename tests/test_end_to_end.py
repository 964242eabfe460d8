"""Acceptance of issues 2, 3 and 4: real chains through tx -> channel -> rx, validated by libbitcoinkernel."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MAINNET_BLK, MAINNET_TIP, REGTEST_CHAIN, REGTEST_TIP, shared_file

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
IMPAIRED = ["--esn0-db", "10", "--cfo-hz", "20000", "--clock-ppm", "30", "--seed", "5"]


def chaincast(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHAINCAST, *map(str, args)], capture_output=True, text=True, timeout=900)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def broadcast_and_receive(tmp_path: Path, source: Path, chain: str, passes: int = 1, modcod: str | None = None,
                          impairments: list[str] = IMPAIRED, rx_args: tuple = ()) -> dict:
    clean, noisy = tmp_path / "up.sigmf-meta", tmp_path / "down.sigmf-meta"
    tx = chaincast("tx", "--source", source, "--chain", chain, "--out", clean, "--passes", passes,
                   *(["--modcod", modcod] if modcod else []))
    assert tx.returncode == 0, tx.stderr
    meta = json.loads(clean.read_text())["global"]
    assert meta["core:sample_rate"] == 2.4e6 and meta["chaincast:symbol_rate"] == 1e6 and meta["chaincast:profile"] == "default"
    ch = chaincast("channel", clean, noisy, *impairments)
    assert ch.returncode == 0, ch.stderr
    assert json.loads(noisy.read_text())["global"]["core:datatype"] == "cu8"
    rx = chaincast("rx", noisy, "--chain", chain, "--datadir", tmp_path / "datadir", "--json", *rx_args)
    assert rx.returncode == 0, rx.stderr
    # tx prints "N blocks, F frames, P passes -> ..."
    return last_json(rx.stdout) | {"frames_on_air": int(re.search(r"(\d+) frames", tx.stdout).group(1))}


def test_bitcoin_core_regtest_chain_crosses_an_impaired_link(tmp_path):
    report = broadcast_and_receive(tmp_path, shared_file(REGTEST_CHAIN), "regtest")
    assert report["tip_height"] == 206 and report["tip_hash"] == REGTEST_TIP
    assert report["blocks_validated"] == 206 and report["blocks_rejected"] == 0
    assert report["frames_ok"] == report["frames_on_air"] and report["objects_complete"] >= 1


def test_mainnet_blocks_0_to_438_cross_an_impaired_link(tmp_path):
    report = broadcast_and_receive(tmp_path, shared_file(MAINNET_BLK), "main")
    assert report["tip_height"] == 438 and report["tip_hash"] == MAINNET_TIP
    # block 0 is the genesis block every node already has: a duplicate, not a new validation
    assert report["blocks_validated"] == 438
    # issue 5: at least 90% of the link-frame data bytes carry object data (small blocks bundled)
    assert report["payload_efficiency"] >= 0.9, report


def frame_error_rate(report: dict) -> float:
    return report["frames_failed"] / (report["frames_ok"] + report["frames_failed"])


def test_issue3_regtest_chain_at_1_2_db_with_qpsk_half(tmp_path):
    """Issue 3 acceptance: qpsk-1/2, 3 passes, Es/N0 1.2 dB (0.2 dB above DVB-S2's threshold)."""
    report = broadcast_and_receive(tmp_path, shared_file(REGTEST_CHAIN), "regtest", passes=3, modcod="qpsk-1/2",
                                   impairments=["--esn0-db", "1.2", "--cfo-hz", "20000", "--clock-ppm", "30", "--seed", "5"])
    assert report["tip_height"] == 206 and report["tip_hash"] == REGTEST_TIP
    assert frame_error_rate(report) <= 1e-2, report
    assert report["frames_ok"] >= 0.97 * report["frames_on_air"], report
    assert report["ldpc_mean_iterations"] > 5  # really at the edge: the decoder works for it


def test_issue3_mainnet_blocks_at_2_43_db_with_default_qpsk_3_5(tmp_path):
    """Issue 3 acceptance: the default MODCOD (qpsk-3/5), 3 passes, Es/N0 2.43 dB."""
    report = broadcast_and_receive(tmp_path, shared_file(MAINNET_BLK), "main", passes=3,
                                   impairments=["--esn0-db", "2.43", "--cfo-hz", "20000", "--clock-ppm", "30", "--seed", "6"])
    assert report["tip_height"] == 438 and report["tip_hash"] == MAINNET_TIP
    assert frame_error_rate(report) <= 1e-2, report
    assert report["frames_ok"] >= 0.97 * report["frames_on_air"], report


def test_rx_json_is_the_last_stdout_line_and_has_the_documented_fields(tmp_path):
    log = tmp_path / "frames.jsonl"
    report = broadcast_and_receive(tmp_path, shared_file(REGTEST_CHAIN), "regtest", rx_args=("--frames-log", log))
    for field in ("frames_ok", "frames_failed", "objects_complete", "blocks_validated", "blocks_rejected", "tip_height", "tip_hash",
                  "ldpc_mean_iterations", "esn0_db", "cfo_hz"):
        assert field in report
    frames = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(frames) == report["frames_ok"] + report["frames_failed"]
    assert all(f["modcod"] == "qpsk-3/5" and abs(f["cfo_hz"] - 20000) < 200 for f in frames)
    assert sum(f["ok"] for f in frames) == report["frames_ok"]
    times = [f["time_s"] for f in frames]
    assert times == sorted(times) and 8 < abs(frames[1]["esn0_db"]) < 12


def assert_clean_failure(result: subprocess.CompletedProcess, datadir: Path) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert not list(datadir.rglob("blk*.dat")) if datadir.exists() else True


@pytest.mark.parametrize(
    "name, meta, data",
    [
        ("missing", None, None),
        ("not-json", "{{{ not json", b""),
        ("no-global", json.dumps({"captures": []}), b""),
        ("bad-datatype", json.dumps({"global": {"core:datatype": "ci16_le", "core:sample_rate": 2.4e6}}), b"\0" * 64),
        ("no-rate", json.dumps({"global": {"core:datatype": "cu8"}}), b"\0" * 64),
        ("no-data", json.dumps({"global": {"core:datatype": "cu8", "core:sample_rate": 2.4e6}}), None),
    ],
)
def test_bad_recordings_fail_with_one_line_and_write_nothing(tmp_path, name, meta, data):
    meta_path = tmp_path / f"{name}.sigmf-meta"
    if meta is not None:
        meta_path.write_text(meta)
    if data is not None:
        meta_path.with_suffix(".sigmf-data").write_bytes(data)
    datadir = tmp_path / "datadir"
    assert_clean_failure(chaincast("rx", meta_path, "--chain", "regtest", "--datadir", datadir), datadir)


def test_raw_file_without_sample_rate_is_a_clean_error(tmp_path):
    raw = tmp_path / "capture.cu8"
    raw.write_bytes(bytes(1000))
    assert_clean_failure(chaincast("rx", raw, "--chain", "main", "--datadir", tmp_path / "d"), tmp_path / "d")


def test_noise_only_recording_gives_no_frames_and_no_blocks(tmp_path):
    import numpy as np

    raw = tmp_path / "noise.cu8"
    rng = np.random.default_rng(0)
    raw.write_bytes(np.clip(rng.normal(127.5, 30, 2 * 2_400_000), 0, 255).astype(np.uint8).tobytes())
    rx = chaincast("rx", raw, "--sample-rate", "2.4e6", "--chain", "main", "--datadir", tmp_path / "d", "--json")
    assert rx.returncode == 0, rx.stderr
    report = last_json(rx.stdout)
    assert report["frames_ok"] == 0 and report["blocks_validated"] == 0


def test_tx_refuses_blocks_of_another_chain(tmp_path):
    result = chaincast("tx", "--source", shared_file(REGTEST_CHAIN), "--chain", "main", "--out", tmp_path / "x.sigmf-meta")
    assert result.returncode != 0 and "regtest" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs_the_whole_job_and_reaches_its_tip(tmp_path):
    result = chaincast("demo", "--out", tmp_path / "demo", "--blocks", "105")
    assert result.returncode == 0, result.stderr
    assert "105 blocks validated, 0 rejected" in result.stdout
    assert (tmp_path / "demo" / "datadir" / "regtest" / "blocks").is_dir()
    assert (tmp_path / "demo" / "received.sigmf-meta").exists()


def test_real_rtl_sdr_captures_give_no_frames(tmp_path):
    """Real RTL-SDR captures (ADS-B, LTE, 433 MHz sensors) hold no chaincast signal: 0 frames, exit 0."""
    from tests.conftest import SHARED_DATA

    captures = [p for p in sorted(shared_file(SHARED_DATA / "iq").rglob("*")) if p.suffix in (".bin", ".data")]
    assert captures
    for capture in captures:
        rate = 1.92e6 if "lte" in capture.parent.name else 2e6 if "dump1090" in capture.parent.name else 0.25e6
        rx = chaincast("rx", capture, "--datatype", "cu8", "--sample-rate", rate, "--symbol-rate", rate / 2.4,
                       "--chain", "main", "--datadir", tmp_path / capture.stem, "--json")
        assert rx.returncode == 0, rx.stderr
        report = last_json(rx.stdout)
        assert (report["frames_found"], report["frames_ok"], report["blocks_validated"]) == (0, 0, 0), capture.name


def test_garbage_float_recording_is_noise_not_a_crash(tmp_path):
    import numpy as np

    garbage = tmp_path / "garbage.cf32"
    garbage.write_bytes(np.random.default_rng(3).bytes(2_000_000))  # NaN, inf, 1e38 (a torn tail: test_cli_inputs)
    rx = chaincast("rx", garbage, "--sample-rate", "2.4e6", "--chain", "main", "--datadir", tmp_path / "d", "--json")
    assert rx.returncode == 0, rx.stderr
    assert "Warning" not in rx.stderr
    assert last_json(rx.stdout)["frames_found"] == 0


def test_issue4_mainnet_through_a_cheap_dongle_and_lnb(tmp_path):
    """Issue 4 acceptance: qpsk-3/5, 3 passes, Es/N0 3.3 dB, LNB offset and drift, clock error, PLL phase
    noise, I/Q imbalance, DC, a real LTE capture underneath at -12 dB, 8-bit samples."""
    from tests.conftest import SHARED_DATA

    lte = shared_file(SHARED_DATA / "iq" / "lte_cell_scanner" / "f2645_s1.92_g0_1s_rtlsdr.bin")
    report = broadcast_and_receive(tmp_path, shared_file(MAINNET_BLK), "main", passes=3, modcod="qpsk-3/5", impairments=[
        "--esn0-db", "3.3", "--cfo-hz", "230000", "--drift-hz-per-s", "800", "--clock-ppm", "150",
        "--phase-noise-hz", "20", "--iq-gain-db", "0.5", "--iq-phase-deg", "3", "--dc", "0.1",
        "--interference", lte, "--interference-rate", "1.92e6", "--interference-db", "-12", "--seed", "7"])
    assert report["tip_height"] == 438 and report["tip_hash"] == MAINNET_TIP
    assert report["frames_ok"] >= 0.97 * report["frames_on_air"] and report["frames_failed"] <= 2, report
    assert report["header_failures"] <= 5, report
    assert report["lock_acquisitions"] == 1, report  # acquired once, then held through drift and phase noise


def test_search_hz_finds_an_lnb_1_5_mhz_off_in_a_6_msps_recording(tmp_path):
    """Issue 4's scan: the carrier 1.5 MHz off (beyond the +-300 kHz acquired without scanning)."""
    clean, noisy = tmp_path / "up.sigmf-meta", tmp_path / "down.sigmf-meta"
    tx = chaincast("tx", "--source", shared_file(REGTEST_CHAIN), "--chain", "regtest", "--out", clean,
                   "--sample-rate", "6e6", "--pad-s", "0.1")
    assert tx.returncode == 0, tx.stderr
    ch = chaincast("channel", clean, noisy, "--esn0-db", "6", "--cfo-hz=-1.5e6", "--drift-hz-per-s", "1000",
                   "--clock-ppm", "40", "--seed", "8")
    assert ch.returncode == 0, ch.stderr
    plain = chaincast("rx", noisy, "--chain", "regtest", "--datadir", tmp_path / "plain", "--json")
    assert plain.returncode == 0 and last_json(plain.stdout)["frames_found"] == 0
    rx = chaincast("rx", noisy, "--chain", "regtest", "--datadir", tmp_path / "d", "--json", "--search-hz", "2e6")
    assert rx.returncode == 0, rx.stderr
    report = last_json(rx.stdout)
    assert report["tip_height"] == 206 and report["tip_hash"] == REGTEST_TIP
    assert abs(report["cfo_hz"] + 1.5e6) < 2000
    too_wide = chaincast("rx", noisy, "--chain", "regtest", "--datadir", tmp_path / "w", "--search-hz", "2.5e6")
    assert too_wide.returncode != 0 and "--search-hz" in too_wide.stderr and "Traceback" not in too_wide.stderr


def test_a_dongle_gain_so_high_that_the_adc_clips_is_tolerated(tmp_path):
    """Issue 4: clipping. 90 LSB RMS: each 8-bit component clips beyond 2 sigma (4.6% of samples)."""
    impairments = ["--esn0-db", "4", "--cfo-hz", "120000", "--clock-ppm", "80", "--dc", "0.1", "--adc-rms-lsb", "90", "--seed", "9"]
    report = broadcast_and_receive(tmp_path, shared_file(REGTEST_CHAIN), "regtest", impairments=impairments)
    raw = np.fromfile(tmp_path / "down.sigmf-data", np.uint8)
    assert np.mean((raw == 0) | (raw == 255)) > 0.03  # really clipped
    assert report["tip_height"] == 206 and report["tip_hash"] == REGTEST_TIP
    assert report["frames_failed"] == 0, report


@pytest.mark.parametrize("modcod", [None, "qpsk-3/5-short"])
def test_issue5_a_third_of_the_air_time_blanked_in_20_ms_bursts(tmp_path, modcod):
    """Issue 5 acceptance: 30% of the air time blanked in 20 ms bursts, mainnet 0..438, 3 passes,
    the default MODCOD (qpsk-3/5, 33 ms frames) and short frames (8 ms). With normal frames only
    about a third of them escape the bursts, and 3 passes are about one pass of symbols; what gets
    the blocks through is decoding the frames a burst only clipped: the blocked symbols are erased
    (LLR 0), a frame whose header was blocked is cut out where the one before it ended, and the
    timing loop holds through the bursts. Without those: tip 438 in 3 of 4 seeds, nothing in the
    fourth; with them 9 of 9 (seeds 1..9, about 40% of the frames decoded)."""
    report = broadcast_and_receive(tmp_path, shared_file(MAINNET_BLK), "main", passes=3, modcod=modcod,
                                   impairments=IMPAIRED + ["--blank-fraction", "0.3", "--blank-ms", "20"])
    assert report["frames_ok"] < 0.8 * report["frames_on_air"], report  # the bursts really hit
    assert report["tip_height"] == 438 and report["tip_hash"] == MAINNET_TIP
