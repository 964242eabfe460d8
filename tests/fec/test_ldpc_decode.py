"""Layered self-corrected offset min-sum LDPC decoder: numba kernel vs NumPy reference, invariants, FER sanity."""

import numpy as np
import pytest

from chaincast.fec.ldpc.codes import get_code
from chaincast.fec.ldpc.decode import decode, decode_reference
from chaincast.fec.ldpc.encode import encode


def qpsk_llr(words: np.ndarray, esn0_db: float, rng) -> np.ndarray:
    """LLRs (positive = 0) of ``words`` sent as unit-energy QPSK over AWGN at ``esn0_db``."""
    n0 = 10 ** (-esn0_db / 10)
    y = (1 - 2 * words.astype(np.float64)) / np.sqrt(2) + rng.normal(0, np.sqrt(n0 / 2), words.shape)
    return (2 * np.sqrt(2) * y / n0).astype(np.float32)


def random_frames(code, count, esn0_db, seed):
    rng = np.random.default_rng(seed)
    info = rng.integers(0, 2, (count, code.k), dtype=np.uint8)
    words = encode(code, info)
    return info, words, qpsk_llr(words, esn0_db, rng)


@pytest.mark.parametrize("alpha,offset,width,self_correct",
                         [(0.9, 0.4, 2, True), (0.75, 0.0, 5, True), (0.9, 0.4, 2, False), (0.9, 0.4, 32, False)])
def test_numba_kernel_equals_reference_on_noisy_frames(alpha, offset, width, self_correct):
    code = get_code("1/2", 16200)  # z = 180
    _, _, llr = random_frames(code, 5, 0.5, seed=1)  # below threshold: nothing converges
    fast = decode(code, llr, max_iterations=3, alpha=alpha, offset=offset, width=width, self_correct=self_correct)
    slow = decode_reference(code, llr, max_iterations=3, alpha=alpha, offset=offset, self_correct=self_correct)
    assert np.array_equal(fast.codeword, slow.codeword)
    assert np.array_equal(fast.iterations, slow.iterations)
    assert np.array_equal(fast.ok, slow.ok)
    # the two decoders differ here, so the equality above covers the self-correction path
    other = decode(code, llr, max_iterations=3, alpha=alpha, offset=offset, width=width, self_correct=not self_correct)
    assert not np.array_equal(other.codeword, fast.codeword)


def test_numba_kernel_equals_reference_when_frames_stop_at_different_iterations():
    code = get_code("3/5", 16200)  # z = 360, q = 18
    _, words, llr = random_frames(code, 4, 3.5, seed=2)
    fast = decode(code, llr, max_iterations=12, width=3)  # slot refill exercised
    slow = decode_reference(code, llr, max_iterations=12)
    assert np.array_equal(fast.iterations, slow.iterations)
    assert len(set(fast.iterations.tolist())) > 1
    assert np.array_equal(fast.codeword, slow.codeword)
    assert fast.ok.all() and np.array_equal(fast.codeword, words)


def test_width_32_kernel_equals_reference_with_slot_refill():
    # 34 frames >= 32 run the kernel specialised for 32 slots; two frames wait for a free slot
    code = get_code("3/5", 16200)
    _, words, good = random_frames(code, 17, 3.5, seed=6)
    _, _, hopeless = random_frames(code, 17, 1.0, seed=7)
    llr = np.concatenate([good, hopeless])[np.random.default_rng(8).permutation(34)]
    fast = decode(code, llr, max_iterations=7)
    slow = decode_reference(code, llr, max_iterations=7)
    assert np.array_equal(fast.iterations, slow.iterations)
    assert len(set(fast.iterations.tolist())) > 1
    assert np.array_equal(fast.codeword, slow.codeword)
    assert np.array_equal(fast.ok, slow.ok)


def test_numba_kernel_equals_reference_when_frames_are_abandoned():
    # noise and cut frames among good ones, slots refilled: both decoders give up the same frames
    # at the same iteration (abandon_after 3 here so that the reference stays quick)
    code = get_code("3/5", 16200)
    rng = np.random.default_rng(9)
    _, words, llr = random_frames(code, 6, 3.5, seed=10)
    llr[1] = rng.normal(0, 3, code.n)
    llr[4, code.n // 3:] = rng.normal(0, 3, code.n - code.n // 3)
    fast = decode(code, llr, max_iterations=8, width=4, abandon_after=3, abandon_share=0.25)
    slow = decode_reference(code, llr, max_iterations=8, abandon_after=3, abandon_share=0.25)
    assert np.array_equal(fast.iterations, slow.iterations)
    assert np.array_equal(fast.codeword, slow.codeword)
    assert np.array_equal(fast.ok, slow.ok)
    assert fast.iterations[1] == 3 and not fast.ok[1]  # abandoned, not run to 8
    assert fast.ok[[0, 2, 3, 5]].all()


def test_one_noise_frame_does_not_hold_its_batch_to_max_iterations():
    # a forger's or a gap's garbage frame among 31 good ones: given up after ABANDON_AFTER
    # iterations instead of running the whole 32-slot batch to 100
    from chaincast.fec.ldpc.decode import ABANDON_AFTER, DEFAULT_MAX_ITERATIONS
    code = get_code("3/5", 64800)
    info, _, llr = random_frames(code, 32, 3.0, seed=11)
    llr[17] = np.random.default_rng(12).normal(0, 3, code.n)
    result = decode(code, llr)
    assert result.iterations[17] == ABANDON_AFTER < DEFAULT_MAX_ITERATIONS and not result.ok[17]
    assert np.flatnonzero(result.abandoned).tolist() == [17]
    good = np.delete(np.arange(32), 17)
    assert result.ok[good].all() and np.array_equal(result.info_bits[good], info[good])
    never = decode(code, llr, abandon_after=0)
    assert never.iterations[17] == DEFAULT_MAX_ITERATIONS and not never.abandoned.any()


def test_all_zero_llrs_decode_to_nothing_confident():
    code = get_code("1/2", 16200)
    llr = np.zeros((3, code.n), np.float32)
    # width 2 < batch: the third frame enters a slot that another frame has left
    for result in (decode(code, llr, max_iterations=4, width=2), decode_reference(code, llr, max_iterations=4)):
        assert not result.ok.any()
        assert np.all(result.iterations == 4)


@pytest.mark.parametrize("rate,n", [("1/2", 16200), ("3/5", 16200), ("1/2", 64800), ("3/5", 64800), ("5/6", 16200)])
def test_noiseless_frames_decode_in_one_iteration(rate, n):
    code = get_code(rate, n)
    info, words, _ = random_frames(code, 2, 0.0, seed=3)
    llr = (1 - 2 * words.astype(np.float32)) * 20
    result = decode(code, llr)
    assert result.ok.all() and np.all(result.iterations == 1)
    assert np.array_equal(result.codeword, words) and np.array_equal(result.info_bits, info)


def test_qpsk_rate_half_short_frames_decode_at_2_db():
    code = get_code("1/2", 16200)
    info, _, llr = random_frames(code, 100, 2.0, seed=4)
    result = decode(code, llr)
    good = result.ok & np.all(result.info_bits == info, axis=1)
    assert np.count_nonzero(good) >= 99


def test_self_correction_decodes_frames_plain_min_sum_loses():
    # QPSK 3/5 n = 64800 at 2.05 dB, 0.18 dB under DVB-S2's threshold: plain offset min-sum (the
    # previous decoder, with its own alpha / offset) loses 27 of these 64 frames, the self-correcting
    # decoder 7, in fewer iterations
    code = get_code("3/5", 64800)
    info, _, llr = random_frames(code, 64, 2.05, seed=11)
    plain = decode(code, llr, self_correct=False)
    corrected = decode(code, llr)
    lost_plain = np.count_nonzero((plain.info_bits != info).any(axis=1))
    lost_corrected = np.count_nonzero((corrected.info_bits != info).any(axis=1))
    assert lost_corrected * 2 < lost_plain
    assert corrected.iterations.mean() < plain.iterations.mean()


def test_one_dimensional_input_is_a_batch_of_one_and_result_is_read_only():
    code = get_code("3/5", 16200)
    _, words, llr = random_frames(code, 1, 4.0, seed=5)
    result = decode(code, llr[0])
    assert result.codeword.shape == (1, code.n) and result.ok.shape == (1,)
    with pytest.raises(ValueError):
        result.codeword[0, 0] = 1


def test_bad_input_is_refused():
    code = get_code("1/2", 16200)
    with pytest.raises(ValueError):
        decode(code, np.zeros(code.n - 1, np.float32))
    with pytest.raises(ValueError):
        decode(code, np.full(code.n, np.nan, np.float32))
    with pytest.raises(ValueError):
        decode(code, np.zeros(code.n, np.float32), max_iterations=0)


def test_confident_inputs_with_confidently_wrong_bits_decode_like_float():
    # inputs at and beyond the channel clip with 2% of the bits confidently wrong: messages reach
    # MAX_MESSAGE at once. A first fixed-point version clipped posteriors and diverged here into
    # thousands of wrong bits (float32 needed 3 iterations); the reference asserts the int16 bounds
    from chaincast.fec.ldpc.decode import LLR_SCALE, MAX_CHANNEL, quantise_llr

    code = get_code("3/5", 16200)
    rng = np.random.default_rng(9)
    words = encode(code, rng.integers(0, 2, (4, code.k), dtype=np.uint8))
    amplitude = np.array([50.0, 100.0, 300.0, 2 * MAX_CHANNEL / LLR_SCALE], np.float32)[:, None]
    llr = (1 - 2 * words.astype(np.float32)) * amplitude
    flips = rng.random(llr.shape) < 0.02
    llr[flips] *= -0.6
    assert np.abs(quantise_llr(llr)).max() == MAX_CHANNEL
    fast = decode(code, llr, max_iterations=8, width=3)
    slow = decode_reference(code, llr, max_iterations=8)
    assert np.array_equal(fast.codeword, slow.codeword) and np.array_equal(fast.iterations, slow.iterations)
    assert fast.ok.all() and np.array_equal(fast.codeword, words) and np.all(fast.iterations <= 6)


def test_hard_decisions_at_the_channel_bound_with_3_percent_flipped_decode():
    # equal channel and message bounds deadlocked here (a wrong bit of two checks sends each 0)
    from chaincast.fec.ldpc.decode import LLR_SCALE, MAX_CHANNEL

    code = get_code("3/5", 16200)
    rng = np.random.default_rng(10)
    words = encode(code, rng.integers(0, 2, (4, code.k), dtype=np.uint8))
    llr = (1 - 2 * words.astype(np.float32)) * 4 * MAX_CHANNEL / LLR_SCALE
    llr[rng.random(llr.shape) < 0.03] *= -1
    result = decode(code, llr, max_iterations=20)
    assert result.ok.all() and np.array_equal(result.codeword, words)


def test_quantiser_rounds_and_clips():
    from chaincast.fec.ldpc.decode import LLR_SCALE, MAX_CHANNEL, quantise_llr

    q = quantise_llr(np.array([0.0, 1.0, -1.0, 0.49 / LLR_SCALE, 0.51 / LLR_SCALE, 1e9, -1e9], np.float32))
    assert q.dtype == np.int16
    assert q.tolist() == [0, LLR_SCALE, -LLR_SCALE, 0, 1, MAX_CHANNEL, -MAX_CHANNEL]


def test_quantiser_kernel_equals_the_numpy_reference():
    from chaincast.fec.ldpc.decode import LLR_SCALE, quantise_llr, quantise_llr_reference

    rng = np.random.default_rng(12)
    llr = rng.normal(0, 40, (3, 5000)).astype(np.float32)
    llr[0, :8] = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1e30, -1e30, 0.0]) / LLR_SCALE  # ties go to even, as np.rint
    for x in (llr, llr[1], llr.astype(np.float64), llr[:, ::2]):
        got = quantise_llr(x)
        assert got.dtype == np.int16 and got.flags.c_contiguous and got.shape == x.shape
        assert np.array_equal(got, quantise_llr_reference(x))
