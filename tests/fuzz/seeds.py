"""Seed inputs for the fuzz targets: real encodings made by the uplink's own code.

A small deterministic regtest chain (``make_regtest_chain``, no shared data needed) goes through
the uplink's scheduler as it would on the air: its link-frame data fields carry chain index,
headers, block and bundle packets. Every function returns the same bytes on every call (fixed
clock, fixed key, zero BIP-340 auxiliary randomness), so the hypothesis tests stay deterministic.
"""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
from embit.ec import PrivateKey

from chaincast.fec.wire.bundle import pack_bundle
from chaincast.fec.wire.chainindex import ChainIndex
from chaincast.fec.wire.envelope import Envelope, EnvelopeBody, EnvelopeKind
from chaincast.fec.wire.headers import HeadersRun
from chaincast.fec.wire.linkframe import LinkFrame
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS, MODCODS_ON_AIR
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.sdr.plframe import encode_pls_bits
from chaincast.txside.chain.mining import REGTEST_GENESIS_HASH
from chaincast.txside.chain.regtest import make_regtest_chain
from chaincast.txside.envelopes import schnorr_sign
from chaincast.txside.packetizer import Packetizer, block_objects, link_frames
from chaincast.txside.recording import SigmfWriter
from chaincast.txside.scheduler import ChainBlock, ScheduleConfig, Scheduler, block_hash

REPO = Path(__file__).resolve().parents[2]
CHAIN_BLOCKS = 8
SMALL_MODCOD = MODCODS["qpsk-cc1/2"]  # the smallest data field (880 bytes)
DEFAULT_MODCOD = MODCODS[DEFAULT_PROFILE.modcod]
EPOCH_MS = 1_700_000_000_000
SIGNING_SECRET = hashlib.sha256(b"chaincast fuzz seed key").digest()


@cache
def chain() -> tuple[bytes, ...]:
    """Raw regtest blocks at heights 1..CHAIN_BLOCKS."""
    return tuple(make_regtest_chain(CHAIN_BLOCKS, validate=False))


@cache
def _scheduled() -> tuple[tuple[bytes, ...], bytes]:
    """The uplink scheduler's first data fields at the default MODCOD (a chain index, a headers
    run, carousel blocks and a backfill bundle, as on the air) and its chain index after them."""
    blocks = chain()
    scheduler = Scheduler(DEFAULT_MODCOD.data_bytes, 0.05, REGTEST_GENESIS_HASH,
                          ScheduleConfig(carousel_blocks=4), epoch_ms=lambda: EPOCH_MS)
    recent = [ChainBlock(h, block_hash(raw), raw[:80], raw) for h, raw in enumerate(blocks, 1)][-4:]
    scheduler.set_chain(recent, 1, b"".join(raw[:80] for raw in blocks))
    for height, raw in enumerate(blocks[:3], 1):
        scheduler.offer_backfill(height, raw)
    fields = tuple(scheduler.next_frame().field for _ in range(6))
    return fields, scheduler.chain_index().pack()


def scheduled_fields() -> tuple[bytes, ...]:
    return _scheduled()[0]


def _envelopes() -> list[Envelope]:
    key = PrivateKey(SIGNING_SECRET)
    bodies = [
        EnvelopeBody(EnvelopeKind.FILE, "notes.txt", "text/plain; charset=utf-8", EPOCH_MS // 1000, b"hello\n" * 20),
        EnvelopeBody(EnvelopeKind.MESSAGE, "message-20231114T221320Z.txt", "text/plain; charset=utf-8",
                     EPOCH_MS // 1000, "tip at height 8 \u2713".encode()),
        EnvelopeBody(EnvelopeKind.FILE, "empty", "", 0, b""),
    ]
    return [Envelope(body, schnorr_sign(key, body.signing_digest(), aux_rand=bytes(32))) for body in bodies]


@cache
def objects() -> tuple[BroadcastObject, ...]:
    """One object of every type the uplink sends."""
    blocks = chain()
    out = list(block_objects(blocks[:1], bundle_below=0))  # a block
    out += [obj for obj in block_objects(blocks[:5]) if obj.object_type == ObjectType.BLOCK_BUNDLE]
    run = HeadersRun(1, b"".join(raw[:80] for raw in blocks))
    out.append(BroadcastObject(ObjectType.HEADERS, run.object_id(), run.pack()))
    index = chain_indexes()[0]
    out.append(BroadcastObject(ObjectType.CHAIN_INDEX, hashlib.sha256(index).digest(), index))
    for envelope in _envelopes():
        packed = envelope.pack()
        out.append(BroadcastObject(ObjectType.FILE, hashlib.sha256(packed).digest(), packed))
    return tuple(out)


def packets() -> list[bytes]:
    """The first packets of every object, at the small and the default MODCOD's symbol sizes."""
    out = []
    for modcod in (SMALL_MODCOD, DEFAULT_MODCOD):
        stream = Packetizer(objects(), modcod.data_bytes).pass_packets(0)
        out += [pkt for _, pkt in zip(range(2 * len(objects())), stream)]
    return out


def packet_offsets() -> list[bytes]:
    """``packet-size-at`` inputs: a 2-byte offset, then a link frame whose packet starts there."""
    return [(4).to_bytes(2, "big") + field for field in scheduled_fields()[:2]]


def link_fields() -> list[bytes]:
    small = list(link_frames(Packetizer(objects(), SMALL_MODCOD.data_bytes).pass_packets(0), SMALL_MODCOD.data_bytes))
    filler = LinkFrame(()).pack(SMALL_MODCOD.data_bytes)
    return list(scheduled_fields()) + small[:4] + [filler]


def pls_inputs() -> list[bytes]:
    """``pls`` inputs: the PLS value (2 bytes), then the 128 soft bits the modem would see (float32)."""
    out = []
    for (modcod_id, short), _ in sorted(MODCODS_ON_AIR.items()):
        for pilots in (False, True):
            value = Pls(modcod_id, short, pilots).pack()
            soft = (1.0 - 2.0 * encode_pls_bits(value).astype(np.float32)).astype("<f4")
            out.append(value.to_bytes(2, "big") + soft.tobytes())
    return out


def bundles() -> list[bytes]:
    return [obj.payload for obj in objects() if obj.object_type == ObjectType.BLOCK_BUNDLE] + [pack_bundle(list(chain()[:1]))]


def chain_indexes() -> list[bytes]:
    """The scheduler's chain index (block and object entries, headers and backfill ranges) and a bare one."""
    bare = ChainIndex(1, EPOCH_MS, REGTEST_GENESIS_HASH, 0, REGTEST_GENESIS_HASH).pack()
    return [_scheduled()[1], bare]


def headers_runs() -> list[bytes]:
    blocks = chain()
    return [HeadersRun(1, b"".join(raw[:80] for raw in blocks)).pack(), HeadersRun(5, blocks[4][:80]).pack()]


def envelopes() -> list[bytes]:
    return [envelope.pack() for envelope in _envelopes()]


def object_inputs() -> list[bytes]:
    """``object`` inputs: type (1 byte), id (32 bytes), transfer data (payload + SHA-256)."""
    return [bytes([obj.object_type]) + obj.object_id + obj.encode() for obj in objects()]


@cache
def sigmf_metas() -> tuple[bytes, ...]:
    """The golden recording's metadata and what the uplink's SigMF writer produces."""
    out = [path.read_bytes() for path in sorted((REPO / "recordings").glob("*.sigmf-meta"))]
    with tempfile.TemporaryDirectory() as scratch:
        for info in (RecordingInfo(2.4e6, "cu8", 1.2e9, 1e6, "default"), RecordingInfo(1e6, "cf32_le")):
            with SigmfWriter(Path(scratch) / "seed", info) as writer:
                writer.write(np.zeros(4, np.complex64))
            out.append((Path(scratch) / "seed.sigmf-meta").read_bytes())
    return tuple(out)

