import os

import numpy as np

from chaincast.fec.framecodec import FrameCodec
from chaincast.fec.outer import InterleavedReedSolomon
from chaincast.fec.wire.profile import MODCODS


def test_interleaved_rs_corrects_a_burst_spread_over_codewords():
    rs = InterleavedReedSolomon(252, 32, 4)
    data = os.urandom(rs.data_bytes)
    coded = bytearray(rs.encode(data))
    for i in range(60):  # 60-byte burst = 15 errors per codeword, t = 16
        coded[100 + i] ^= 0xA5
    result = rs.decode(bytes(coded))
    assert result.ok and result.data == data and result.corrected_bytes == 60


def test_interleaved_rs_reports_uncorrectable_codewords():
    rs = InterleavedReedSolomon(252, 32, 4)
    data = os.urandom(rs.data_bytes)
    coded = bytearray(rs.encode(data))
    for i in range(0, 4 * 20):  # 20 errors in each codeword: beyond t = 16
        coded[i] ^= 0xFF
    result = rs.decode(bytes(coded))
    assert not result.ok and result.failed_codewords == 4


def test_frame_codec_round_trip_through_noise():
    codec = FrameCodec(MODCODS["qpsk-cc1/2"])
    data = os.urandom(codec.data_bytes)
    bits = codec.encode(data)
    assert bits.size == MODCODS["qpsk-cc1/2"].coded_bits
    rng = np.random.default_rng(3)
    n0 = 1 / 10 ** (2.0 / 10)  # QPSK at Es/N0 = 2 dB
    y = (1 - 2 * bits.reshape(-1, 2).astype(np.float64)) / np.sqrt(2) + rng.normal(0, np.sqrt(n0 / 2), (bits.size // 2, 2))
    result = codec.decode((2 * np.sqrt(2) * y / n0).astype(np.float32).ravel())
    assert result.ok and result.data == data
