"""Our signal mixed into real RTL-SDR captures (LTE downlink, ADS-B): the receiver must decode it
there, with the capture's own DC offset, I/Q imbalance, quantisation and interferers in place.

The capture keeps its 8-bit samples and sample rate; our uplink is modulated at that rate
(1 Mbaud at 1.92 or 2 Msps: non-integer and integer samples per symbol), added at a power
ratio to the capture's, passed through a carrier offset, and re-quantised to cu8 as a dongle
with that much more input would deliver it.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS, Profile
from chaincast.sdr.channel import Channel, cu8_to_complex, quantize_cu8
from chaincast.txside.packetizer import Packetizer, block_object, link_frames
from chaincast.txside.uplink import Uplink
from tests.conftest import SHARED_DATA, shared_file

CHAINCAST = str(Path(sys.executable).with_name("chaincast"))


def uplink_iq(blocks, sample_rate_hz, modcod_name, passes=2):
    profile = Profile("default", 1e6, DEFAULT_PROFILE.rolloff, sample_rate_hz, modcod_name)
    uplink = Uplink(profile, MODCODS[modcod_name])
    packetizer = Packetizer((block_object(b) for b in blocks), uplink.data_bytes)
    fields = [f for p in range(passes) for f in link_frames(packetizer.pass_packets(p), uplink.data_bytes)]
    return np.concatenate(list(uplink.iq(fields, pad_s=0.002)))


@pytest.mark.parametrize("capture, rate, snr_db", [
    ("lte_cell_scanner/f2645_s1.92_g20_SamplingPPM26.2_1s_rtlsdr.bin", 1.92e6, 6.0),
    ("lte_cell_scanner/f1815_s1.92_from_dimitri_rtlsdr.bin", 1.92e6, 6.0),  # 0.45 dB / -3.3 deg IQ imbalance
    ("dump1090/modes1.bin", 2.0e6, 6.0),
])
def test_signal_mixed_into_a_real_capture_decodes(tmp_path, regtest_blocks, capture, rate, snr_db):
    raw = np.fromfile(shared_file(SHARED_DATA / "iq" / capture), dtype=np.uint8)
    real = cu8_to_complex(raw[: raw.size - raw.size % 2]).astype(np.complex128)
    blocks = regtest_blocks[:4]
    sig = uplink_iq(blocks, rate, "qpsk-3/5-short")
    sig = np.concatenate([Channel(rate, 1e6, None, cfo_hz=-45e3, seed=2).process(sig), np.zeros(2000, np.complex64)])
    floor = real - real.mean()
    p_real = float(np.mean(np.abs(floor) ** 2))
    # our signal at snr_db over everything in the capture (its noise and its interferers)
    scale = np.sqrt(p_real * 10 ** (snr_db / 10) / np.mean(np.abs(sig[sig != 0]) ** 2))
    reps = int(np.ceil(sig.size / real.size))
    mixed = np.tile(real, reps)[: sig.size] + scale * sig
    rms = np.sqrt(np.mean(np.abs(mixed - real.mean()) ** 2))
    data = quantize_cu8(mixed / rms, rms_lsb=40.0)  # the dongle's AGC backs off for the added power
    path = tmp_path / "mixed.cu8"
    data.tofile(path)
    rx = subprocess.run([CHAINCAST, "rx", str(path), "--sample-rate", str(rate), "--chain", "regtest",
                         "--datadir", str(tmp_path / "dd"), "--json"], capture_output=True, text=True, timeout=600)
    assert rx.returncode == 0, rx.stderr
    report = json.loads(rx.stdout.strip().splitlines()[-1])
    assert report["blocks_validated"] == len(blocks) and report["tip_height"] == len(blocks), report
    assert report["frames_ok"] >= 0.9 * report["frames_found"] > 0
