import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincast.fec.wire import WireError
from chaincast.fec.wire.recording import RecordingInfo, parse_sigmf_meta


def test_round_trip_of_our_fields():
    info = RecordingInfo(2.4e6, "cu8", 11.3e9, 1e6, "default")
    doc = {"global": info.global_fields(), "captures": [{"core:sample_start": 0, "core:frequency": 11.3e9}]}
    assert parse_sigmf_meta(json.dumps(doc)) == info
    assert {"name": "chaincast", "version": "1.0.0", "optional": True} in info.global_fields()["core:extensions"]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"captures": []}),
        json.dumps({"global": "x"}),
        json.dumps({"global": {"core:datatype": "cu8"}}),
        json.dumps({"global": {"core:datatype": "ri16_le", "core:sample_rate": 1e6}}),
        json.dumps({"global": {"core:datatype": "cu8", "core:sample_rate": "fast"}}),
        json.dumps({"global": {"core:datatype": "cu8", "core:sample_rate": -1}}),
    ],
)
def test_unusable_metadata_is_a_wire_error(text):
    with pytest.raises(WireError):
        parse_sigmf_meta(text)


def test_odd_captures_are_ignored_not_fatal():
    doc = {"global": {"core:datatype": "cf32_le", "core:sample_rate": 2e6}, "captures": "nonsense"}
    assert parse_sigmf_meta(json.dumps(doc)).frequency_hz is None


@pytest.mark.parametrize(
    "text, says",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": ' + "9" * 5000 + "}}", "too many digits"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": ' + "9" * 400 + "}}", "too large"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": NaN}}', "finite"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": 1e999}}', "finite"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": true}}', "not a number"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": "2.4e6"}}', "not a number"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": 2e6, "chaincast:symbol_rate": -Infinity}}', "finite"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": 2e6, "chaincast:symbol_rate": 0}}', "positive"),
        ('{"global": {"core:datatype": ["cu8"], "core:sample_rate": 2e6}}', "not a string"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": 2e6, "chaincast:profile": 7}}', "not a string"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": 2e6, "core:num_channels": 2}}', "single-channel"),
        ('{"global": {"core:datatype": "cu8", "core:sample_rate": 2e6}, "captures": [{"core:frequency": "x"}]}', "frequency"),
    ],
)
def test_each_unusable_field_is_named(text, says):
    with pytest.raises(WireError, match=re.escape(says)) as bad:
        parse_sigmf_meta(text)
    assert "\n" not in str(bad.value) and len(str(bad.value)) < 200


def test_a_huge_number_in_a_dict_gives_a_short_message():
    with pytest.raises(WireError) as bad:
        RecordingInfo.from_sigmf({"core:datatype": "cu8", "core:sample_rate": 10 ** 5000})
    assert "too large" in str(bad.value) and len(str(bad.value)) < 200


def test_integer_fields_become_floats():
    info = parse_sigmf_meta(json.dumps({"global": {"core:datatype": "cu8", "core:sample_rate": 2400000,
                                                   "chaincast:symbol_rate": 1000000}}))
    assert type(info.sample_rate_hz) is float and type(info.symbol_rate_hz) is float


# ------------------------------------------------------------------ properties (hypothesis)

KEYS = ["core:datatype", "core:sample_rate", "core:num_channels", "chaincast:symbol_rate", "chaincast:profile",
        "core:frequency", "global", "captures"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10 ** 300, max_value=10 ** 1000)
    | st.floats() | st.sampled_from(["cu8", "cf32_le", "ci16_le", "default", ""]) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4),
                                                                      children, max_size=5),
    max_leaves=20,
)
global_fields = st.fixed_dictionaries(
    {}, optional={"core:datatype": st.sampled_from(["cu8", "cf32_le"]) | json_values,
                  "core:sample_rate": st.floats(min_value=1.0, max_value=1e8) | json_values,
                  "core:num_channels": st.just(1) | json_values,
                  "chaincast:symbol_rate": st.floats(min_value=1.0, max_value=1e8) | json_values,
                  "chaincast:profile": st.just("default") | json_values},
)


def check_usable(info: RecordingInfo) -> None:
    """What the receiver computes with: finite positive rates as floats, a known datatype, a name or None."""
    assert type(info.sample_rate_hz) is float and math.isfinite(info.sample_rate_hz) and info.sample_rate_hz > 0
    assert info.datatype in ("cu8", "cf32_le")
    assert info.symbol_rate_hz is None or (type(info.symbol_rate_hz) is float and math.isfinite(info.symbol_rate_hz)
                                           and info.symbol_rate_hz > 0)
    assert info.frequency_hz is None or (type(info.frequency_hz) is float and math.isfinite(info.frequency_hz))
    assert info.profile is None or isinstance(info.profile, str)


def parses_or_refuses(text: str) -> None:
    try:
        info = parse_sigmf_meta(text)
    except WireError as bad:
        assert "\n" not in str(bad) and len(str(bad)) < 300
    else:
        check_usable(info)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_recording_info_or_wire_error(text):
    parses_or_refuses(text)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_document_gives_recording_info_or_wire_error(doc):
    parses_or_refuses(json.dumps(doc))


@settings(max_examples=500, deadline=None)
@given(global_fields, st.lists(json_values, max_size=2) | json_values)
def test_any_global_object_gives_recording_info_or_wire_error(fields, captures):
    parses_or_refuses(json.dumps({"global": fields, "captures": captures}))
    try:
        info = RecordingInfo.from_sigmf(fields, captures[0] if isinstance(captures, list) and captures
                                        and isinstance(captures[0], dict) else None)
    except WireError:
        return
    check_usable(info)
