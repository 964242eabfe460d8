"""Object assembly speed: packets per second through ``ObjectAssembler``, with the state file and
in memory, for genuine 1 MB objects (20 of them, symbols interleaved as the uplink sends them), and
with a forger's flood (one forged packet of a never-completing object per genuine packet).

The link carries about 31 packets of 4712-byte symbols a second at the default MODCOD, so this is
the headroom of the assembler, not a limit of the receiver. Writes bench-out/assembler.json.

    .venv/bin/python tests/bench/assembler.py
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from chaincast.fec.fountain import FountainEncoder
from chaincast.fec.wire.objects import BroadcastObject, ObjectType, object_id_of
from chaincast.fec.wire.packet import Packet
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.store import ReceiverStore

SYMBOL_SIZE = 4712  # the default profile's symbol
REPEATS = 3


def genuine_packets(rng: random.Random, objects: int = 20, size: int = 1_000_000) -> list[Packet]:
    per_object = []
    for _ in range(objects):
        payload = rng.randbytes(size)
        obj = BroadcastObject(ObjectType.BLOCK, object_id_of(ObjectType.BLOCK, payload), payload)
        encoder = FountainEncoder(obj.encode(), SYMBOL_SIZE)
        per_object.append([Packet(obj.object_type, obj.object_id, encoder.transfer_length, SYMBOL_SIZE, s.symbol_id, s.data)
                           for s in encoder.pass_symbols(0)])
    return [p for turn in zip(*per_object) for p in turn]


def with_flood(packets: list[Packet], rng: random.Random) -> list[Packet]:
    out = []
    for pkt in packets:
        out += [Packet(ObjectType.BLOCK, rng.randbytes(32), 4_000_032, SYMBOL_SIZE, 0, rng.randbytes(SYMBOL_SIZE)), pkt]
    return out


def run(packets: list[Packet], state: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = ReceiverStore(Path(tmp) / "rx.sqlite", "main") if state else None
        assembler = ObjectAssembler(store=store)
        started = time.perf_counter()
        done = 0
        for i, pkt in enumerate(packets):
            done += assembler.add(pkt) is not None
            if store is not None and i % 32 == 0:  # the receiver commits once per input chunk
                store.commit()
        elapsed = time.perf_counter() - started
        if store is not None:
            store.close()
    return len(packets) / elapsed, done


def main() -> None:
    rng = random.Random(1)
    genuine = genuine_packets(rng)
    flooded = with_flood(genuine, rng)
    rows = {}
    for name, packets in (("genuine", genuine), ("with a forged packet per genuine one", flooded)):
        for state in (True, False):
            rates, done = zip(*(run(packets, state) for _ in range(REPEATS)))
            assert set(done) == {20}, done
            rows[f"{name}, {'state file' if state else 'memory'}"] = round(statistics.median(rates))
    out = Path(__file__).resolve().parents[2] / "bench-out" / "assembler.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"packets_per_s": rows, "symbol_size": SYMBOL_SIZE, "repeats": REPEATS}, indent=1))
    print("| assembler: packets/s (median of 3) | value |\n|---|---|")
    for name, rate in rows.items():
        print(f"| {name} | {rate:,} |")
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()
