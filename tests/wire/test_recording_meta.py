import json

import pytest

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
