import numpy as np
import pytest

from chaincast.sdr.modem import qpsk_map
from chaincast.sdr.tx import Modulator


@pytest.mark.parametrize("sps", [2.4, 2.0, 4.0, 2.31])
def test_streaming_equals_one_shot_and_power_is_one(sps):
    rng = np.random.default_rng(9)
    s = qpsk_map(rng.integers(0, 2, 2 * 6000).astype(np.uint8))
    one = Modulator(sps * 1e6, 1e6, 0.2)
    ref = np.concatenate([one.process(s), one.flush()])
    m = Modulator(sps * 1e6, 1e6, 0.2)
    cuts = [0, 1, 2, 700, 701, 3333, 6000]
    parts = [m.process(s[a:b]) for a, b in zip(cuts[:-1], cuts[1:])] + [m.flush()]
    got = np.concatenate(parts)
    assert got.dtype == np.complex64
    assert np.array_equal(got, ref)
    assert abs(ref.size - (s.size + 16) * sps) < 2
    assert abs(np.mean(np.abs(ref[500:-500]) ** 2) - 1.0) < 0.03
