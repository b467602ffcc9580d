"""Unit tests for adaptor_core.hub_protocol: the SignalR JSON hub protocol codec, driven
with literal record text (no sockets), as h11's tests drive its parser with bytes."""
from __future__ import annotations

import re

import pytest

from adaptor_core import hub_protocol as hp
from adaptor_core.hub_protocol import (
    RS,
    Close,
    Completion,
    HandshakeRequest,
    HandshakeResponse,
    Invocation,
    Ping,
    ProtocolError,
    RecordReader,
    Unsupported,
)


def raises(message: str):
    """Expect a ProtocolError whose text is exactly `message`."""
    return pytest.raises(ProtocolError, match=f"^{re.escape(message)}$")


# --- constants and types ----------------------------------------------------------------

def test_record_separator_is_0x1e():
    assert RS == "\x1e"


def test_max_record_is_64_kib():
    assert hp.MAX_RECORD == 256 * 1024  # ≥ 3 × the functions' 64 KiB body: every accepted call fits


def test_protocol_error_is_a_value_error():
    assert issubclass(ProtocolError, ValueError)


def test_type_numbers_of_encodable_messages():
    assert hp.TYPE_OF == {Invocation: 1, Completion: 3, Ping: 6, Close: 7}


def test_messages_are_immutable():
    with pytest.raises(AttributeError):
        Invocation("t").target = "other"  # type: ignore[misc]


def test_invocation_defaults():
    assert Invocation("t") == Invocation("t", [], None)
    assert Invocation("t").arguments is not Invocation("t").arguments  # no shared mutable default


# --- handshake --------------------------------------------------------------------------

def test_encode_handshake_request_default_is_json_v1():
    assert hp.encode_handshake_request() == '{"protocol":"json","version":1}\x1e'


def test_encode_handshake_request_other_protocol():
    assert hp.encode_handshake_request("messagepack", 2) == '{"protocol":"messagepack","version":2}\x1e'


def test_encode_handshake_response_ok_is_empty_object():
    assert hp.encode_handshake_response() == "{}\x1e"
    assert hp.encode_handshake_response("") == "{}\x1e"


def test_encode_handshake_response_error():
    assert hp.encode_handshake_response("Requested protocol 'x' is not available.") == \
        '{"error":"Requested protocol \'x\' is not available."}\x1e'


def test_decode_handshake_request():
    assert hp.decode_handshake_request('{"protocol":"json","version":1}') == HandshakeRequest("json", 1)


def test_decode_handshake_request_ignores_extra_fields():
    assert hp.decode_handshake_request('{"protocol":"json","version":1,"x":true}') == HandshakeRequest("json", 1)


@pytest.mark.parametrize("record", [
    '{"version":1}',
    '{"protocol":"json"}',
    '{"protocol":1,"version":1}',
    '{"protocol":"json","version":"1"}',
    '{"protocol":"json","version":1.5}',
    '{"protocol":"json","version":true}',
    '{"protocol":null,"version":1}',
])
def test_decode_handshake_request_rejects_bad_fields(record):
    with raises("handshake needs 'protocol' (string) and 'version' (integer)"):
        hp.decode_handshake_request(record)


def test_decode_handshake_request_rejects_non_object():
    with raises("a record must be a JSON object"):
        hp.decode_handshake_request('["json",1]')


def test_decode_handshake_request_rejects_malformed_json():
    with raises("malformed JSON record: Expecting value"):
        hp.decode_handshake_request("protocol=json")


def test_decode_handshake_response_ok():
    assert hp.decode_handshake_response("{}") == HandshakeResponse(None)


def test_decode_handshake_response_error():
    assert hp.decode_handshake_response('{"error":"nope"}') == HandshakeResponse("nope")


def test_decode_handshake_response_null_error_is_ok():
    assert hp.decode_handshake_response('{"error":null}') == HandshakeResponse(None)


def test_decode_handshake_response_rejects_non_string_error():
    with raises("handshake 'error' must be a string"):
        hp.decode_handshake_response('{"error":{"code":1}}')


@pytest.mark.parametrize("record", ["[]", '"{}"', "1", "null"])
def test_decode_handshake_response_rejects_non_object(record):
    with raises("a record must be a JSON object"):
        hp.decode_handshake_response(record)


def test_decode_handshake_response_rejects_truncated_json():
    with raises("malformed JSON record: Expecting property name enclosed in double quotes"):
        hp.decode_handshake_response("{")


def test_handshake_round_trip():
    record = hp.encode_handshake_request()
    assert record.endswith(RS)
    assert hp.decode_handshake_request(record[:-1]) == HandshakeRequest("json", 1)
    assert hp.decode_handshake_response(hp.encode_handshake_response("bad")[:-1]) == HandshakeResponse("bad")


# --- encode -------------------------------------------------------------------------------

def test_encode_invocation_without_id():
    assert hp.encode(Invocation("sendMessage", [1, "a"])) == '{"type":1,"target":"sendMessage","arguments":[1,"a"]}\x1e'


def test_encode_invocation_with_id():
    assert hp.encode(Invocation("sendMessage", [], "7")) == \
        '{"type":1,"target":"sendMessage","arguments":[],"invocationId":"7"}\x1e'


def test_encode_invocation_tuple_arguments_become_array():
    assert hp.encode(Invocation("t", (1, 2))) == '{"type":1,"target":"t","arguments":[1,2]}\x1e'  # type: ignore[arg-type]


def test_encode_escapes_non_ascii_text_and_keeps_it():
    # ASCII JSON on the wire: a str with a lone surrogate (a legal JSON escape) can be
    # sent too, and the length is what an ASCII-escaping service sends on.
    text = hp.encode(Invocation("t", ["Zoë ☎ \ud83d"]))
    assert text == '{"type":1,"target":"t","arguments":["Zo\\u00eb \\u260e \\ud83d"]}\x1e'
    assert hp.decode(text[:-1]) == Invocation("t", ["Zoë ☎ \ud83d"])


def test_encode_escapes_record_separator_inside_strings():
    # A 0x1E inside a string must not split the record: JSON escapes control characters.
    text = hp.encode(Invocation("t", ["a\x1eb"]))
    assert text.count(RS) == 1 and text.endswith(RS)
    assert hp.decode(text[:-1]) == Invocation("t", ["a\x1eb"])


def test_encode_completion_with_result():
    assert hp.encode(Completion("1", {"ok": True})) == '{"type":3,"invocationId":"1","result":{"ok":true}}\x1e'


def test_encode_completion_falsy_result_is_kept():
    assert hp.encode(Completion("1", 0)) == '{"type":3,"invocationId":"1","result":0}\x1e'
    assert hp.encode(Completion("1", False)) == '{"type":3,"invocationId":"1","result":false}\x1e'


def test_encode_completion_void():
    assert hp.encode(Completion("1")) == '{"type":3,"invocationId":"1"}\x1e'


def test_encode_completion_error_wins_over_result():
    assert hp.encode(Completion("1", "r", "boom")) == '{"type":3,"invocationId":"1","error":"boom"}\x1e'


def test_encode_ping():
    assert hp.encode(Ping()) == '{"type":6}\x1e'


def test_encode_close_plain():
    assert hp.encode(Close()) == '{"type":7}\x1e'
    assert hp.encode(Close("")) == '{"type":7}\x1e'


def test_encode_close_with_error_and_reconnect():
    assert hp.encode(Close("bye", True)) == '{"type":7,"error":"bye","allowReconnect":true}\x1e'


def test_encode_close_allow_reconnect_only():
    assert hp.encode(Close(allow_reconnect=True)) == '{"type":7,"allowReconnect":true}\x1e'


@pytest.mark.parametrize("message", [Unsupported(2), HandshakeRequest("json", 1), "ping", None])
def test_encode_refuses_what_it_cannot_encode(message):
    with pytest.raises(TypeError, match="cannot encode"):
        hp.encode(message)  # type: ignore[arg-type]


@pytest.mark.parametrize("message", [
    Invocation("ReceiveNotification", [{"PhoneNumber": "+15551234567"}]),
    Invocation("sendMessage", ["Accepted"], "42"),
    Completion("42", {"id": 1}),
    Completion("42", None, "failed"),
    Completion("42"),
    Ping(),
    Close(),
    Close("server shutting down", True),
])
def test_round_trip(message):
    text = hp.encode(message)
    assert text.endswith(RS) and text.count(RS) == 1
    assert hp.decode(text[:-1]) == message


# --- decode -------------------------------------------------------------------------------

def test_decode_invocation():
    assert hp.decode('{"type":1,"target":"ReceiveNotification","arguments":[{"PhoneNumber":"+1"}]}') == \
        Invocation("ReceiveNotification", [{"PhoneNumber": "+1"}], None)


def test_decode_invocation_with_id():
    assert hp.decode('{"type":1,"target":"t","arguments":[],"invocationId":"9"}') == Invocation("t", [], "9")


def test_decode_invocation_missing_arguments_is_empty():
    assert hp.decode('{"type":1,"target":"t"}') == Invocation("t", [], None)


def test_decode_invocation_ignores_unknown_fields():
    assert hp.decode('{"type":1,"target":"t","arguments":[],"headers":{"a":"b"},"streamIds":[]}') == \
        Invocation("t", [], None)


@pytest.mark.parametrize("record", [
    '{"type":1,"arguments":[]}',
    '{"type":1,"target":"","arguments":[]}',
    '{"type":1,"target":5,"arguments":[]}',
    '{"type":1,"target":null,"arguments":[]}',
])
def test_decode_invocation_needs_target(record):
    with raises("invocation needs a 'target' string"):
        hp.decode(record)


@pytest.mark.parametrize("arguments", ['{"a":1}', '"x"', "null", "3"])
def test_decode_invocation_arguments_must_be_array(arguments):
    with raises("invocation 'arguments' must be an array"):
        hp.decode(f'{{"type":1,"target":"t","arguments":{arguments}}}')


def test_decode_invocation_id_must_be_string():
    with raises("'invocationId' must be a string"):
        hp.decode('{"type":1,"target":"t","arguments":[],"invocationId":9}')


def test_decode_completion_with_result():
    assert hp.decode('{"type":3,"invocationId":"1","result":[1,2]}') == Completion("1", [1, 2], None)


def test_decode_completion_with_error():
    assert hp.decode('{"type":3,"invocationId":"1","error":"boom"}') == Completion("1", None, "boom")


def test_decode_completion_void():
    assert hp.decode('{"type":3,"invocationId":"1"}') == Completion("1", None, None)


@pytest.mark.parametrize("record", ['{"type":3}', '{"type":3,"invocationId":""}', '{"type":3,"invocationId":null}'])
def test_decode_completion_needs_invocation_id(record):
    with raises("completion needs an 'invocationId'"):
        hp.decode(record)


def test_decode_completion_invocation_id_must_be_string():
    with raises("'invocationId' must be a string"):
        hp.decode('{"type":3,"invocationId":1}')


def test_decode_completion_error_must_be_string():
    with raises("'error' must be a string"):
        hp.decode('{"type":3,"invocationId":"1","error":{"message":"x"}}')


def test_decode_ping():
    assert hp.decode('{"type":6}') == Ping()


def test_decode_close_plain():
    assert hp.decode('{"type":7}') == Close(None, False)


def test_decode_close_with_error_and_reconnect():
    assert hp.decode('{"type":7,"error":"Server shutting down.","allowReconnect":true}') == \
        Close("Server shutting down.", True)


def test_decode_close_allow_reconnect_false():
    assert hp.decode('{"type":7,"allowReconnect":false}') == Close(None, False)


def test_decode_close_error_must_be_string():
    with raises("'error' must be a string"):
        hp.decode('{"type":7,"error":1}')


@pytest.mark.parametrize("kind", [2, 4, 5, 8, 9])
def test_decode_streaming_and_stateful_reconnect_are_unsupported(kind):
    assert hp.decode(f'{{"type":{kind}}}') == Unsupported(kind)


@pytest.mark.parametrize("record, shown", [
    ('{"type":"1"}', "'1'"),
    ('{"type":null}', "None"),
    ('{"target":"t","arguments":[]}', "None"),
    ('{"type":[1]}', "[1]"),
])
def test_decode_unknown_type(record, shown):
    with raises(f"unknown message type {shown}"):
        hp.decode(record)


@pytest.mark.parametrize("kind", [0, 10, 99, -1, 2**40])
def test_decode_type_numbers_the_protocol_may_add_are_unsupported_not_errors(kind):
    # The protocol reserves new type numbers; receivers skip the ones they don't know.
    assert hp.decode(f'{{"type":{kind},"x":[1]}}') == Unsupported(kind)


def test_decode_stream_invocation_keeps_its_invocation_id():
    assert hp.decode('{"type":4,"invocationId":"7","target":"s","arguments":[]}') == Unsupported(4, "7")
    assert hp.decode('{"type":4,"invocationId":7,"target":"s","arguments":[]}') == Unsupported(4)


def test_decode_boolean_type_is_not_an_invocation():
    with pytest.raises(ProtocolError):
        hp.decode('{"type":true,"target":"ReceiveNotification","arguments":[]}')


@pytest.mark.parametrize("record", ["[]", "[1,2]", '"text"', "6", "null", "true"])
def test_decode_refuses_non_objects(record):
    with raises("a record must be a JSON object"):
        hp.decode(record)


@pytest.mark.parametrize("record, msg", [
    ("", "Expecting value"),
    ("not json", "Expecting value"),
    ('{"type":1', "Expecting ',' delimiter"),
    ("{'type':6}", "Expecting property name enclosed in double quotes"),
    ('{"type":6} {"type":6}', "Extra data"),
])
def test_decode_refuses_malformed_json(record, msg):
    with raises(f"malformed JSON record: {msg}"):
        hp.decode(record)


# --- RecordReader ---------------------------------------------------------------------------

def test_reader_empty_feed_yields_nothing():
    assert RecordReader().feed("") == []


def test_reader_one_record():
    assert RecordReader().feed('{"type":6}\x1e') == ['{"type":6}']


def test_reader_several_records_in_one_feed():
    assert RecordReader().feed('{}\x1e{"type":6}\x1e{"type":7}\x1e') == ["{}", '{"type":6}', '{"type":7}']


def test_reader_record_split_across_feeds():
    reader = RecordReader()
    assert reader.feed('{"type":1,"tar') == []
    assert reader.feed('get":"t","argu') == []
    assert reader.feed('ments":[]}\x1e') == ['{"type":1,"target":"t","arguments":[]}']
    assert reader.feed("") == []


def test_reader_keeps_a_trailing_partial_record():
    reader = RecordReader()
    assert reader.feed('{"type":6}\x1e{"ty') == ['{"type":6}']
    assert reader.feed('pe":7}\x1e') == ['{"type":7}']


def test_reader_separator_alone_in_next_feed():
    reader = RecordReader()
    assert reader.feed('{"type":6}') == []
    assert reader.feed("\x1e") == ['{"type":6}']


def test_reader_empty_records_are_returned_as_empty_strings():
    assert RecordReader().feed("\x1e\x1e") == ["", ""]


def test_reader_feed_decode_together():
    reader = RecordReader()
    messages = [hp.decode(r) for chunk in ('{"type":6}\x1e{"type":1,"target":"a",', '"arguments":[1]}\x1e')
                for r in reader.feed(chunk)]
    assert messages == [Ping(), Invocation("a", [1])]


def test_reader_accepts_a_record_of_exactly_the_maximum():
    reader = RecordReader(max_record=10)
    assert reader.feed("x" * 10 + RS) == ["x" * 10]
    assert reader.feed("y" * 10) == []  # a partial record at the limit is still fine
    assert reader.feed(RS) == ["y" * 10]


def test_reader_refuses_an_oversized_complete_record():
    with raises("record larger than 10 characters"):
        RecordReader(max_record=10).feed("x" * 11 + RS)


def test_reader_refuses_an_oversized_partial_record():
    reader = RecordReader(max_record=10)
    assert reader.feed("x" * 6) == []
    with raises("record larger than 10 characters"):
        reader.feed("x" * 5)


def test_reader_refuses_an_oversized_record_among_small_ones():
    with raises("record larger than 10 characters"):
        RecordReader(max_record=10).feed("{}" + RS + "x" * 11 + RS + "{}" + RS)


def test_reader_default_limit_is_max_record():
    reader = RecordReader()
    assert reader.feed("x" * hp.MAX_RECORD) == []
    with raises(f"record larger than {hp.MAX_RECORD} characters"):
        reader.feed("x")


def test_deeply_nested_record_is_a_protocol_error_not_a_recursion_error():
    with pytest.raises(hp.ProtocolError, match="nested too deeply"):
        hp.decode("[" * 100_000 + "]" * 100_000)
