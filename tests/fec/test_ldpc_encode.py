"""The linear-time systematic LDPC encoder."""

import numpy as np
import pytest

from chaincast.fec.ldpc import construct
from chaincast.fec.ldpc.codes import get_code, parity_check_matrix, syndrome
from chaincast.fec.ldpc.encode import encode

ALL = [(rate, n) for n in construct.FRAME_LENGTHS for rate in construct.RATES]


@pytest.mark.parametrize("rate,n", ALL)
def test_encoded_random_words_satisfy_every_check(rate, n):
    code = get_code(rate, n)
    rng = np.random.default_rng(construct.code_spec(rate, n).seed)
    info = rng.integers(0, 2, (3, code.k), dtype=np.uint8)
    words = encode(code, info)
    assert words.shape == (3, code.n) and words.dtype == np.uint8
    assert np.array_equal(words[:, : code.k], info)  # systematic
    h = parity_check_matrix(code).astype(np.int64)
    assert not np.any((h @ words.T.astype(np.int64)) % 2)  # independent of syndrome()
    assert not syndrome(code, words).any()


def test_encoder_is_linear_and_takes_one_dimensional_input():
    code = get_code("3/5", 16200)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 2, (2, code.k), dtype=np.uint8)
    ca, cb = encode(code, a), encode(code, b)
    assert ca.shape == (code.n,)
    assert np.array_equal(encode(code, a ^ b), ca ^ cb)
    assert not encode(code, np.zeros(code.k, np.uint8)).any()


def test_bad_input_is_refused():
    code = get_code("1/2", 16200)
    with pytest.raises(ValueError):
        encode(code, np.zeros(code.k - 1, np.uint8))
    with pytest.raises(ValueError):
        encode(code, np.full(code.k, 2, np.uint8))
