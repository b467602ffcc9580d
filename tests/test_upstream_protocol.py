"""The upstream protocol (server/upstream.py) without sockets: the signature's test
vector, what the emulator encodes is what the webhook decodes, the webhook's checks in
their order, the Azure trigger's invocation context, and the answers both ways."""
from __future__ import annotations

import json

import pytest

from server import upstream as up
from server.errors import ApiError
from server.functions.http import Headers

KEYS = ["7aab239577fd4f24bc919802fb629f5f", "s" * 32]
CTX = up.Context("myhub", "0f9c97a2f0bf4706afe87a14e0797b11", "user-1", {"name": "A"}, "hub=myhub")


def test_signature_test_vector():
    assert up.signature(CTX.connection_id, KEYS[:1]) == \
        "sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561"


@pytest.mark.parametrize("header,ok", [
    (up.signature(CTX.connection_id, KEYS[:1]), True),
    (up.signature(CTX.connection_id, KEYS[1:]), True),  # the secondary key
    (up.signature(CTX.connection_id, KEYS[:1]).upper().replace("SHA256=", "sha256="), True),  # hex in any case
    ("sha256=00," + up.signature(CTX.connection_id, KEYS[:1]), True),  # any listed value
    (up.signature(CTX.connection_id, ["another key"]), False),
    (up.signature("another connection", KEYS), False),
    ("md5=" + up.signature(CTX.connection_id, KEYS[:1])[7:], False),
    ("", False),
])
def test_verify_signature(header, ok):
    assert up.verify_signature(header, CTX.connection_id, KEYS) is ok


@pytest.mark.parametrize("event", [up.Connected(CTX), up.Disconnected(CTX), up.Disconnected(CTX, "went away"),
                                   up.Invocation(CTX, "sendMessage", [{"messageId": "m"}], "7"),
                                   up.Invocation(CTX, "sendMessage", ["Accepted"])])
def test_what_the_service_encodes_the_webhook_decodes(event):
    headers, body = up.encode(event, KEYS)
    assert up.decode(Headers(headers), body, KEYS, "MyHub") == event
    assert headers["X-ASRS-Signature"] == up.signature(CTX.connection_id, KEYS)
    assert json.loads(headers["X-ASRS-User-Claims"]) == {"name": "A"} and up.sendable(headers)


def test_a_non_ascii_user_id_is_not_sendable():
    headers, _ = up.encode(up.Connected(up.Context("myhub", "c", "zoë")), KEYS)
    assert not up.sendable(headers)


def _request(event=None, **changes):
    headers, body = up.encode(event or up.Connected(CTX), KEYS)
    headers.update({k: v for k, v in changes.items() if k != "body" and v is not None})
    for k in [k for k, v in changes.items() if v is None]:
        headers.pop(k)
    return Headers(headers), changes.get("body", body)


@pytest.mark.parametrize("changes,status,code", [
    ({"Content-Type": "text/plain", "X-ASRS-Connection-Id": None, "X-ASRS-Hub": "other"}, 400, "invalid_content_type"),
    ({"X-ASRS-Connection-Id": None, "X-ASRS-Signature": "sha256=00", "X-ASRS-Hub": "other"}, 400,
     "missing_connection_id"),
    ({"X-ASRS-Signature": "sha256=00", "X-ASRS-Hub": "other"}, 403, "invalid_signature"),
    ({"X-ASRS-Hub": "other", "body": b"{not json"}, 404, "unknown_hub"),
    ({"body": b"{not json"}, 400, "malformed_json"),
    ({"body": b"x" * 70_000}, 413, "body_too_large"),
    ({"body": b'{"type": 10, "bad": "\\ud83d"}'}, 400, "invalid_text"),
    ({"X-ASRS-Category": "connections", "X-ASRS-Event": "reconnected"}, 400, "unknown_event"),
    ({"X-ASRS-Category": "other"}, 400, "unknown_event"),
    ({"X-ASRS-Category": "messages", "X-ASRS-Event": "sendMessage"}, 400, "invalid_invocation"),
    ({"X-ASRS-Category": "messages", "X-ASRS-Event": "other",
      "body": b'{"type": 1, "target": "sendMessage", "arguments": []}'}, 400, "invalid_invocation"),
    ({"X-ASRS-Category": "messages", "X-ASRS-Event": "sendMessage",
      "body": b'{"type": 1, "target": "sendMessage", "arguments": {}}'}, 400, "invalid_invocation"),
])
def test_the_webhook_checks_in_order(changes, status, code):
    headers, body = _request(**changes)
    with pytest.raises(ApiError) as err:  # UpstreamError, or the body's own refusal
        up.decode(headers, body, KEYS, "myhub")
    assert (err.value.status, err.value.code) == (status, code) and err.value.message


def test_malformed_claims_header_is_no_claims():
    headers, body = _request(**{"X-ASRS-User-Claims": "{not json"})
    assert up.decode(headers, body, KEYS, "myhub").context.claims == {}


@pytest.mark.parametrize("context,event", [
    ({"ConnectionId": "c", "UserId": "u", "Hub": "myhub", "Category": "connections", "Event": "connected"},
     up.Connected(up.Context("myhub", "c", "u"))),
    ({"ConnectionId": "c", "Hub": "myhub", "Category": "connections", "Event": "disconnected", "Error": "gone",
      "Claims": {"a": "b"}, "Query": {"x": "1", "hub": "myhub"}},
     up.Disconnected(up.Context("myhub", "c", "", {"a": "b"}, "x=1&hub=myhub"), "gone")),
    ({"ConnectionId": "c", "UserId": "u", "Category": "messages", "Event": "sendMessage", "Arguments": ["Accepted"]},
     up.Invocation(up.Context("", "c", "u"), "sendMessage", ["Accepted"])),
    ({"ConnectionId": "c", "Category": "messages", "Event": "sendMessage", "Arguments": None},
     up.Invocation(up.Context("", "c"), "sendMessage", [])),
])
def test_the_azure_trigger_context_is_the_same_event(context, event):
    assert up.from_trigger(context) == event


def test_an_unknown_trigger_event_is_refused():
    with pytest.raises(up.UpstreamError) as err:
        up.from_trigger({"ConnectionId": "c", "Category": "connections", "Event": "reconnected"})
    assert err.value.code == "unknown_event"


def test_answers_both_ways():
    awaited = up.Invocation(CTX, "sendMessage", [], "7")
    body = up.completion_body(awaited, {"recorded": True})
    assert body == {"type": 3, "invocationId": "7", "result": {"recorded": True}}
    assert up.completion_body(up.Invocation(CTX, "sendMessage", []), 1) is None
    assert up.completion_body(up.Connected(CTX), None) is None
    assert up.read_completion(200, json.dumps(body).encode()) == ({"recorded": True}, None)
    assert up.read_completion(200, b"") == (None, None)
    assert up.read_completion(200, b"not json") == (None, None)
    assert up.read_completion(404, b'{"error": "unknown_message", "message": "No message"}') == \
        (None, "Upstream answered 404: No message")
    assert up.read_completion(502, b"<html>bad gateway") == (None, "Upstream answered 502: <html>bad gateway")
