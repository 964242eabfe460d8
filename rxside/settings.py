"""What the receiver's options mean: their defaults and limits, and ``Tuning``, the settings a
radio is asked to take.

Imports nothing but the standard library, so that ``chaincast rx --help`` and a usage error answer
before the demodulator, numba and libbitcoinkernel are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SAMPLE_RATE_HZ = 2.4e6  # an RTL-SDR's highest rate without lost samples on most hosts
SAMPLE_RATE_RANGE_HZ = (1e3, 100e6)  # what the receiver takes, in samples/s
MAX_SAMPLES_PER_SYMBOL = 64  # the matched filter and the timing loop grow with it; more only costs time and memory
DEFAULT_RING_SECONDS = 2.0  # of input held between a radio's reader and the receive loop
DEFAULT_MEMORY_BUDGET = 256 << 20  # bytes of partial objects' symbols kept in memory when there is no state file
DEFAULT_DISK_BUDGET = 1 << 30  # bytes of them kept in the state file


@dataclass(frozen=True)
class Tuning:
    """What a radio is asked to do. ``frequency_hz``: the tuner's centre frequency (for a
    satellite: the LNB's IF, downlink minus LO); ``gain_db`` None: the tuner's automatic gain;
    ``ppm``: the dongle's crystal correction; ``bias_tee``: switch on the dongle's bias tee (RTL-SDR
    Blog dongles). ``downlink_hz`` and ``lnb_lo_hz`` are kept for the recording metadata."""

    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ
    frequency_hz: float | None = None
    gain_db: float | None = None
    ppm: int = 0
    bias_tee: bool = False
    downlink_hz: float | None = None
    lnb_lo_hz: float | None = None

    def capture(self) -> dict:
        """The settings as recording metadata (SigMF ``chaincast:`` fields), None ones left out."""
        fields = {"frequency_hz": self.frequency_hz, "gain_db": self.gain_db if self.gain_db is not None else "auto",
                  "ppm": self.ppm, "bias_tee": self.bias_tee, "downlink_hz": self.downlink_hz, "lnb_lo_hz": self.lnb_lo_hz}
        return {key: value for key, value in fields.items() if value is not None}
