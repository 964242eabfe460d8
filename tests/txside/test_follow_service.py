"""``chaincast tx follow`` as a whole: its TOML configuration (every option, strictly checked), its
JSON-lines logs and status line, and a recording of it that the receiver turns back into the
node's chain (the carousel's recent blocks plus the backfill's older ones), against the loopback
node double (tests/txside/node_double.py; its limits are in its docstring)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chaincast.txside.cli import load_command
from chaincast.txside.follow import SECTIONS, ConfigError, FollowConfig, load_config
from tests.txside.node_double import REGTEST_GENESIS, NodeDouble, block_hash

CHAINCAST = Path(sys.executable).with_name("chaincast")

FULL_TOML = """
[node]
rpc_url = "http://127.0.0.1:18443"
rpc_cookie = "/tmp/.cookie"
datadir = "/tmp/node"
rpc_user = "alice"
rpc_password = "secret"
rpc_timeout_s = 5
zmq = "tcp://127.0.0.1:28332"
chain = "regtest"
poll_interval_s = 0.5
zmq_poll_interval_s = 20

[radio]
modcod = "qpsk-1/2"
symbol_rate_hz = 500000
sample_rate_hz = 1200000
datatype = "cu8"
cu8_rms_lsb = 30
frequency_hz = 1.2e9

[output]
out = "-"
realtime = false
lead_s = 0.05
duration_s = 12
frames_log = "frames.jsonl"

[schedule]
carousel_blocks = 10
carousel_share = 0.5
headers_share = 0.2
backfill_share = 0.25
index_interval_s = 2
new_block_passes = 3
fresh_passes = 8
headers_per_object = 100
headers_from = 5
backfill_from = 2
spread_window = 16
spread_bytes = 1000000
bundle_below = 1000
bundle_bytes = 20000

[log]
file = "log.jsonl"
level = "debug"
status = "false"
"""


def test_every_option_is_in_the_toml_file_and_on_the_command_line(tmp_path):
    path = tmp_path / "chaincast.toml"
    path.write_text(FULL_TOML)
    config = load_config(path)
    defaults = FollowConfig()
    for f in dataclasses.fields(FollowConfig):  # each option was read: none is left at its default
        assert getattr(config, f.name) != getattr(defaults, f.name), f.name
    assert config.zmq == ["tcp://127.0.0.1:28332"] and config.realtime is False and config.symbol_rate_hz == 500000.0
    assert sum(len(keys) for keys in SECTIONS.values()) == len(dataclasses.fields(FollowConfig))
    help_text = subprocess.run([str(CHAINCAST), "tx", "follow", "--help"], capture_output=True, text=True).stdout
    for f in dataclasses.fields(FollowConfig):
        flag = {"symbol_rate_hz": "--symbol-rate", "sample_rate_hz": "--sample-rate", "frequency_hz": "--frequency"}.get(
            f.name, "--" + f.name.replace("_", "-"))
        assert flag in help_text, flag
    # the command line wins over the file
    assert load_config(path, {"carousel_blocks": 3, "modcod": None}).carousel_blocks == 3


@pytest.mark.parametrize("text, message", [
    ("[node]\nrpc_urll = 'x'\n", "unknown key 'rpc_urll' in \\[node\\]"),
    ("[nodes]\n", "unknown section \\[nodes\\]"),
    ("[schedule]\ncarousel_blocks = 'many'\n", "carousel_blocks must be int"),
    ("[output]\nrealtime = 1\n", "realtime must be bool"),
    ("[node\n", "chaincast.toml"),
])
def test_a_bad_config_file_is_refused_with_its_reason(tmp_path, text, message):
    path = tmp_path / "chaincast.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    result = subprocess.run([str(CHAINCAST), "tx", "follow", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 2 and "error:" in result.stderr


def test_a_follow_recording_is_received_as_the_nodes_chain(tmp_path, regtest_blocks, capsys):
    chain = [REGTEST_GENESIS] + regtest_blocks[:60]
    log_file, frames_log = tmp_path / "follow.jsonl", tmp_path / "frames.jsonl"
    with NodeDouble(chain, tmp_path / "node") as node:
        (tmp_path / "chaincast.toml").write_text(f"""
[node]
rpc_url = "{node.rpc_url}"
rpc_cookie = "{node.cookie_file}"
chain = "regtest"
[output]
out = "{tmp_path / 'up.sigmf-meta'}"
realtime = false
duration_s = 4
frames_log = "{frames_log}"
[schedule]
carousel_blocks = 40
[log]
file = "{log_file}"
""")
        assert load_command("tx")(["follow", "--config", str(tmp_path / "chaincast.toml")]) == 0
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "headers_fetch" and "following" in names and "stream" in names and names[-1] == "stopped"
    stopped = events[-1]
    assert stopped["tip_height"] == 60 and stopped["air_s"] >= 4 and stopped["bytes_by_share"]["backfill"] > 0
    frames = [json.loads(line) for line in frames_log.read_text().splitlines()]
    assert len(frames) == stopped["frames"]
    sent = {(obj[0], obj[1]) for f in frames for obj in f["objects"]}
    # The carousel: the recent 40. (The backfill may send block 1 alone too: its feeder thread
    # races the first frame, and a window of one block is a block object, not a bundle.)
    carousel = {obj[2] for f in frames for obj in f["objects"] if obj[0] == "carousel" and obj[1] == 1}
    assert carousel == {block_hash(raw)[::-1].hex() for raw in chain[21:]}
    assert ("backfill", 3) in sent  # 1..20 by the backfill, in bundles (the rx below needs every one)
    capsys.readouterr()
    assert load_command("rx")([str(tmp_path / "up.sigmf-meta"), "--chain", "regtest", "--datadir",
                               str(tmp_path / "rx"), "--json", "--no-state"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["tip_height"] == 60 and report["tip_hash"] == block_hash(chain[60])[::-1].hex()
    assert report["headers_height"] == 60 and report["headers_rejected"] == 0  # headers-first, from the headers objects
    assert report["broadcast_tip_height"] == 60 and report["index_wrong_chain"] == 0  # from the chain index
    assert report["blocks_validated"] == 60 and report["blocks_rejected"] == 0


def test_status_line_and_a_clear_error_when_the_node_is_down(tmp_path, regtest_blocks):
    with NodeDouble([REGTEST_GENESIS] + regtest_blocks[:5], tmp_path / "node") as node:
        result = subprocess.run(
            [str(CHAINCAST), "tx", "follow", "--rpc-url", node.rpc_url, "--rpc-cookie", str(node.cookie_file),
             "--out", str(tmp_path / "x.cf32"), "--duration-s", "1.2", "--status", "true", "--log-level", "warning"],
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "tip 5 | on air: 5 carousel blocks" in result.stderr and "frames/s" in result.stderr
    assert (tmp_path / "x.cf32").stat().st_size >= 1.2 * 2.4e6 * 8
    down = subprocess.run([str(CHAINCAST), "tx", "follow", "--rpc-url", node.rpc_url, "--rpc-user", "u",
                           "--rpc-password", "p", "--out", str(tmp_path / "y.cf32")], capture_output=True, text=True)
    assert down.returncode == 1
    assert "chaincast tx: error: cannot reach the node's RPC at" in down.stderr and "connection refused" in down.stderr
