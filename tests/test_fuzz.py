"""Property tests (hypothesis) of the parsers that meet untrusted input: the properties
live in testkit/fuzzing.py (bench/fuzz.py runs them with ≥ 100,000 examples); here each
runs 2,000 so the default test run stays quick."""
from __future__ import annotations

import pytest

from adaptor_core import hub_protocol as hp
from server.errors import ApiError
from testkit.fuzzing import DEEP, _request, property_test

EXAMPLES = 2_000

test_hub_stream = property_test("hub_stream", EXAMPLES)
test_hub_record = property_test("hub_record", EXAMPLES)
test_json_object = property_test("json_object", EXAMPLES)
test_field_helpers = property_test("field_helpers", EXAMPLES)
test_parse_payload = property_test("parse_payload", EXAMPLES)
test_send_message_body = property_test("send_message_body", EXAMPLES)
test_userclient_body = property_test("userclient_body", EXAMPLES)



def test_deeply_nested_hub_record_is_a_protocol_error():
    with pytest.raises(hp.ProtocolError):
        hp.decode(DEEP)


def test_deeply_nested_body_is_an_api_error():
    with pytest.raises(ApiError):
        _request(DEEP.encode()).json_object()
