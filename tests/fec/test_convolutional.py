import numpy as np
import pytest

from chaincast.fec import convolutional as cc


def noisy_llr(coded: np.ndarray, ec_n0_db: float, rng) -> np.ndarray:
    """BPSK LLRs (positive = 0) of ``coded`` bits at energy-per-coded-bit ``ec_n0_db``."""
    sigma2 = 1 / (2 * 10 ** (ec_n0_db / 10))
    y = 1 - 2 * coded.astype(np.float64) + rng.normal(0, np.sqrt(sigma2), coded.size)
    return (2 * y / sigma2).astype(np.float32)


def test_encoder_matches_the_generator_polynomials_bit_by_bit():
    # independent oracle: direct convolution of the input with the 171/133 generator taps
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2, 50).astype(np.uint8)
    padded = np.concatenate([np.zeros(6, np.uint8), u, np.zeros(6, np.uint8)])
    expect = []
    for t in range(u.size + 6):
        window = padded[t : t + 7][::-1]  # newest bit first
        for g in cc.GENERATORS:
            taps = np.array([(g >> (6 - i)) & 1 for i in range(7)], np.uint8)
            expect.append(int(np.dot(window, taps) % 2))
    assert cc.encode(u).tolist() == expect


def test_noiseless_decode_returns_the_input():
    rng = np.random.default_rng(1)
    u = rng.integers(0, 2, 1000).astype(np.uint8)
    llr = (1 - 2 * cc.encode(u).astype(np.float32)) * 4
    assert np.array_equal(cc.viterbi_decode(llr, u.size), u)


@pytest.mark.parametrize("seed", range(5))
def test_numba_kernel_equals_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 2, 200).astype(np.uint8)
    llr = noisy_llr(cc.encode(u), 1.0, rng)  # noisy enough that decisions matter
    assert np.array_equal(cc.viterbi_decode(llr, u.size), cc.viterbi_decode_reference(llr, u.size))


def test_coding_gain_at_low_snr():
    # At Eb/N0 = 4 dB uncoded BPSK has BER 1.2e-2; the K=7 code should be below 1e-4.
    rng = np.random.default_rng(2)
    u = rng.integers(0, 2, 20000).astype(np.uint8)
    llr = noisy_llr(cc.encode(u), 4.0 - 3.01, rng)
    errors = np.count_nonzero(cc.viterbi_decode(llr, u.size) != u)
    assert errors / u.size < 1e-4


def test_wrong_llr_count_is_refused():
    with pytest.raises(ValueError):
        cc.viterbi_decode(np.zeros(10, np.float32), 10)
