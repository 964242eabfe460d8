"""Issue 5's delivery sinks: ``chaincast rx --sink rpc`` (submitblock to a running bitcoind) and
``--sink folder``, end to end through the radio chain.

The node is ``tests/rxside/rpc_double.py``, a TEST DOUBLE of bitcoind's JSON-RPC server (no bitcoind
exists in our package registries): it speaks Bitcoin Core's JSON-RPC dialect for the four methods
the sink uses and validates every submitted block with libbitcoinkernel in its own datadir; its
limits are listed in its docstring. What holds against it is the client's handling of Core's
replies as Core documents them, not tested against a real bitcoind.
"""

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pbk
import pytest

from chaincast.fec.wire.bitcoin import block_hash, display_hex
from chaincast.fec.wire.profile import DEFAULT_PROFILE
from chaincast.rxside.bitcoind import BitcoinRpc, RpcError
from chaincast.rxside.kernel import ChainDelivery
from chaincast.rxside.sinks import RpcSink, SinkDelivery, SinkError
from chaincast.txside.cli import write_broadcast
from tests.conftest import REGTEST_CHAIN, REGTEST_TIP, shared_file
from tests.rxside.rpc_double import BitcoindDouble
from tests.rxside.test_delivery import overpaying_coinbase_block

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
REGTEST_TARGET = 0x7FFFFF << (8 * (0x20 - 3))


def display_hash(raw: bytes) -> str:
    return display_hex(block_hash(raw))


def forged_bad_merkle_root(raw: bytes) -> bytes:
    """``raw`` with its merkle root changed and its nonce ground again: valid proof of work on a known
    parent, transactions that do not match the header."""
    forged = bytearray(raw)
    forged[36] ^= 0x01
    for nonce in range(1 << 20):
        forged[76:80] = nonce.to_bytes(4, "little")
        if int.from_bytes(block_hash(bytes(forged)), "little") <= REGTEST_TARGET:
            return bytes(forged)
    raise RuntimeError("no nonce found")


@pytest.fixture(scope="module")
def chain() -> list[bytes]:
    return [bytes.fromhex(line) for line in shared_file(REGTEST_CHAIN).read_text().split()]  # heights 1..206


@pytest.fixture(scope="module")
def forged(chain) -> bytes:
    block = forged_bad_merkle_root(chain[100])
    state = pbk.Block(block).check(pbk.ChainParameters(pbk.ChainType.REGTEST).consensus_params)
    assert state.block_validation_result == pbk.BlockValidationResult.MUTATED  # precondition: a bad merkle root
    return block


@pytest.fixture(scope="module")
def recording(tmp_path_factory, chain, forged) -> Path:
    """The regtest chain on the air with the forged block in the middle (valid packets, invalid block)."""
    path = tmp_path_factory.mktemp("air") / "up.sigmf-meta"
    write_broadcast(chain[:101] + [forged] + chain[101:], DEFAULT_PROFILE, path)
    return path


def rx(recording: Path, datadir: Path, *args) -> tuple[subprocess.CompletedProcess, dict | None]:
    env = os.environ | {"HOME": str(datadir.parent)}  # a cookie in this machine's ~/.bitcoin must not count
    result = subprocess.run([CHAINCAST, "rx", str(recording), "--chain", "regtest", "--datadir", str(datadir), "--json",
                             *map(str, args)], capture_output=True, text=True, timeout=300, env=env)
    lines = result.stdout.strip().splitlines()
    return result, (json.loads(lines[-1]) if lines else None)


def test_rpc_sink_gives_the_node_every_validated_block_in_chain_order_and_never_the_forged_one(tmp_path, recording, chain, forged):
    datadir = tmp_path / "rx"
    # bitcoind's cookie where the receiver looks by default: <datadir>/regtest/.cookie
    with BitcoindDouble(tmp_path / "node", cookie_path=datadir / "regtest" / ".cookie") as node:
        result, report = rx(recording, datadir, "--sink", "rpc", "--rpc-url", node.url)
        assert result.returncode == 0, result.stderr
        assert (report["tip_height"], report["tip_hash"]) == (206, REGTEST_TIP)
        assert report["blocks_rejected"] == 1  # the forged block, stopped by libbitcoinkernel
        assert node.tip() == (206, REGTEST_TIP)  # the node's chain reaches the datadir's tip
        # each block once, in height order, each accepted (null) by the node's own validation
        assert [h for h, _ in node.submitted] == [display_hash(raw) for raw in chain]
        assert {reply for _, reply in node.submitted} == {None}
        assert display_hash(forged) not in {h for h, _ in node.submitted}
        assert (report["sink_delivered"], report["sink_height"], report["sink_pending"], report["sink_refused"]) == (206, 206, 0, 0)


def test_rpc_sink_with_wrong_credentials_stops_at_once_with_one_clear_line(tmp_path, recording):
    with BitcoindDouble(tmp_path / "node", user="alice", password="right") as node:
        started = time.monotonic()
        result, _ = rx(recording, tmp_path / "rx", "--sink", "rpc", "--rpc-url", node.url,
                       "--rpc-user", "alice", "--rpc-password", "wrong")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "HTTP 401" in result.stderr and "--rpc-user" in result.stderr
        assert node.unauthorized >= 1 and node.submitted == []
        assert time.monotonic() - started < 20  # before decoding anything: no block reached the datadir either
        assert not list((tmp_path / "rx").rglob("blk*.dat"))

    # no credentials at all: no cookie where the default points, no user
    result, _ = rx(recording, tmp_path / "rx2", "--sink", "rpc", "--rpc-url", "http://127.0.0.1:9/")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "--rpc-cookie" in result.stderr and str(tmp_path / "rx2" / "regtest" / ".cookie") in result.stderr
    assert str(tmp_path / ".bitcoin" / "regtest" / ".cookie") in result.stderr  # then Core's default place


def test_a_node_that_goes_down_for_a_while_still_gets_every_block(tmp_path, recording, chain):
    datadir = tmp_path / "rx"
    with BitcoindDouble(tmp_path / "node", cookie_path=tmp_path / "node-cookie") as node:
        node.outage_after(submits=50, down_s=4.0)  # it comes back with a new cookie, as bitcoind does
        result, report = rx(recording, datadir, "--sink", "rpc", "--rpc-url", node.url, "--rpc-cookie", tmp_path / "node-cookie",
                            "--sink-wait", 30)
        assert result.returncode == 0, result.stderr
        assert node.outages_done == 1 and report["sink_retries"] >= 1  # the outage happened while delivering
        assert node.tip() == (206, REGTEST_TIP)
        accepted = [h for h, reply in node.submitted if reply in (None, "duplicate")]
        assert sorted(accepted) == sorted(display_hash(raw) for raw in chain)
        assert report["sink_pending"] == 0 and report["sink_delivered"] + report["sink_known"] == 206


def test_a_node_down_for_the_whole_run_gets_the_blocks_on_the_next_run(tmp_path, recording, chain):
    datadir = tmp_path / "rx"
    node = BitcoindDouble(tmp_path / "node", user="u", password="p")
    node.start()
    node.stop()  # a port nobody listens on: connection refused
    args = ("--sink", "rpc", "--rpc-url", node.url, "--rpc-user", "u", "--rpc-password", "p", "--sink-wait", 1)
    result, report = rx(recording, datadir, *args)
    assert result.returncode == 75  # EX_TEMPFAIL: run again
    assert "Traceback" not in result.stderr and "next run" in result.stderr
    assert report["tip_height"] == 206 and report["sink_retries"] >= 2 and report["sink_delivered"] == 0
    assert "refused" in report["sink_error"].lower()

    with node:
        again, report = rx(recording, datadir, *args)  # the recording was read to its end: nothing new on the air
        assert again.returncode == 0, again.stderr
        assert report["frames_ok"] == 0 and report["blocks_validated"] == 0
        assert node.tip() == (206, REGTEST_TIP)
        assert [h for h, _ in node.submitted] == [display_hash(raw) for raw in chain]
        assert report["sink_delivered"] == 206 and report["sink_pending"] == 0


def test_folder_sink_writes_each_validated_block_once_and_atomically(tmp_path, recording, chain, forged):
    out = tmp_path / "blocks"
    out.mkdir()
    there = out / f"5-{display_hash(chain[4])}.blk"
    there.write_bytes(chain[4])
    before = there.stat()
    (out / f".7-{display_hash(chain[6])}.blk.tmp").write_bytes(chain[6][:100])  # left by a killed receiver

    result, report = rx(recording, tmp_path / "rx", "--sink", "folder", "--out", out)
    assert result.returncode == 0, result.stderr
    expected = {f"{height}-{display_hash(raw)}.blk": raw for height, raw in enumerate(chain, start=1)}
    names = {p.name for p in out.iterdir()}
    assert names == set(expected)  # no forged block, no temporary file, no genesis
    assert all((out / name).read_bytes() == raw for name, raw in expected.items())
    assert not any(display_hash(forged) in name for name in names)
    after = there.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # skipped, not rewritten
    assert (report["sink_delivered"], report["sink_known"], report["sink_height"]) == (205, 1, 206)

    again, report = rx(recording, tmp_path / "rx", "--sink", "folder", "--out", out)
    assert again.returncode == 0 and report["sink_delivered"] == 0 and {p.name for p in out.iterdir()} == names


# ---------------------------------------------------------------- Bitcoin Core's replies, one by one


def delivered_by(tmp_path: Path, node: BitcoindDouble, blocks: list[bytes], replies=()) -> SinkDelivery:
    """Blocks straight into a datadir (no radio), a sink to ``node`` that first meets ``replies``."""
    delivery = SinkDelivery(ChainDelivery(tmp_path / "rx", "regtest"), RpcSink(BitcoinRpc(node.url, user="u", password="p")))
    for status, body, content_type in replies:
        node.inject(status, body, content_type=content_type)
    for raw in blocks:
        delivery.submit(raw)
    delivery.poll(wait_s=20)
    return delivery


def test_warm_up_and_a_full_work_queue_are_retried(tmp_path, chain):
    warmup = json.dumps({"result": None, "error": {"code": -28, "message": "Loading block index..."}, "id": 1})
    with BitcoindDouble(tmp_path / "node", user="u", password="p") as node:
        delivery = delivered_by(tmp_path, node, chain[:20], [(500, warmup, "application/json"),
                                                             (503, "Work queue depth exceeded", "text/plain")])
        assert delivery.sink_stats.sink_retries == 2 and delivery.sink_stats.sink_pending == 0
        assert node.tip()[0] == 20 and delivery.sink_stats.sink_delivered == 20
        assert "Work queue depth exceeded" in delivery.sink_stats.sink_error
        delivery.close()


def test_refusals_are_counted_and_skipped_then_offered_again_on_the_next_run(tmp_path, chain):
    refused = json.dumps({"result": "duplicate-invalid", "error": None, "id": 1})
    with BitcoindDouble(tmp_path / "node", user="u", password="p") as node:
        delivery = delivered_by(tmp_path, node, chain[:5], [(200, refused, "application/json")])
        stats = delivery.sink_stats
        assert stats.sink_first_refusal == f"block 1 {display_hash(chain[0])}: duplicate-invalid"
        # block 1 never reached the node, so the node refuses its children in turn: counted, not retried in this run
        assert (stats.sink_refused, stats.sink_delivered, stats.sink_pending) == (5, 0, 0)
        assert [reply for _, reply in node.submitted] == ["prev-blk-not-found"] * 4 and node.tip()[0] == 0
        delivery.close()

        restarted = delivered_by(tmp_path, node, [])  # the next run asks the node what it has
        assert restarted.sink_stats.sink_delivered == 5 and node.tip() == (5, display_hash(chain[4]))
        restarted.close()


def test_a_server_that_is_not_bitcoind_is_a_clean_error(tmp_path):
    with BitcoindDouble(tmp_path / "node", user="u", password="p") as node:
        node.inject(200, json.dumps({"result": "duplicate", "error": None, "id": 1}))  # to getblockcount
        with pytest.raises(SinkError, match="does not answer like bitcoind"):
            SinkDelivery(ChainDelivery(tmp_path / "rx", "regtest"), RpcSink(BitcoinRpc(node.url, user="u", password="p")))


def test_the_node_must_be_on_the_receivers_chain(tmp_path):
    with BitcoindDouble(tmp_path / "node", chain="main", user="u", password="p") as node:
        with pytest.raises(SinkError, match="another chain"):
            SinkDelivery(ChainDelivery(tmp_path / "rx", "regtest"), RpcSink(BitcoinRpc(node.url, user="u", password="p")))


def test_the_double_answers_as_bitcoin_core_does(tmp_path, chain, forged):
    """The double itself (its replies are what the sink is tested against)."""
    with BitcoindDouble(tmp_path / "node", user="u", password="p") as node:
        rpc = BitcoinRpc(node.url, user="u", password="p")
        assert rpc.call("submitblock", chain[0].hex()) is None
        assert rpc.call("submitblock", chain[0].hex()) == "duplicate"
        assert rpc.call("submitblock", chain[2].hex()) == "prev-blk-not-found"
        assert rpc.call("submitblock", forged.hex()) == "bad-txnmrklroot"
        assert rpc.call("submitblock", overpaying_coinbase_block(chain[0], chain[1]).hex()) == "rejected"  # Core: bad-cb-amount
        assert rpc.call("getblockcount") == 1
        assert rpc.call("getbestblockhash") == rpc.call("getblockhash", 1) == display_hash(chain[0])
        for call, error in ((("getblockhash", 5), "error -8: Block height out of range"),
                            (("submitblock", "00zz"), "error -22: Block decode failed"),
                            (("getnetworkinfo",), "error -32601: Method not found")):
            with pytest.raises(RpcError, match=error):
                rpc.call(*call)
        # HTTP as Core: legacy errors are 500 (404 for an unknown method), a missing login 401 with a challenge
        statuses = {}
        for name, headers, body in (("unknown", {"Authorization": "Basic dTpw"}, b'{"id": 1, "method": "x", "params": []}'),
                                    ("out-of-range", {"Authorization": "Basic dTpw"}, b'{"id": 1, "method": "getblockhash", "params": [9]}'),
                                    ("no-login", {}, b"{}")):
            conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
            conn.request("POST", "/", body, headers)
            response = conn.getresponse()
            statuses[name] = (response.status, response.getheader("WWW-Authenticate"), response.read())
            conn.close()
        assert statuses["unknown"][0] == 404 and statuses["out-of-range"][0] == 500
        assert json.loads(statuses["out-of-range"][2]) == {"result": None, "error": {"code": -8, "message": "Block height out of range"}, "id": 1}
        assert statuses["no-login"][:2] == (401, 'Basic realm="jsonrpc"')


def test_a_sigint_while_rx_finishes_is_a_request_to_stop_not_a_traceback(tmp_path, recording):
    # rx has read the whole recording and waits (--sink-wait) for a node that is down: a SIGINT then
    # comes while it finishes. It must finish as it would have (blocks kept for the next run, its
    # summary printed, EX_TEMPFAIL), not die of a KeyboardInterrupt halfway through closing its files.
    import signal

    node = BitcoindDouble(tmp_path / "node", user="u", password="p")
    node.start()
    node.stop()  # a port nobody listens on
    proc = subprocess.Popen([CHAINCAST, "rx", str(recording), "--chain", "regtest", "--datadir", str(tmp_path / "rx"),
                             "--json", "--sink", "rpc", "--rpc-url", node.url, "--rpc-user", "u", "--rpc-password", "p",
                             "--sink-wait", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"HOME": str(tmp_path)})
    deadline, size, steady_since = time.monotonic() + 120, -1, time.monotonic()
    while time.monotonic() < deadline:  # blocks reach the datadir as the recording is read
        now = sum(f.stat().st_size for f in (tmp_path / "rx").rglob("blk*.dat"))
        if now != size:
            size, steady_since = now, time.monotonic()
        elif size > 0 and time.monotonic() - steady_since > 3.0:
            break  # nothing written for 3 s: the recording is read, rx waits for the node
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["tip_height"] == 206 and report["stopped_by"] == "SIGINT" and report["sink_delivered"] == 0
