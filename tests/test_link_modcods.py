"""Uplink -> channel -> demodulator -> link decoder with LDPC MODCODs mixed frame by frame."""

import os

import numpy as np
import pytest

from chaincast.fec.framecodec import FrameCodec
from chaincast.fec.wire.linkframe import LinkFrame, capacity
from chaincast.fec.wire.objects import ObjectType
from chaincast.fec.wire.packet import HEADER_BYTES, Packet
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS
from chaincast.rxside.linkdecode import LinkDecoder
from chaincast.sdr.channel import Channel, cu8_to_complex, quantize_cu8
from chaincast.sdr.rx import Demodulator
from chaincast.txside.uplink import Uplink


def one_packet_field(modcod, symbol_id: int) -> tuple[bytes, Packet]:
    data_bytes = FrameCodec(modcod).data_bytes
    size = capacity(data_bytes) - HEADER_BYTES
    size -= size % 8
    pkt = Packet(ObjectType.BLOCK, os.urandom(32), 10**6, size, symbol_id, os.urandom(size))
    return LinkFrame((pkt.pack(),)).pack(data_bytes), pkt


def air(items, esn0_db, cfo_hz=20e3, ppm=30.0, seed=1):
    profile = DEFAULT_PROFILE
    uplink = Uplink(profile, MODCODS[profile.modcod])
    tx = np.concatenate(list(uplink.iq(items, pad_s=0.004)))
    channel = Channel(profile.sample_rate_hz, profile.symbol_rate_hz, esn0_db, cfo_hz=cfo_hz, clock_ppm=ppm, seed=seed)
    rx = np.concatenate([channel.process(tx), channel.flush()]) / np.sqrt(1 + channel.noise_power)
    iq = cu8_to_complex(quantize_cu8(rx.astype(np.complex64), rms_lsb=40.0))
    demod = Demodulator(profile.sample_rate_hz, profile.symbol_rate_hz, profile.rolloff)
    frames = []
    for i in range(0, iq.size, 1 << 18):
        frames += demod.process(iq[i:i + (1 << 18)])
    return frames + demod.flush(), demod


def test_a_stream_mixing_qpsk_8psk_normal_short_and_the_placeholder_code_decodes_every_frame():
    names = ["qpsk-1/2", "8psk-2/3", "qpsk-3/4-short", "8psk-3/5-short", "qpsk-cc1/2", "qpsk-1/3-short"]
    items, sent = [], []
    for i, name in enumerate(names * 2):
        field, pkt = one_packet_field(MODCODS[name], i)
        items.append((MODCODS[name], field))
        sent.append(pkt)
    frames, demod = air(items, esn0_db=10.0)
    assert [f.pls.modcod.name for f in frames] == names * 2
    link = LinkDecoder()
    received = [p for f in frames for p in link.push(f.pls_value, f.payload, f.noise_var)]
    assert received == []  # fewer than a batch of any MODCOD: all still queued
    received = link.flush()
    assert sorted(received, key=lambda p: p.symbol_id) == sent
    assert link.stats.frames_ok == len(sent) and link.stats.frames_failed == 0
    assert link.stats.ldpc_frames == len(sent) - 2 and link.stats.ldpc_failures == 0
    assert link.stats.frames_by_modcod == {name: 2 for name in names}


def test_batches_are_decoded_as_soon_as_they_fill():
    modcod = MODCODS["qpsk-1/2-short"]
    items = [(modcod, one_packet_field(modcod, i)[0]) for i in range(5)]
    frames, _ = air(items, esn0_db=6.0)
    link = LinkDecoder(batch_frames=2)
    counts = [len(link.push(f.pls_value, f.payload, f.noise_var)) for f in frames]
    assert counts == [0, 2, 0, 2, 0]
    assert len(link.flush()) == 1 and link.stats.frames_ok == 5


def test_short_qpsk_half_frames_decode_at_1_5_db_through_the_impaired_receiver():
    # The short rate-1/2 code's waterfall ends near 1.2 dB on ideal AWGN (bench); the receiver
    # with 20 kHz CFO, 30 ppm and 8-bit samples must lose little against that.
    modcod = MODCODS["qpsk-1/2-short"]
    items = [(modcod, one_packet_field(modcod, i)[0]) for i in range(24)]
    frames, demod = air(items, esn0_db=1.5, seed=9)
    link = LinkDecoder()
    for f in frames:
        link.push(f.pls_value, f.payload, f.noise_var)
    link.flush()
    assert demod.stats.frames_found >= 23  # the very first may fall to acquisition
    assert link.stats.frames_ok >= len(frames) - 1
    assert abs(np.median([f.esn0_db for f in frames]) - 1.5) < 0.4


def test_unknown_modcod_is_counted_not_decoded():
    link = LinkDecoder()
    assert link.push((63 << 2) | 1, np.zeros(100, np.complex64), 0.1) == []
    assert link.stats.frames_unknown_modcod == 1
    with pytest.raises(ValueError):
        link.push((MODCODS["qpsk-1/2"].pls_id << 2) | 1, np.zeros(100, np.complex64), 0.1)


@pytest.mark.parametrize("rounds, decoded", [(0, False), (2, True)])
def test_a_frame_lost_to_phase_wander_is_recovered_by_decision_aided_resync(rounds, decoded):
    # A phase wander the pilots did not follow (+-30 degrees over the frame) on a QPSK 1/2 frame at
    # Es/N0 2.0 dB: the first decoding fails; re-estimating the phase against the decoder's
    # tentative codeword and decoding again recovers it.
    from chaincast.sdr import plframe as pf

    modcod = MODCODS["qpsk-1/2"]
    field, pkt = one_packet_field(modcod, 7)
    uplink = Uplink(DEFAULT_PROFILE, modcod)
    payload = uplink.frame_symbols(field)[pf.payload_indices(modcod.slots, True)].astype(np.complex128)
    rng = np.random.default_rng(4)
    t = np.arange(payload.size)
    n0 = 10 ** (-2.0 / 10)
    wander = np.radians(30) * np.sin(2 * np.pi * t / 9000.0)
    noise = np.sqrt(n0 / 2) * (rng.normal(size=t.size) + 1j * rng.normal(size=t.size))
    received = (payload * np.exp(1j * wander) + noise).astype(np.complex64)
    link = LinkDecoder(resync_rounds=rounds)
    pls_value = (modcod.pls_id << 2) | 1
    packets = link.push(pls_value, received, n0, None, 2 * np.pi * 20 / 1e6) + link.flush()
    assert link.stats.ldpc_failures == (0 if decoded else 1)
    assert (packets == [pkt]) == decoded and link.stats.frames_resynced == (1 if decoded else 0)


def test_a_garbage_frame_given_up_by_ldpc_is_not_retried(monkeypatch):
    # a forger's frame with a valid header and a payload of noise: the LDPC decoder gives it up
    # after ABANDON_AFTER iterations, and the decision-aided retries (two rounds of 30 more) are
    # not spent on it; a genuine frame in the same batch is decoded
    from chaincast.fec.ldpc.decode import ABANDON_AFTER
    from chaincast.rxside import linkdecode
    from chaincast.sdr import plframe as pf

    retried = []

    def counted(payload, *args):  # the real re-estimation, counted
        retried.append(payload.size)
        return refine(payload, *args)

    refine = linkdecode.refine_phase_with_reference
    monkeypatch.setattr(linkdecode, "refine_phase_with_reference", counted)

    modcod = MODCODS["qpsk-3/5"]
    field, pkt = one_packet_field(modcod, 9)
    payload = Uplink(DEFAULT_PROFILE, modcod).frame_symbols(field)[pf.payload_indices(modcod.slots, True)]
    rng = np.random.default_rng(5)
    garbage = ((rng.normal(size=payload.size) + 1j * rng.normal(size=payload.size)) / np.sqrt(2)).astype(np.complex64)
    records = []
    link = LinkDecoder(on_frame=records.append)
    pls_value = (modcod.pls_id << 2) | 1
    packets = link.push(pls_value, garbage, 0.1) + link.push(pls_value, payload.astype(np.complex64), 0.1) + link.flush()
    assert packets == [pkt]
    assert [r.ok for r in records] == [False, True] and records[0].ldpc_iterations == ABANDON_AFTER
    assert retried == [] and link.stats.frames_resynced == 0
