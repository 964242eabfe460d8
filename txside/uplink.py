"""Link-frame data fields -> PL frames -> IQ samples, for one profile and MODCOD."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from chaincast.fec.framecodec import FrameCodec
from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import Modcod, Profile
from chaincast.sdr import modem, plframe, scrambler
from chaincast.sdr.tx import Modulator


class Uplink:
    def __init__(self, profile: Profile, modcod: Modcod):
        if modcod.bits_per_symbol != 2:
            raise ValueError(f"{modcod.name}: only QPSK is implemented")
        self.profile, self.modcod = profile, modcod
        self.codec = FrameCodec(modcod)
        self.pls_value = Pls(modcod.pls_id, modcod.short_frame, profile.pilots).pack()
        self._scramble = scrambler.prbs_bits(modcod.coded_bits)

    @property
    def data_bytes(self) -> int:
        return self.codec.data_bytes

    def frame_symbols(self, data_field: bytes) -> np.ndarray:
        """One link frame -> ``complex64`` PL frame symbols (header, payload, pilots)."""
        bits = self.codec.encode(data_field) ^ self._scramble
        return plframe.build_frame(modem.qpsk_map(bits), self.pls_value)

    def iq(self, data_fields: Iterable[bytes], pad_s: float = 0.0) -> Iterator[np.ndarray]:
        """IQ chunks (``complex64``, mean power 1 during frames), one per PL frame, with
        ``pad_s`` seconds of silence before the first and after the last frame."""
        modulator = Modulator(self.profile.sample_rate_hz, self.profile.symbol_rate_hz, self.profile.rolloff)
        pad = np.zeros(int(round(pad_s * self.profile.sample_rate_hz)), np.complex64)
        if pad.size:
            yield pad
        for field in data_fields:
            yield modulator.process(self.frame_symbols(field))
        yield modulator.flush()
        if pad.size:
            yield pad
