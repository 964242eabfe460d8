"""Implementation loss of the whole receiver: FER of a MODCOD through the impaired channel and
``chaincast.sdr.rx`` + the link decoder, against the decoder alone on ideal AWGN LLRs.

Frames carry random link-frame data fields (no chain), back to back, modulated by the uplink at the
default profile (1 Mbaud, 2.4 Msps); the channel adds the impairments below and the RTL-SDR's
8-bit quantisation; the receiver starts with no knowledge of where frames begin. A frame counts
as an error when its data field is not delivered (missed by sync, header failure, or LDPC / RS /
CRC failure; decoded by the receiver's own ``LinkDecoder``). Results per Es/N0; the ideal decoder's Es/N0 at FER 1e-3 comes from
``bench-out/fer/<modcod>.json`` (``fer_sweep.py``).

    python tests/bench/impl_loss.py --modcod qpsk-3/5 --esn0 2.3 2.4 2.5 --frames 2000

Default impairments (issue 4): CFO 200 kHz, clock 100 ppm, Wiener phase noise 20 Hz linewidth,
8-bit quantisation at 40 LSB RMS. Writes ``bench-out/impl_loss_<modcod>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from chaincast.fec.wire.linkframe import LinkFrame  # noqa: E402
from chaincast.fec.wire.objects import ObjectType  # noqa: E402
from chaincast.fec.wire.packet import Packet  # noqa: E402
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS  # noqa: E402
from chaincast.rxside.linkdecode import LinkDecoder  # noqa: E402
from chaincast.sdr.channel import Channel, cu8_to_complex, quantize_cu8  # noqa: E402
from chaincast.sdr.rx import Demodulator  # noqa: E402
from chaincast.txside.uplink import Uplink  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fer_sweep import esn0_at_target  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out"


def run_point(modcod, esn0_db: float, frames: int, impair: dict, seed: int) -> dict:
    profile = DEFAULT_PROFILE
    uplink = Uplink(profile, modcod)
    channel = Channel(profile.sample_rate_hz, profile.symbol_rate_hz, esn0_db, seed=seed, **impair)
    gain = 1.0 / np.sqrt(1.0 + channel.noise_power)  # the ideal AGC of `chaincast channel`
    demod = Demodulator(profile.sample_rate_hz, profile.symbol_rate_hz, profile.rolloff)
    link = LinkDecoder()  # the receiver's own link decoder; a frame counts when its packet comes out
    rng = np.random.default_rng(seed)
    sent = [_random_packet(rng) for _ in range(frames)]
    index = {pkt: i for i, pkt in enumerate(sent)}
    delivered = np.zeros(frames, bool)
    fields = (LinkFrame((pkt,)).pack(uplink.data_bytes) for pkt in sent)

    def collect(packets) -> None:
        for pkt in packets:
            delivered[index[pkt.pack()]] = True

    def take(pl_frames) -> None:
        for f in pl_frames:
            collect(link.push(f.pls_value, f.payload, f.noise_var, None, f.phase_walk_var))

    started = time.perf_counter()
    for part in uplink.iq(fields, pad_s=0.003):
        take(demod.process(cu8_to_complex(quantize_cu8(channel.process(part) * gain, 40.0))))
    take(demod.process(cu8_to_complex(quantize_cu8(channel.flush() * gain, 40.0))))
    take(demod.flush())
    collect(link.flush())
    errors = int(frames - delivered.sum())
    # the first frame may be lost to acquisition ("lock within two frames" is its own target);
    # the steady-state FER counts the others
    steady = int(frames - 1 - delivered[1:].sum())
    return {"esn0_db": esn0_db, "frames": frames, "found": demod.stats.frames_found,
            "header_failures": demod.stats.header_failures, "frame_errors": errors, "fer": errors / frames,
            "first_frame_lost": not delivered[0], "steady_frame_errors": steady, "steady_fer": steady / (frames - 1),
            "wall_s": round(time.perf_counter() - started, 1)}


def _random_packet(rng: np.random.Generator) -> bytes:
    """A small packet with random contents, so that every link frame differs."""
    return Packet(ObjectType.BLOCK, rng.bytes(32), 1000, 32, int(rng.integers(0, 2**32)), rng.bytes(32)).pack()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modcod", default="qpsk-3/5")
    p.add_argument("--esn0", type=float, nargs="+", required=True)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--cfo-hz", type=float, default=200e3)
    p.add_argument("--clock-ppm", type=float, default=100.0)
    p.add_argument("--phase-noise-hz", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    modcod = MODCODS[args.modcod]
    impair = {"cfo_hz": args.cfo_hz, "clock_ppm": args.clock_ppm, "phase_noise_linewidth_hz": args.phase_noise_hz}
    points = []
    for esn0 in args.esn0:
        pt = run_point(modcod, esn0, args.frames, impair, args.seed)
        points.append(pt)
        print(f"{args.modcod} {esn0:5.2f} dB: {pt['frame_errors']}/{pt['frames']} lost (FER {pt['fer']:.2e}; "
              f"first frame {'lost' if pt['first_frame_lost'] else 'ok'}, steady FER {pt['steady_fer']:.2e}), "
              f"found {pt['found']}, header failures {pt['header_failures']} ({pt['wall_s']} s)", flush=True)
    ideal_path = OUT / "fer" / f"{args.modcod.replace('/', '_')}.json"
    ideal = json.loads(ideal_path.read_text())["esn0_at_fer_1e-3_db"] if ideal_path.exists() else None
    receiver = esn0_at_target([{**pt, "fer": pt["steady_fer"]} for pt in points])
    loss = None if ideal is None or receiver is None else receiver - ideal
    report = {"modcod": args.modcod, "impairments": impair, "points": points, "receiver_esn0_at_fer_1e-3_db": receiver,
              "ideal_esn0_at_fer_1e-3_db": ideal, "implementation_loss_db": loss}
    OUT.mkdir(exist_ok=True)
    (OUT / f"impl_loss_{args.modcod.replace('/', '_')}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"receiver FER 1e-3 at {receiver} dB, ideal decoder at {ideal} dB: loss {loss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
