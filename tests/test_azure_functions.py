"""The Azure Functions entry points (functionapp/function_app.py) reach the same handlers
with the same results as the Flask routes: one shared table of cases, run through both.

The Azure host runs in-process against the running local stack's identity provider and
SignalR emulator (as it would against Entra ID and Azure SignalR) and Azure Tables on
Azurite; the Flask host is the real server over HTTPS."""
import importlib
import json
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func
import pytest

from tests.conftest import Api, call_payload

REPO = Path(__file__).resolve().parent.parent
OFFLINE = "offline-" + uuid.uuid4().hex[:8]

# name, function, method, path, route params, token, body (dict, or (bytes, content type)), status, check
CASES = [
    ("negotiate", "negotiate", "POST", "/api/negotiate", {}, "alice", None, 200, {"keys": ["url", "accessToken"]}),
    ("negotiate-no-token", "negotiate", "POST", "/api/negotiate", {}, None, None, 401, {"error": "missing_token"}),
    ("negotiate-garbage-token", "negotiate", "GET", "/api/negotiate", {}, "garbage", None, 401, {"error": "invalid_token"}),
    ("negotiate-sender", "negotiate", "POST", "/api/negotiate", {}, "sender", None, 403, {"error": "insufficient_scope"}),
    ("userclient-unknown-connection", "userclient", "POST", "/api/userclient", {}, "alice",
     {"connectionId": "az-c-1", "connectionStatus": 1}, 404, {"error": "unknown_connection"}),
    ("userclient-seed-spelling", "userclient", "POST", "/api/userclient", {}, "alice",
     {"connectionId": "az-c-2", "ConnctionStatus": 0}, 200, {"body": {"connectionId": "az-c-2", "connectionStatus": 0}}),
    ("userclient-impersonation", "userclient", "POST", "/api/userclient", {}, "alice",
     {"connectionId": "az-c-3", "userId": "someone-else"}, 403, {"error": "user_mismatch"}),
    ("userclient-malformed", "userclient", "POST", "/api/userclient", {}, "alice",
     (b"{oops", "application/json"), 400, {"error": "malformed_json"}),
    ("send-queued", "SendMessageToUser", "POST", "/api/SendMessageToUser", {}, "sender",
     {"userId": OFFLINE, "message": call_payload(), "ttlSeconds": 30}, 202,
     {"keys": ["messageId"], "subset": {"status": "queued", "connections": 0}}),
    ("send-not-connected", "SendMessageToUser", "POST", "/api/SendMessageToUser", {}, "sender",
     {"userId": OFFLINE, "message": call_payload(), "ttlSeconds": 0}, 404, {"error": "user_not_connected"}),
    ("send-agent-token", "SendMessageToUser", "POST", "/api/SendMessageToUser", {}, "alice",
     {"userId": OFFLINE, "message": call_payload()}, 403, {"error": "missing_role"}),
    ("send-missing-message", "SendMessageToUser", "POST", "/api/SendMessageToUser", {}, "sender",
     {"userId": OFFLINE}, 400, {"error": "missing_field"}),
    ("send-wrong-type", "SendMessageToUser", "POST", "/api/SendMessageToUser", {}, "sender",
     (b'{"userId": "x"}', "text/plain"), 415, {"error": "unsupported_media_type"}),
    ("send-bad-ttl", "SendMessageToUser", "POST", "/api/SendMessageToUser", {}, "sender",
     {"userId": OFFLINE, "message": call_payload(), "ttlSeconds": -5}, 422, {"error": "invalid_field"}),
    ("message-unknown", "messages", "GET", "/api/messages/nope-1", {"messageId": "nope-1"}, "sender", None, 404,
     {"error": "unknown_message"}),
    ("message-agent-token", "messages", "GET", "/api/messages/nope-1", {"messageId": "nope-1"}, "alice", None, 403,
     {"error": "missing_role"}),
]


def check(status: int, body, expected_status: int, expectation: dict) -> None:
    assert status == expected_status, body
    if "error" in expectation:
        assert body["error"] == expectation["error"] and body["message"]
    for key in expectation.get("keys", []):
        assert key in body
    if "body" in expectation:
        assert body == expectation["body"]
    for key, value in expectation.get("subset", {}).items():
        assert body[key] == value


@pytest.fixture(scope="module")
def azure_app(stack, identity, azurite):
    """function_app imported with the sample's app settings pointing at managed-service
    stand-ins; module state reset so the settings are read afresh."""
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())
    env = {
        "Authority": identity.authority, "AzureAd__ClientId": identity.api_client_id, "ApiScope": identity.api_scope,
        "AzureSignalRConnectionString": f"Endpoint={stack.url};AccessKey={secrets['signalr_primary_key']};Version=1.0;",
        "AzureWebJobsStorage": azurite, "ADAPTOR_STATE_DIR": str(stack.state_dir), "HubName": "myhub",
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    mp.syspath_prepend(str(REPO / "functionapp"))
    sys.modules.pop("function_app", None)
    module = importlib.import_module("function_app")
    user_functions = {f.get_function_name(): f.get_user_function() for f in module.app.get_functions()}
    yield module, user_functions
    mp.undo()
    sys.modules.pop("function_app", None)


def _token(tokens, who):
    return {"garbage": "not-a-jwt", None: None}.get(who, tokens.get(who) if who else None)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_flask_route(case, stack, tokens):
    name, _fn, method, path, _route, who, body, status, expectation = case
    api = Api(stack, _token(tokens, who))
    if isinstance(body, tuple):
        r = api.call(method, path, data=body[0], headers={"Content-Type": body[1]})
    else:
        r = api.call(method, path, body)
    check(r.status_code, r.json() if r.content else None, status, expectation)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_azure_entry_point(case, azure_app, stack, tokens):
    name, fn, method, path, route, who, body, status, expectation = case
    token = _token(tokens, who)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if isinstance(body, tuple):
        raw, headers["Content-Type"] = body
    elif body is not None:
        raw, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    else:
        raw = b""
    req = func.HttpRequest(method, f"https://contoso-adaptor.azurewebsites.net{path}", headers=headers,
                           params={}, route_params=route, body=raw)
    response = azure_app[1][fn](req)
    body_out = json.loads(response.get_body()) if response.get_body() else None
    check(response.status_code, body_out, status, expectation)


def test_signalr_triggers_reach_the_same_handlers(azure_app, identity, tokens, stack):
    """connected → stored (userclient by another agent is then refused), ack → recorded,
    disconnected → removed."""
    module, fns = azure_app
    alice, connection = identity.oid("alice"), "az-trigger-" + uuid.uuid4().hex[:8]

    def ctx(category, event, **extra):
        return json.dumps({"ConnectionId": connection, "UserId": alice, "Hub": "myhub", "Category": category,
                           "Event": event, "Arguments": [], "Headers": {}, "Query": {}, "Claims": {}, **extra})

    fns["OnClientConnected"](ctx("connections", "connected"))
    bob_req = func.HttpRequest("POST", "https://x/api/userclient", headers={
        "Authorization": f"Bearer {tokens['bob']}", "Content-Type": "application/json"},
        body=json.dumps({"connectionId": connection}).encode())
    assert fns["userclient"](bob_req).status_code == 403

    send = func.HttpRequest("POST", "https://x/api/SendMessageToUser", headers={
        "Authorization": f"Bearer {tokens['sender']}", "Content-Type": "application/json"},
        body=json.dumps({"userId": alice, "message": call_payload(), "ttlSeconds": 30}).encode())
    message_id = json.loads(fns["SendMessageToUser"](send).get_body())["messageId"]
    fns["SendMessageAcknowlegement"](ctx("messages", "sendMessage",
                                         Arguments=[{"messageId": message_id, "outcome": "Rejected", "reason": "r"}]))
    status = fns["messages"](func.HttpRequest("GET", f"https://x/api/messages/{message_id}", headers={
        "Authorization": f"Bearer {tokens['sender']}"}, route_params={"messageId": message_id}, body=b""))
    assert json.loads(status.get_body())["status"] == "rejected"
    # a malformed ack from a client is logged, not raised out of the trigger
    fns["SendMessageAcknowlegement"](ctx("messages", "sendMessage", Arguments=[42]))

    fns["OnClientDisconnect"](ctx("connections", "disconnected"))
    bob_again = fns["userclient"](bob_req)
    # the row is gone, and the service never had such a connection: nothing to register
    assert bob_again.status_code == 404
    assert json.loads(bob_again.get_body())["error"] == "unknown_connection"

    # a 'connected' whose 'disconnected' never came: the timer finds the service has no
    # such connection and removes the row (then bob may not claim it: it is unknown again)
    fns["OnClientConnected"](ctx("connections", "connected"))
    assert fns["userclient"](bob_req).status_code == 403
    fns["ReconcileConnections"](None)
    assert fns["userclient"](bob_req).status_code == 404
