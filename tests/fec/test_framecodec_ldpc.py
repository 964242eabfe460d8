"""The LDPC coding chain of every MODCOD: sizes, round trips, interleaver, shortening, batching."""

import os

import numpy as np
import pytest

from chaincast.fec.framecodec import FrameCodec, deinterleave_bits, interleave_bits
from chaincast.fec.ldpc.codes import syndrome
from chaincast.fec.ldpc.decode import ABANDON_AFTER
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.linkframe import OVERHEAD_BYTES, LinkFrame
from chaincast.fec.wire.profile import MODCODS, SLOT_SYMBOLS, column_levels, modcod_on_air
from chaincast.sdr.psk8 import psk8_llr_fast, psk8_map

LDPC_MODCODS = [m for m in MODCODS.values() if m.inner_code == "ldpc"]


def channel_order_llr(bits: np.ndarray, magnitude: float = 8.0) -> np.ndarray:
    return (magnitude * (1.0 - 2.0 * bits.astype(np.float32))).astype(np.float32)


def test_the_family_is_complete_and_each_modcod_fills_its_frame():
    names = {m.name for m in LDPC_MODCODS}
    for rate in ("1/3", "1/2", "3/5", "2/3", "3/4", "5/6"):
        assert {f"qpsk-{rate}", f"qpsk-{rate}-short"} <= names
    assert {"8psk-3/5", "8psk-2/3", "8psk-3/5-short", "8psk-2/3-short"} <= names
    for m in LDPC_MODCODS:
        assert m.coded_bits == (16200 if m.short_frame else 64800)
        assert m.slots * SLOT_SYMBOLS * m.bits_per_symbol == m.coded_bits
        assert modcod_on_air(m.pls_id, m.short_frame) is m
        codec = FrameCodec(m)
        k = codec.ldpc.k
        # equal RS codewords leave fewer than 8 bits per codeword of k unused (known zeros)
        assert k - 8 * m.rs_codewords < codec.outer_bits <= k
        assert m.rs_n <= 255 and m.data_bytes > OVERHEAD_BYTES
        # the data field carries nearly the code rate: RS costs 4 bytes of each ~250
        assert 0.97 * m.inner_rate * m.bits_per_symbol < m.spectral_efficiency < m.inner_rate * m.bits_per_symbol
    assert {m.slots for m in LDPC_MODCODS} == {360, 90, 240, 60}


@pytest.mark.parametrize("modcod", LDPC_MODCODS, ids=lambda m: m.name)
def test_noiseless_frame_round_trips_in_one_iteration(modcod):
    codec = FrameCodec(modcod)
    data = os.urandom(codec.data_bytes)
    bits = codec.encode(data)
    assert bits.shape == (modcod.coded_bits,) and bits.dtype == np.uint8
    codeword = deinterleave_bits(bits, modcod.bit_levels)
    assert not syndrome(codec.ldpc, codeword[None, :]).any()
    assert not codeword[codec.outer_bits:codec.ldpc.k].any()  # shortened bits are zero
    result = codec.decode(channel_order_llr(bits))
    assert result.ok and result.inner_ok and result.data == data
    assert result.iterations == 1 and result.corrected_bytes == 0


def test_three_segments_make_the_column_interleaver():
    bits = np.arange(12)
    # columns [0..3], [4..7], [8..11]; order (2, 0, 1): each row gives col2, col0, col1
    assert column_levels((2, 0, 1)) == (1, 2, 0)
    assert interleave_bits(bits, column_levels((2, 0, 1))).tolist() == [8, 0, 4, 9, 1, 5, 10, 2, 6, 11, 3, 7]
    assert interleave_bits(bits, ()) is bits and deinterleave_bits(bits, ()) is bits


def test_segments_fill_each_bit_level_in_codeword_order():
    bits = np.arange(18)  # six segments of 3: levels 2, 0, 1, 2, 1, 0
    out = interleave_bits(bits, (2, 0, 1, 2, 1, 0)).reshape(-1, 3)
    assert out[:, 0].tolist() == [3, 4, 5, 15, 16, 17]
    assert out[:, 1].tolist() == [6, 7, 8, 12, 13, 14]
    assert out[:, 2].tolist() == [0, 1, 2, 9, 10, 11]
    with pytest.raises(ValueError):  # level 2 would carry more bits than the others
        interleave_bits(bits, (2, 0, 1, 2, 2, 0))


@pytest.mark.parametrize("modcod", [m for m in LDPC_MODCODS if m.bits_per_symbol == 3], ids=lambda m: m.name)
def test_8psk_interleaver_is_a_permutation_and_deinterleaving_inverts_it(modcod):
    n = modcod.coded_bits
    index = interleave_bits(np.arange(n), modcod.bit_levels)
    assert np.array_equal(np.sort(index), np.arange(n))
    rng = np.random.default_rng(1)
    batch = rng.normal(size=(3, n)).astype(np.float32)
    assert np.array_equal(deinterleave_bits(interleave_bits(batch, modcod.bit_levels), modcod.bit_levels), batch)
    assert np.array_equal(interleave_bits(deinterleave_bits(batch, modcod.bit_levels), modcod.bit_levels), batch)


@pytest.mark.parametrize("name", ["8psk-3/5", "8psk-3/5-short"])
def test_8psk_3_5_puts_a_window_of_the_codeword_on_the_weak_bit(name):
    n = MODCODS[name].coded_bits
    symbols = interleave_bits(np.arange(n), MODCODS[name].bit_levels).reshape(-1, 3)
    assert np.array_equal(symbols[:, 1], np.arange(n // 3))  # b1: degree-12 and degree-3 information bits
    assert np.array_equal(symbols[:, 2], np.arange(13 * n // 30, 23 * n // 30))  # b2, the weak bit
    assert np.array_equal(symbols[:, 0], np.r_[n // 3 : 13 * n // 30, 23 * n // 30 : n])


@pytest.mark.parametrize("name", ["8psk-3/5-short", "8psk-2/3-short"])
def test_8psk_frame_decodes_through_awgn_with_exact_llrs(name):
    modcod = MODCODS[name]
    codec = FrameCodec(modcod)
    rng = np.random.default_rng(7)
    data = os.urandom(codec.data_bytes)
    x = psk8_map(codec.encode(data))
    esn0_db = {"3/5": 6.5, "2/3": 7.4}[modcod.code_rate]  # ~0.7 dB above where the short code's waterfall ends
    n0 = 10 ** (-esn0_db / 10)
    y = x + (rng.normal(0, np.sqrt(n0 / 2), x.size) + 1j * rng.normal(0, np.sqrt(n0 / 2), x.size)).astype(np.complex64)
    result = codec.decode(psk8_llr_fast(y, n0))
    assert result.ok and result.inner_ok and result.data == data and result.iterations > 1


def test_a_few_flipped_bits_are_corrected_and_batch_equals_single_decodes():
    modcod = MODCODS["qpsk-1/2-short"]
    codec = FrameCodec(modcod)
    rng = np.random.default_rng(2)
    fields = [os.urandom(codec.data_bytes) for _ in range(3)]
    llr = np.stack([channel_order_llr(codec.encode(f), 2.0) for f in fields])
    for row in llr:
        row[rng.choice(row.size, 150, replace=False)] *= -1  # 1% of the bits wrong
    batch = codec.decode_batch(llr)
    singles = [codec.decode(row) for row in llr]
    assert [r.data for r in batch] == [r.data for r in singles] == fields
    assert all(r.ok and r.inner_ok and r.iterations > 1 for r in batch)


def test_random_llrs_fail_cleanly_and_all_zero_llrs_are_not_confident():
    codec = FrameCodec(MODCODS["qpsk-3/5-short"])
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 3, (2, codec.modcod.coded_bits)).astype(np.float32)
    zeros = np.zeros((1, codec.modcod.coded_bits), np.float32)
    results = codec.decode_batch(np.concatenate([noise, zeros]))
    # noise is given up after ABANDON_AFTER iterations; zeros fail no check, so they run them all
    assert [r.iterations for r in results] == [ABANDON_AFTER, ABANDON_AFTER, codec.max_iterations]
    assert [r.abandoned for r in results] == [True, True, False]
    for result in results:
        assert not result.inner_ok
        with pytest.raises(WireError):  # whatever RS makes of it, the link frame's CRC refuses it
            LinkFrame.unpack(result.data)
    assert not results[0].ok and not results[1].ok  # noise is beyond the outer code too


def test_wrong_llr_shapes_are_refused():
    codec = FrameCodec(MODCODS["qpsk-1/2-short"])
    with pytest.raises(ValueError):
        codec.decode(np.zeros(100, np.float32))
    with pytest.raises(ValueError):
        codec.decode_batch(np.zeros((2, 100), np.float32))
