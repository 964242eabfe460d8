"""The demodulator on its own thread gives the frames the demodulator gives, in the same order,
and never lets the receiver's resume position pass a frame it has not returned yet."""

import numpy as np
import pytest

from chaincast.rxside.pipeline import ThreadedDemodulator
from chaincast.sdr.channel import cu8_to_complex
from chaincast.sdr.rx import Demodulator

REPO_RECORDING = "recordings/regtest-5blocks-8db.sigmf-data"  # regtest blocks 1-5, cu8 at 2.4 Msps


def _samples() -> np.ndarray:
    from pathlib import Path
    raw = np.fromfile(Path(__file__).resolve().parents[2] / REPO_RECORDING, np.uint8)
    return cu8_to_complex(raw)


def test_threaded_frames_equal_the_demodulators_and_latency_covers_what_is_not_returned():
    iq = _samples()
    plain = Demodulator(2.4e6, 1e6, 0.2)
    threaded = ThreadedDemodulator(Demodulator(2.4e6, 1e6, 0.2))
    expected, got, checks = [], [], []
    fed = 0
    for start in range(0, iq.size, 20_011):
        part = iq[start:start + 20_011]
        expected += plain.process(part)
        got += threaded.process(part)
        fed += part.size
        checks.append((fed - threaded.latency_samples, len(got)))  # a resume position the receiver could commit now
    expected += plain.flush()
    got += threaded.flush()
    threaded.close()
    assert len(got) == len(expected) >= 3
    for a, b in zip(got, expected):
        assert (a.pls_value, a.start_sample, a.symbol_index, a.locked) == (b.pls_value, b.start_sample, b.symbol_index, b.locked)
        assert np.array_equal(a.payload, b.payload) and a.noise_var == b.noise_var
    # every frame returned after a check starts at or after that check's resume position
    for safe, returned in checks:
        assert all(frame.start_sample >= safe for frame in got[returned:]), (safe, returned)


def test_an_error_in_the_thread_reaches_the_caller():
    class Broken(Demodulator):
        def process(self, iq):
            raise ValueError("bad samples")

    threaded = ThreadedDemodulator(Broken(2.4e6, 1e6, 0.2))
    threaded.process(np.zeros(100, np.complex64))
    with pytest.raises(ValueError, match="bad samples"):
        threaded.flush()
    threaded.close()
