"""What a chaincast IQ recording says about itself: the SigMF global fields both sides agree on.

SigMF (https://sigmf.org) core fields used: ``core:datatype`` (``cf32_le`` or ``cu8``),
``core:sample_rate`` (Hz), ``core:num_channels`` (1 when given), and ``core:frequency`` in the
first capture when known. chaincast adds ``chaincast:symbol_rate`` (baud) and ``chaincast:profile``
(a name from :data:`chaincast.fec.wire.profile.PROFILES`). Raw files carry none of this: their
datatype comes from the file suffix (``.cu8``, ``.cf32``) and the sample rate from the user.

Every number is a JSON number (not a string, not a boolean) and finite; rates are positive.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass

from chaincast.fec.wire.errors import WireError

KEY_DATATYPE = "core:datatype"
KEY_SAMPLE_RATE = "core:sample_rate"
KEY_NUM_CHANNELS = "core:num_channels"
KEY_FREQUENCY = "core:frequency"
KEY_SYMBOL_RATE = "chaincast:symbol_rate"
KEY_PROFILE = "chaincast:profile"
KEY_EXTENSIONS = "core:extensions"
EXTENSION = {"name": "chaincast", "version": "1.0.0", "optional": True}  # SigMF requires declaring it

BYTES_PER_SAMPLE = {"cf32_le": 8, "cu8": 2}
RAW_SUFFIXES = {".cf32": "cf32_le", ".cfile": "cf32_le", ".cu8": "cu8"}


def _shown(value: object) -> str:
    """``value`` for a one-line message: short, whatever it is (a JSON integer may have thousands of
    digits, a string megabytes, a list any depth)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if value is not None and not isinstance(value, (str, int, float)):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class RecordingInfo:
    sample_rate_hz: float
    datatype: str
    frequency_hz: float | None = None
    symbol_rate_hz: float | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.datatype, str) or self.datatype not in BYTES_PER_SAMPLE:
            raise WireError(f"unsupported datatype {_shown(self.datatype)} (supported: {', '.join(BYTES_PER_SAMPLE)})")
        if not (_is_number(self.sample_rate_hz) and math.isfinite(self.sample_rate_hz) and self.sample_rate_hz > 0):
            raise WireError(f"sample rate must be a positive finite number, got {_shown(self.sample_rate_hz)}")
        if self.symbol_rate_hz is not None and not (
                _is_number(self.symbol_rate_hz) and math.isfinite(self.symbol_rate_hz) and self.symbol_rate_hz > 0):
            raise WireError(f"symbol rate must be a positive finite number, got {_shown(self.symbol_rate_hz)}")
        if self.frequency_hz is not None and not (_is_number(self.frequency_hz) and math.isfinite(self.frequency_hz)):
            raise WireError(f"frequency must be a finite number, got {_shown(self.frequency_hz)}")
        if self.profile is not None and not isinstance(self.profile, str):
            raise WireError(f"profile must be a name, got {_shown(self.profile)}")

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
        """WireError names the first field that is missing, of the wrong type, or out of range."""
        for key in (KEY_DATATYPE, KEY_SAMPLE_RATE):
            if key not in global_fields:
                raise WireError(f"SigMF metadata has no {key}")
        datatype = global_fields[KEY_DATATYPE]
        if not isinstance(datatype, str):
            raise WireError(f"SigMF {KEY_DATATYPE} is not a string: {_shown(datatype)}")
        channels = global_fields.get(KEY_NUM_CHANNELS, 1)
        if not (_is_number(channels) and channels == 1):
            raise WireError(f"SigMF {KEY_NUM_CHANNELS} {_shown(channels)}: only single-channel recordings can be received")
        profile = global_fields.get(KEY_PROFILE)
        if profile is not None and not isinstance(profile, str):
            raise WireError(f"SigMF {KEY_PROFILE} is not a string: {_shown(profile)}")
        try:
            return cls(
                sample_rate_hz=_number(global_fields, KEY_SAMPLE_RATE, positive=True),
                datatype=datatype,
                frequency_hz=_number(first_capture or {}, KEY_FREQUENCY),
                symbol_rate_hz=_number(global_fields, KEY_SYMBOL_RATE, positive=True),
                profile=profile,
            )
        except WireError as bad:
            raise WireError(f"SigMF {bad}") from None


def _number(fields: dict, key: str, positive: bool = False) -> float | None:
    """``fields[key]`` as a finite float (> 0 if ``positive``), None if absent; WireError for a
    string, a boolean, NaN or a magnitude beyond float64 (JSON allows integers of any length)."""
    value = fields.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise WireError(f"{key} is not a number: {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise WireError(f"{key} is too large: {_shown(value)}") from None
    if not math.isfinite(number):
        raise WireError(f"{key} is not a finite number: {_shown(value)}")
    if positive and number <= 0:
        raise WireError(f"{key} must be positive, got {_shown(value)}")
    return number


def parse_sigmf_meta(text: str) -> RecordingInfo:
    """The text of a ``.sigmf-meta`` file -> RecordingInfo; WireError if it is not usable SigMF."""
    try:
        doc = json.loads(text)
    except RecursionError:  # nesting deeper than the interpreter's stack
        raise WireError("JSON nested too deeply, so not SigMF metadata") from None
    except json.JSONDecodeError:
        raise WireError("not valid JSON, so not SigMF metadata") from None
    except ValueError:  # an integer literal beyond Python's int-str digit limit (sys.get_int_max_str_digits)
        raise WireError("a number in it has too many digits to be read, so not SigMF metadata") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("global"), dict):
        raise WireError("not SigMF metadata (no global object)")
    captures = doc.get("captures")
    first = captures[0] if isinstance(captures, list) and captures and isinstance(captures[0], dict) else None
    return RecordingInfo.from_sigmf(doc["global"], first)
