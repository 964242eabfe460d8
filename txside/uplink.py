"""Link-frame data fields -> PL frames -> IQ samples, for one profile; the MODCOD is per frame."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from chaincast.fec.framecodec import FrameCodec
from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import Modcod, Profile
from chaincast.sdr import modem, plframe, scrambler
from chaincast.sdr.tx import Modulator


class Uplink:
    """``modcod`` is the default of ``frame_symbols``; any other MODCOD can be given per frame."""

    def __init__(self, profile: Profile, modcod: Modcod):
        self.profile, self.modcod = profile, modcod
        self._coders: dict[str, tuple[FrameCodec, np.ndarray, int]] = {}
        self._coder(modcod)

    def _coder(self, modcod: Modcod) -> tuple[FrameCodec, np.ndarray, int]:
        if modcod.name not in self._coders:
            pls_value = Pls(modcod.pls_id, modcod.short_frame, self.profile.pilots).pack()
            self._coders[modcod.name] = (FrameCodec(modcod), scrambler.prbs_bits(modcod.coded_bits), pls_value)
        return self._coders[modcod.name]

    @property
    def data_bytes(self) -> int:
        return self._coder(self.modcod)[0].data_bytes

    def frame_symbols(self, data_field: bytes, modcod: Modcod | None = None) -> np.ndarray:
        """One link frame -> ``complex64`` PL frame symbols (header, payload, pilots)."""
        modcod = modcod or self.modcod
        codec, scramble, pls_value = self._coder(modcod)
        bits = codec.encode(data_field) ^ scramble
        return plframe.build_frame(modem.psk_map(bits, modcod.bits_per_symbol), pls_value)

    def iq(self, data_fields: Iterable[bytes | tuple[Modcod, bytes]], pad_s: float = 0.0) -> Iterator[np.ndarray]:
        """IQ chunks (``complex64``, mean power 1 during frames), one per PL frame, with
        ``pad_s`` seconds of silence before the first and after the last frame. An item of
        ``data_fields`` is a data field of the default MODCOD or a ``(modcod, data field)`` pair."""
        modulator = Modulator(self.profile.sample_rate_hz, self.profile.symbol_rate_hz, self.profile.rolloff)
        pad = np.zeros(int(round(pad_s * self.profile.sample_rate_hz)), np.complex64)
        if pad.size:
            yield pad
        for item in data_fields:
            modcod, field = item if isinstance(item, tuple) else (None, item)
            yield modulator.process(self.frame_symbols(field, modcod))
        yield modulator.flush()
        if pad.size:
            yield pad
