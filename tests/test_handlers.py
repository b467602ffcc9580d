"""The handlers in this process, one table of cases, each on a fresh store (testkit/inprocess.py):
bad input gets a clear 4xx JSON error naming the field, never a 500, and nothing is
stored; tokens are checked on every function; the webhook's rules. The real stack runs
in-process — its identity provider issued the tokens, its emulator answers the handlers'
REST calls — only the sockets are gone. tests/test_functions_bad_input.py runs a smoke
pass of the same rules over HTTPS for each store backend, and what needs live agents."""
from __future__ import annotations

import base64
import hmac
import json

import jwt
import pytest

from server import upstream
from testkit.functions import call_payload
from testkit.inprocess import InProcess


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    with InProcess(tmp_path_factory.mktemp("handlers")) as local:
        yield local


def expect(response, status, code=None):
    assert response.status == status, response.body
    if code:
        assert response.body["error"] == code and response.body["message"], response.body
    return response.body


SENDER, ALICE = "sender", "alice"

# name, handler, token, body (dict, or (bytes, content type)), status, code
CASES = [
    ("malformed-json", "SendMessageToUser", SENDER, (b"{not json", "application/json"), 400, "malformed_json"),
    ("not-an-object", "SendMessageToUser", SENDER, (b"[1,2]", "application/json"), 400, "malformed_json"),
    ("text-plain", "SendMessageToUser", SENDER, (b'{"userId":"u","message":{"PhoneNumber":"1"}}', "text/plain"),
     415, "unsupported_media_type"),
    ("no-user", "SendMessageToUser", SENDER, {"message": call_payload()}, 400, "missing_field"),
    ("no-message", "SendMessageToUser", SENDER, {"userId": "u1"}, 400, "missing_field"),
    ("user-not-text", "SendMessageToUser", SENDER, {"userId": 5, "message": call_payload()}, 422, "invalid_field"),
    ("message-number", "SendMessageToUser", SENDER, {"userId": "u1", "message": 7}, 422, "invalid_field"),
    ("message-text-not-json", "SendMessageToUser", SENDER, {"userId": "u1", "message": "not json"}, 422,
     "invalid_field"),
    ("no-phone", "SendMessageToUser", SENDER, {"userId": "u1", "message": {"comments": "no phone"}}, 400,
     "missing_field"),
    ("phone-list", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(PhoneNumber=["x"])}, 422,
     "invalid_field"),
    ("phone-two-lines", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(PhoneNumber="+1\n2")},
     422, "invalid_field"),
    ("subject-not-text", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(subject=5)}, 422,
     "invalid_field"),  # the case title: schemathesis found a number accepted against the contract
    ("ttl-text", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(), "ttlSeconds": "10"}, 422,
     "invalid_field"),
    ("ttl-negative", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(), "ttlSeconds": -1}, 422,
     "invalid_field"),
    ("message-id-chars", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(), "messageId": "a b/c"},
     422, "invalid_field"),
    ("oversized", "SendMessageToUser", SENDER, {"userId": "u1", "message": call_payload(comments="x" * 70_000)}, 413,
     "body_too_large"),
    ("userclient-empty-id", "userclient", ALICE, {"connectionId": ""}, 422, "invalid_field"),
    ("userclient-number-id", "userclient", ALICE, {"connectionId": 12}, 422, "invalid_field"),
    ("userclient-status-7", "userclient", ALICE, {"connectionId": "c1", "connectionStatus": 7}, 422, "invalid_field"),
    ("userclient-no-id", "userclient", ALICE, {"connectionStatus": 1}, 400, "missing_field"),
    ("userclient-unknown-connection", "userclient", ALICE, {"connectionId": "made-up-1", "connectionStatus": 1}, 404,
     "unknown_connection"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_4xx_naming_the_rule_and_nothing_is_stored(local, case):
    _, handler, who, body, status, code = case
    functions = local.functions()
    if isinstance(body, tuple):
        response = local.call(handler, token=local.tokens[who], raw=body[0], content_type=body[1], functions=functions)
    else:
        response = local.call(handler, token=local.tokens[who], body=body, functions=functions)
    expect(response, status, code)
    assert functions.store.recent_messages(10) == [] and functions.store.all_connections(local.config.hub) == []


def test_duplicate_message_id_is_409_and_first_kept(local):
    functions = local.functions()
    body = {"userId": "offline-user", "messageId": "dup-1", "message": call_payload(comments="first")}
    assert local.call("SendMessageToUser", token=local.tokens[SENDER], body=body, functions=functions).status == 202
    body["message"] = call_payload(comments="second")
    expect(local.call("SendMessageToUser", token=local.tokens[SENDER], body=body, functions=functions), 409,
           "duplicate_message_id")
    status = local.call("GetMessage", "GET", local.tokens[SENDER], route={"messageId": "dup-1"}, functions=functions)
    assert status.body["status"] == "queued"
    assert json.loads(functions.store.get_message("dup-1").payload)["comments"] == "first"


def test_unknown_message_id_is_404(local):
    expect(local.call("GetMessage", "GET", local.tokens[SENDER], route={"messageId": "nope-123"}), 404,
           "unknown_message")


# --- tokens -------------------------------------------------------------------------------

AGENT_ROUTES = [("negotiate", "POST", None, {}), ("userclient", "POST", {"connectionId": "c1"}, {})]
SENDER_ROUTES = [("SendMessageToUser", "POST", {"userId": "u", "message": call_payload()}, {}),
                 ("GetMessage", "GET", None, {"messageId": "x"})]


def forge(local, base: str, key=None, **changes) -> str:
    """`base`'s token with `changes`, signed with the provider's key (or `key`)."""
    directory = local.config.local_directory
    claims = {**jwt.decode(local.tokens[base], options={"verify_signature": False}), **changes}
    return jwt.encode(claims, key or directory.private_key, algorithm="RS256", headers={"kid": directory.kid})


@pytest.mark.parametrize("handler,method,body,route", AGENT_ROUTES + SENDER_ROUTES,
                         ids=[r[0] for r in AGENT_ROUTES + SENDER_ROUTES])
def test_every_function_rejects_bad_tokens(local, handler, method, body, route):
    from cryptography.hazmat.primitives.asymmetric import rsa

    base = ALICE if handler in ("negotiate", "userclient") else SENDER

    def call(token):
        return local.call(handler, method, token, body=body, route=route)

    expect(call(None), 401, "missing_token")
    expect(call("not-a-jwt"), 401, "invalid_token")
    expect(call(forge(local, base, exp=1, iat=0, nbf=0)), 401, "token_expired")
    expect(call(forge(local, base, aud="api://other")), 401, "invalid_audience")
    expect(call(forge(local, base, iss="https://elsewhere/v2.0")), 401, "invalid_issuer")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expect(call(forge(local, base, key=other)), 401, "invalid_token")
    # crafted headers are refused before any key is looked up (a number as kid was a 500)
    signed = forge(local, base).split(".")
    for header in ({"alg": "RS256", "kid": 1}, {"alg": "RS256", "kid": {}}, {"kid": "k"}, {"alg": "RS256"}):
        crafted = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        body_ = expect(call(".".join([crafted, *signed[1:]])), 401, "invalid_token")
        assert "'kid'" in body_["message"] or "'alg'" in body_["message"]


def test_agent_token_on_sender_functions_is_403_and_sender_token_on_agent_functions_too(local):
    for handler, method, body, route in SENDER_ROUTES:
        expect(local.call(handler, method, local.tokens[ALICE], body=body, route=route), 403, "missing_role")
    for handler, method, body, route in AGENT_ROUTES:
        expect(local.call(handler, method, local.tokens[SENDER], body=body, route=route), 403, "insufficient_scope")


def test_identity_headers_and_body_user_ids_are_never_trusted(local):
    bob = local.oid("bob")
    # a client-set principal header changes nothing: the token's user is negotiated
    answer = local.call("negotiate", token=local.tokens[ALICE], headers={"x-ms-client-principal-id": bob})
    claims = jwt.decode(answer.body["accessToken"], options={"verify_signature": False})
    assert claims["asrs.s.uid"] == local.oid("alice")
    # a body naming another user is refused
    expect(local.call("userclient", token=local.tokens[ALICE],
                      body={"connectionId": "c-x", "userId": bob, "connectionStatus": 1}), 403, "user_mismatch")
    expect(local.call("negotiate", headers={"x-ms-client-principal-id": bob}), 401, "missing_token")


def test_userclient_disconnect_of_an_unknown_connection_is_200(local):
    response = local.call("userclient", token=local.tokens[ALICE],
                          body={"connectionId": "made-up-1", "connectionStatus": 0})
    assert (response.status, response.body) == (200, {"connectionId": "made-up-1", "connectionStatus": 0})


# --- upstream webhook ----------------------------------------------------------------------

def webhook(local, functions=None, connection_id="conn-1", keys=None, hub="myhub", event="connected",
            category="connections", body=None, ctype="application/json", code=None, signature=None, user="user-w"):
    keys = keys or [local.config.local_signalr_keys[0]]
    headers = {"X-ASRS-Hub": hub, "X-ASRS-Category": category, "X-ASRS-Event": event, "X-ASRS-User-Id": user}
    if connection_id is not None:
        headers["X-ASRS-Connection-Id"] = connection_id
        headers["X-ASRS-Signature"] = signature if signature is not None else upstream.signature(connection_id, keys)
    return local.call("SignalRWebhook", content_type=ctype, headers=headers,
                      query={"code": code if code is not None else local.config.functions_key},
                      body=body if body is not None else {"type": 10}, functions=functions)


def test_webhook_signature_rules(local):
    primary, secondary = local.config.local_signalr_keys
    good = upstream.signature("conn-1", [primary])
    assert webhook(local, keys=[primary]).status == 200
    assert webhook(local, keys=[secondary]).status == 200
    assert webhook(local, signature="sha256=" + good[7:].upper()).status == 200
    assert webhook(local, signature="sha256=00," + good).status == 200
    expect(webhook(local, signature=""), 403, "invalid_signature")
    expect(webhook(local, keys=["some-other-key"]), 403, "invalid_signature")
    expect(webhook(local, signature="sha256=" + "0" * 64), 403, "invalid_signature")
    expect(webhook(local, code="wrong"), 401, "invalid_code")
    expect(webhook(local, hub="otherhub"), 404, "unknown_hub")
    expect(webhook(local, connection_id=None), 400, "missing_connection_id")
    expect(webhook(local, ctype="text/plain"), 400, "invalid_content_type")


def test_webhook_code_is_compared_in_constant_time(local, monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = local.config.functions_key
    for code in ("wrong", "", "é-not-ascii", key[:-1]):
        expect(webhook(local, code=code), 401, "invalid_code")
    assert any(key.encode() in pair for pair in seen) and all(isinstance(a, bytes) for pair in seen for a in pair)


def test_webhook_messages_need_known_target_and_valid_ack(local):
    def ack(event, invocation):
        return webhook(local, category="messages", event=event, body=invocation)

    expect(ack("dance", {"type": 1, "target": "dance", "arguments": []}), 400, "unknown_target")
    expect(ack("other", {"type": 1, "target": "sendMessage", "arguments": []}), 400, "invalid_invocation")
    expect(ack("sendMessage", {"type": 1, "target": "sendMessage",
                               "arguments": [{"messageId": "nope", "outcome": "Accepted"}]}), 404, "unknown_message")
    expect(ack("sendMessage", {"type": 1, "target": "sendMessage",
                               "arguments": [{"messageId": "x", "outcome": "Maybe"}]}), 422, "invalid_field")
    expect(ack("sendMessage", {"type": 1, "target": "sendMessage", "arguments": [42]}), 400, "invalid_ack")


def test_webhook_answers_an_awaited_invocation_with_a_completion(local):
    answer = webhook(local, category="messages", event="sendMessage",
                     body={"type": 1, "target": "sendMessage", "arguments": ["Accepted"], "invocationId": "9"})
    assert answer.status == 200
    assert answer.body == {"type": 3, "invocationId": "9", "result": {"recorded": False, "reason": "uncorrelated"}}
