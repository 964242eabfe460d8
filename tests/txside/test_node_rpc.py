"""The uplink's node client against the loopback node double (tests/txside/node_double.py; no
bitcoind is in our registries): JSON-RPC calls and batches, cookie and user/password auth, clear
errors for refused credentials and an unreachable node, and the follower's handling of ZMQ
notifications, polls and reorgs."""

import queue
import socket
import threading
import time

import pytest

from chaincast.fec.wire.bitcoin import sha256d
from chaincast.txside.node import (
    NodeAuthError, NodeFollower, NodeRpc, NodeUnreachable, RpcError, ZmqBlocks, cookie_path, initial_chain,
)
from tests.txside.node_double import REGTEST_GENESIS, NodeDouble, block_hash


@pytest.fixture()
def chain(regtest_blocks):
    return [REGTEST_GENESIS] + regtest_blocks


def test_the_doubles_genesis_block_is_regtests():
    assert block_hash(REGTEST_GENESIS)[::-1].hex() == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    txid = sha256d(REGTEST_GENESIS[81:])
    assert txid == REGTEST_GENESIS[36:68]  # its one transaction is the header's merkle root: the body is whole


def test_calls_and_batches_return_the_chain(tmp_path, chain):
    with NodeDouble(chain[:50], tmp_path) as node:
        assert node.cookie_file == cookie_path(tmp_path, "regtest")
        rpc = NodeRpc(node.rpc_url, cookie_file=node.cookie_file)
        assert rpc.getblockcount() == 49
        assert rpc.getblockhash(0).hex() == "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f"
        assert rpc.getbestblockhash() == block_hash(chain[49])
        assert rpc.getblock(block_hash(chain[7])) == chain[7]
        assert rpc.getblockheader(block_hash(chain[7]))["height"] == 7
        assert rpc.getblockheader_raw(block_hash(chain[7])) == chain[7][:80]
        assert rpc.hashes(0, 49) == [block_hash(raw) for raw in chain[:50]]
        assert rpc.headers(rpc.hashes(3, 5)) == b"".join(raw[:80] for raw in chain[3:6])
        with pytest.raises(RpcError, match="-8") as error:
            rpc.getblockhash(50)
        assert error.value.code == -8
        with pytest.raises(RpcError, match="Method not found"):
            rpc.call("stop")
        genesis, recent, first, headers = initial_chain(rpc, 10, 0)
        assert genesis == block_hash(chain[0]) and first == 0 and headers == b"".join(r[:80] for r in chain[:50])
        assert [b.height for b in recent] == list(range(40, 50)) and [b.raw for b in recent] == chain[40:50]


def test_user_and_password_work_and_wrong_ones_give_a_clear_error(tmp_path, chain):
    with NodeDouble(chain[:3], tmp_path, user="alice", password="secret") as node:
        assert NodeRpc(node.rpc_url, user="alice", password="secret").getblockcount() == 2
        with pytest.raises(NodeAuthError, match=r"refused the RPC credentials \(HTTP 401\): check --rpc-user/--rpc-password"):
            NodeRpc(node.rpc_url, user="alice", password="wrong").getblockcount()
        bad_cookie = tmp_path / "stale.cookie"
        bad_cookie.write_text("__cookie__:00")
        with pytest.raises(NodeAuthError, match=f"check the cookie {bad_cookie}"):
            NodeRpc(node.rpc_url, cookie_file=bad_cookie).getblockcount()
        assert node.auth_failures == 3  # the cookie was read again and tried once more
        with pytest.raises(NodeAuthError, match="cannot read the RPC cookie"):
            NodeRpc(node.rpc_url, cookie_file=tmp_path / "missing" / ".cookie")


def test_a_node_restart_with_a_new_cookie_is_followed(tmp_path, chain):
    with NodeDouble(chain[:3], tmp_path) as node:
        rpc = NodeRpc(node.rpc_url, cookie_file=node.cookie_file)
        assert rpc.getblockcount() == 2
        node.cookie_file.write_text("__cookie__:feedface")  # what a restarted bitcoind does
        node._accepted.add(node._basic("__cookie__:feedface"))
        node._accepted.discard(rpc._auth)
        assert rpc.getblockcount() == 2


def test_connection_refused_is_a_clear_error():
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rpc = NodeRpc(f"http://127.0.0.1:{port}", user="u", password="p", timeout_s=5)
    with pytest.raises(NodeUnreachable, match=f"cannot reach the node's RPC at 127.0.0.1:{port}: connection refused"):
        rpc.getblockcount()


def test_a_silent_node_times_out_with_a_clear_error():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)  # accepts the connection, never answers
        rpc = NodeRpc(f"http://127.0.0.1:{server.getsockname()[1]}", user="u", password="p", timeout_s=0.3)
        with pytest.raises(NodeUnreachable, match="did not answer within 0.3 s"):
            rpc.getblockcount()


def test_missing_credentials_are_refused_before_any_call():
    with pytest.raises(Exception, match="no RPC credentials"):
        NodeRpc("http://127.0.0.1:1")


def follower_for(node, **kwargs):
    rpc = NodeRpc(node.rpc_url, cookie_file=node.cookie_file)
    _, recent, _, _ = initial_chain(rpc, 20, 0)
    return NodeFollower(rpc, recent, recent=20, **kwargs)


def test_rawblock_on_the_tip_needs_no_rpc_and_a_reorg_is_walked_back(tmp_path, chain):
    with NodeDouble(chain[:100], tmp_path) as node:
        follower = follower_for(node)
        calls = len(node.calls)
        node.add_block(chain[100], notify=False)
        change = follower.check(block_hash(chain[100]), chain[100], "zmq-rawblock")
        assert len(node.calls) == calls  # the block came with the notification
        assert [(b.height, b.raw) for b in change.connected] == [(100, chain[100])] and change.disconnected == ()
        assert follower.check(block_hash(chain[100]), chain[100], "zmq-rawblock") is None  # a repeat
        # a reorg: blocks 99 and 100 replaced by two others (another branch's blocks, any bytes
        # with the right previous hash will do for the double), then a third on top
        fork = [bytearray(chain[150]), bytearray(chain[151]), bytearray(chain[152])]
        prev = block_hash(chain[98])
        for raw in fork:
            raw[4:36] = prev
            prev = block_hash(bytes(raw))
        fork = [bytes(raw) for raw in fork]
        node.reorg(98, fork, notify=False)
        change = follower.check(block_hash(fork[-1]), None, "zmq-hashblock")
        assert change.disconnected == (block_hash(chain[100]), block_hash(chain[99]))
        assert [(b.height, b.block_hash, b.raw) for b in change.connected] == \
            [(99 + i, block_hash(raw), raw) for i, raw in enumerate(fork)]
        assert follower.tip_height == 101


def test_zmq_and_polling_each_deliver_a_new_block(tmp_path, chain):
    for use_zmq in (True, False):
        with NodeDouble(chain[:60], tmp_path / str(use_zmq)) as node:
            follower = follower_for(node, zmq_endpoints=[node.zmq_url] if use_zmq else [],
                                    poll_interval_s=0.2, zmq_poll_interval_s=60.0)
            events, stop = queue.Queue(), threading.Event()
            thread = threading.Thread(target=follower.run, args=(events, stop), daemon=True)
            thread.start()
            try:
                time.sleep(0.5)  # ZMQ's slow joiner: let the subscription reach the publisher
                node.add_block(chain[60])
                change = events.get(timeout=5)
            finally:
                stop.set()
                thread.join(timeout=5)
            assert [b.height for b in change.connected] == [60]
            assert change.source.startswith("zmq") if use_zmq else change.source == "poll"


def test_zmq_sequence_gaps_are_counted(tmp_path, chain):
    with NodeDouble(chain[:3], tmp_path) as node:
        sub = ZmqBlocks([node.zmq_url])
        time.sleep(0.3)
        node.add_block(chain[3])
        node._seq[b"rawblock"] += 5  # five rawblock messages lost
        node.add_block(chain[4])
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 4 and time.monotonic() < deadline:
            got += sub.receive(0.2)
        sub.close()
        assert [topic for topic, _ in got] == [b"hashblock", b"rawblock"] * 2
        assert got[1][1] == chain[3] and got[0][1] == block_hash(chain[3])[::-1]
        assert sub.gaps == 1


def test_the_follower_survives_a_node_that_goes_away_and_comes_back(tmp_path, chain):
    with NodeDouble(chain[:30], tmp_path) as node:
        follower = follower_for(node, poll_interval_s=0.1)
    events, stop = queue.Queue(), threading.Event()
    thread = threading.Thread(target=follower.run, args=(events, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while follower.errors == 0 and time.monotonic() < deadline:  # the node is gone: errors, no crash
            time.sleep(0.05)
        assert follower.errors > 0 and thread.is_alive()
        with NodeDouble(chain[:31], tmp_path / "again", zmq_pub=False) as again:  # back, on another port
            follower.rpc = NodeRpc(again.rpc_url, cookie_file=again.cookie_file)
            change = events.get(timeout=10)
        assert [b.height for b in change.connected] == [30] and change.source == "poll"
    finally:
        stop.set()
        thread.join(timeout=5)
