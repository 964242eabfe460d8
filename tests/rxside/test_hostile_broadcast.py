"""A forger on the channel: frames with valid CRCs spliced into a real broadcast, through the
simulated channel, into `chaincast rx` run three times on one state file. The receiver must exit
0 each time without a traceback, stay under 600 MB, and bring the genuine chain to its tip; and a
flood of forged symbols must not push the state file past its budget."""

import json
import random
import subprocess
import sys
from pathlib import Path

from chaincast.fec.wire.objects import BroadcastObject, ObjectType, object_id_of
from chaincast.fec.wire.packet import Packet
from chaincast.fec.wire.profile import DEFAULT_PROFILE, modcod_by_name
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.store import WAL_LIMIT_BYTES, ReceiverStore, symbol_cost
from chaincast.txside.packetizer import max_symbol_size
from chaincast.txside.uplink import Uplink
from tests import forgery
from tests.conftest import MAINNET_TIP
from tests.peak_rss import run_measured
from tests.rxside.test_assembler import packets_of

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))
RSS_LIMIT_MB = 600


def rx_measured(recording: Path, datadir: Path, *args: str) -> tuple[int, dict | None, str, float]:
    """(exit status, the JSON report, stderr, peak RSS in MB) of one `chaincast rx` run."""
    run = run_measured([CHAINCAST, "rx", recording, "--chain", "main", "--datadir", datadir, "--json", *args], datadir.parent)
    lines = run.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return run.returncode, report, run.stderr, run.peak_mib


def test_forged_frames_spliced_into_a_real_recording_neither_crash_nor_bloat_nor_block_the_receiver(tmp_path, mainnet_blocks):
    rng = random.Random(12)
    data_bytes = Uplink(DEFAULT_PROFILE, modcod_by_name(DEFAULT_PROFILE.modcod)).data_bytes
    limit = max_symbol_size(data_bytes)
    objects = forgery.genuine_objects(mainnet_blocks)
    shapes = [forgery.transfer_of(obj, limit) for obj in objects]
    # 1. every genuine object squatted first: its id with another transfer length
    first = [p for obj, (tl, ts) in zip(objects, shapes) for p in forgery.squatter(obj, tl, ts, rng)]
    # 2. a symbol whose source block number is beyond the object's (raptorq panicked on it)
    first += forgery.bad_block_number(objects[0], *shapes[0])
    # 3. a 2^30-byte object in 8-byte symbols (took 3.2 GB)
    first += forgery.huge_object(rng)
    # 4. 160 decoders' worth of huge objects, 4 MB to 1 GB declared
    huge = [p for i in range(160) for p in forgery.huge_object(rng, transfer_length=4_000_032 << (i % 9),
                                                                symbol_size=(8, 72, 1000, 4000)[i % 4], count=2)]
    passes = 3
    genuine = forgery.pass_fields(mainnet_blocks, data_bytes, passes)
    forged = {(0, 0): forgery.forged_fields(first, data_bytes), (0, 3): forgery.forged_fields(huge, data_bytes)}
    # 5. a garbage symbol of every object's exact shape ahead of each pass
    for p in range(passes):
        garbage = [q for obj, (tl, ts) in zip(objects, shapes)
                   for q in forgery.garbage_symbol(obj, tl, ts, 0xFFFFFF - p, rng)]
        forged.setdefault((p, 0), []).extend(forgery.forged_fields(garbage, data_bytes))
    clean, noisy = tmp_path / "up.sigmf-meta", tmp_path / "down.sigmf-meta"
    forgery.write_spliced_broadcast(genuine, DEFAULT_PROFILE, clean, forged)
    channel = subprocess.run([CHAINCAST, "channel", str(clean), str(noisy), "--esn0-db", "10", "--cfo-hz", "20000",
                              "--clock-ppm", "30", "--seed", "5"], capture_output=True, text=True, timeout=600)
    assert channel.returncode == 0, channel.stderr
    (tmp_path / "up.sigmf-data").unlink()

    datadir = tmp_path / "datadir"
    runs = [rx_measured(noisy, datadir), rx_measured(noisy, datadir), rx_measured(noisy, datadir, "--from-start")]
    for code, report, stderr, rss_mb in runs:
        assert code == 0 and "Traceback" not in stderr, stderr
        assert rss_mb < RSS_LIMIT_MB, rss_mb
        assert (report["tip_height"], report["tip_hash"]) == (438, MAINNET_TIP), report
    first_run = runs[0][1]
    assert first_run["packets_refused"] >= 1 + 4 + 2 * 160 * 5 // 9  # the bad block number, the 2^30 object, most huge ones
    assert first_run["blocks_rejected"] == 0
    print("peak RSS (MB) of the three runs:", [round(r[3]) for r in runs])


def test_twenty_thousand_forged_symbols_keep_the_state_file_within_its_budget(tmp_path):
    budget = 32 << 20
    store = ReceiverStore(tmp_path / "rx.sqlite", "main")
    asm = ObjectAssembler(store=store, disk_budget=budget)
    payload = random.Random(1).randbytes(900_000)
    genuine = BroadcastObject(ObjectType.BLOCK, object_id_of(ObjectType.BLOCK, payload), payload)
    packets = packets_of(genuine, 4712)  # K = 191
    rng = random.Random(2)
    done, peak = [], 0
    for i in range(20_000):  # 94 MB of forged symbols of objects that never complete
        asm.add(Packet(ObjectType.BLOCK, rng.randbytes(32), 4_000_032, 4712, 0, rng.randbytes(4712)))
        if i % 100 == 0:
            peak = max(peak, asm.stored_bytes)
            store.commit()
        if i % 100 == 50 and packets:  # the genuine object's symbols trickle in among them
            obj = asm.add(packets.pop(0))
            done += [obj] if obj else []
    store.commit()
    size, wal = (tmp_path / "rx.sqlite").stat().st_size, (tmp_path / "rx.sqlite-wal").stat().st_size
    print(f"state file {size / 2**20:.1f} MB + WAL {wal / 2**20:.1f} MB (budget {budget / 2**20:.0f} MB), "
          f"peak stored {peak / 2**20:.1f} MB")
    assert done == [genuine]
    assert peak <= budget and size <= budget * 1.05 and wal <= WAL_LIMIT_BYTES  # 5%: SQLite's page slack
    assert asm.stats.variants_pruned >= 20_000 - budget // symbol_cost(4712)
