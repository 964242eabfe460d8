"""What a chaincast IQ recording says about itself: the SigMF global fields both sides agree on.

SigMF (https://sigmf.org) core fields used: ``core:datatype`` (``cf32_le`` or ``cu8``),
``core:sample_rate`` (Hz), and ``core:frequency`` in the first capture when known. chaincast adds
``chaincast:symbol_rate`` (baud) and ``chaincast:profile`` (a name from
:data:`chaincast.fec.wire.profile.PROFILES`). Raw files carry none of this: their datatype comes from
the file suffix (``.cu8``, ``.cf32``) and the sample rate from the user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chaincast.fec.wire.errors import WireError

KEY_DATATYPE = "core:datatype"
KEY_SAMPLE_RATE = "core:sample_rate"
KEY_FREQUENCY = "core:frequency"
KEY_SYMBOL_RATE = "chaincast:symbol_rate"
KEY_PROFILE = "chaincast:profile"
KEY_EXTENSIONS = "core:extensions"
EXTENSION = {"name": "chaincast", "version": "1.0.0", "optional": True}  # SigMF requires declaring it

BYTES_PER_SAMPLE = {"cf32_le": 8, "cu8": 2}
RAW_SUFFIXES = {".cf32": "cf32_le", ".cfile": "cf32_le", ".cu8": "cu8"}


@dataclass(frozen=True)
class RecordingInfo:
    sample_rate_hz: float
    datatype: str
    frequency_hz: float | None = None
    symbol_rate_hz: float | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        if self.datatype not in BYTES_PER_SAMPLE:
            raise WireError(f"unsupported datatype {self.datatype!r} (supported: {', '.join(BYTES_PER_SAMPLE)})")
        if not self.sample_rate_hz > 0:
            raise WireError(f"sample rate must be positive, got {self.sample_rate_hz}")

    @property
    def bytes_per_sample(self) -> int:
        return BYTES_PER_SAMPLE[self.datatype]

    def global_fields(self) -> dict:
        fields = {KEY_DATATYPE: self.datatype, KEY_SAMPLE_RATE: float(self.sample_rate_hz), KEY_EXTENSIONS: [EXTENSION]}
        if self.symbol_rate_hz is not None:
            fields[KEY_SYMBOL_RATE] = float(self.symbol_rate_hz)
        if self.profile is not None:
            fields[KEY_PROFILE] = self.profile
        return fields

    @classmethod
    def from_sigmf(cls, global_fields: dict, first_capture: dict | None = None) -> "RecordingInfo":
        try:
            datatype = global_fields[KEY_DATATYPE]
            sample_rate = float(global_fields[KEY_SAMPLE_RATE])
        except KeyError as missing:
            raise WireError(f"SigMF metadata has no {missing.args[0]}") from None
        except (TypeError, ValueError):
            raise WireError("SigMF core:sample_rate is not a number") from None
        frequency = (first_capture or {}).get(KEY_FREQUENCY)
        symbol_rate = global_fields.get(KEY_SYMBOL_RATE)
        try:
            return cls(
                sample_rate_hz=sample_rate,
                datatype=str(datatype),
                frequency_hz=None if frequency is None else float(frequency),
                symbol_rate_hz=None if symbol_rate is None else float(symbol_rate),
                profile=global_fields.get(KEY_PROFILE),
            )
        except (TypeError, ValueError) as bad:
            raise WireError(f"bad SigMF field: {bad}") from None


def parse_sigmf_meta(text: str) -> RecordingInfo:
    """The text of a ``.sigmf-meta`` file -> RecordingInfo; WireError if it is not usable SigMF."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise WireError("not valid JSON, so not SigMF metadata") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("global"), dict):
        raise WireError("not SigMF metadata (no global object)")
    captures = doc.get("captures")
    first = captures[0] if isinstance(captures, list) and captures and isinstance(captures[0], dict) else None
    return RecordingInfo.from_sigmf(doc["global"], first)
