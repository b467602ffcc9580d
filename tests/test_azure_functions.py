"""The Azure Functions entry points (functionapp/function_app.py) reach the same handlers
with the same results as the Flask routes: one shared table of cases, run through both.

The Azure host runs in-process against the running local stack's identity provider and
SignalR emulator (as it would against Entra ID and Azure SignalR) and Azure Tables on
Azurite; the Flask host is the real server over HTTPS."""
import asyncio
import json
import uuid

import azure.functions as func
import pytest

from tests.conftest import Api, azure_settings, call_payload, function_app, new_agent, run_async

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
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())
    key = f"Endpoint={stack.url};AccessKey={secrets['signalr_primary_key']};Version=1.0;"
    with function_app(azure_settings(stack, identity, azurite, key)) as loaded:
        yield loaded


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
    """connected → stored (another user can neither claim nor re-own it), ack → recorded
    (and refused in another user's name), disconnected → removed once the service no
    longer has the connection; a row whose 'disconnected' was lost → removed by the timer.
    The connections are real ones on the emulator, which the handlers ask (REST) as they
    would ask Azure SignalR."""
    module, fns = azure_app
    store = module.functions().store
    alice, bob = identity.oid("alice"), identity.oid("bob")

    def ctx(connection, category, event, user=alice, **extra):
        return json.dumps({"ConnectionId": connection, "UserId": user, "Hub": "myhub", "Category": category,
                           "Event": event, "Arguments": [], "Headers": {}, "Query": {}, "Claims": {}, **extra})

    def http(fn, method, path, token, body=None, **kw):
        headers = {"Authorization": f"Bearer {tokens[token]}", "Content-Type": "application/json"}
        response = fns[fn](func.HttpRequest(method, f"https://x{path}", headers=headers,
                                            body=json.dumps(body).encode() if body else b"", **kw))
        return response.status_code, json.loads(response.get_body()) if response.get_body() else None

    def status(message_id):
        return http("messages", "GET", f"/api/messages/{message_id}", "sender",
                    route_params={"messageId": message_id})[1]["status"]

    def send(user):
        return http("SendMessageToUser", "POST", "/api/SendMessageToUser", "sender",
                    {"userId": user, "message": call_payload(), "ttlSeconds": 30})[1]["messageId"]

    async def scenario():
        agent = new_agent(stack, tokens["alice"], register=False)
        await agent.start()
        await agent.wait_registered()
        connection = agent.core.connection_id
        await asyncio.to_thread(fns["OnClientConnected"], ctx(connection, "connections", "connected"))
        assert store.get_connection(connection).user_id == alice
        await asyncio.to_thread(fns["OnClientConnected"], ctx(connection, "connections", "connected", user=bob))
        assert store.get_connection(connection).user_id == alice  # not re-owned
        claim = await asyncio.to_thread(http, "userclient", "POST", "/api/userclient", "bob",
                                        {"connectionId": connection})
        assert claim == (404, {"error": "unknown_connection", "message":
                               f"The SignalR service has no connection '{connection}' of yours."})

        mine, bobs = await asyncio.to_thread(send, alice), await asyncio.to_thread(send, bob)
        for user, message_id in ((bob, bobs), (alice, mine)):
            await asyncio.to_thread(fns["SendMessageAcknowlegement"], ctx(
                connection, "messages", "sendMessage", user=user,
                Arguments=[{"messageId": message_id, "outcome": "Rejected", "reason": "r"}]))
        assert await asyncio.to_thread(status, mine) == "rejected"
        assert await asyncio.to_thread(status, bobs) == "queued"  # not acked through alice's connection
        # a malformed ack from a client is logged, not raised out of the trigger
        await asyncio.to_thread(fns["SendMessageAcknowlegement"],
                                ctx(connection, "messages", "sendMessage", Arguments=[42]))

        await asyncio.to_thread(fns["OnClientDisconnect"], ctx(connection, "connections", "disconnected"))
        assert store.get_connection(connection) is not None  # the service still has it
        await agent.stop()
        await asyncio.to_thread(fns["OnClientDisconnect"], ctx(connection, "connections", "disconnected"))
        assert store.get_connection(connection) is None
        await asyncio.to_thread(fns["OnClientConnected"], ctx(connection, "connections", "connected"))
        assert store.get_connection(connection) is None  # gone from the service: nothing recorded

        # a 'connected' whose 'disconnected' never came: the timer finds the service has no
        # such connection and removes the row
        agent = new_agent(stack, tokens["alice"], register=False)
        await agent.start()
        await agent.wait_registered()
        lost = agent.core.connection_id
        await asyncio.to_thread(fns["OnClientConnected"], ctx(lost, "connections", "connected"))
        await agent.stop()
        assert store.get_connection(lost) is not None
        await asyncio.to_thread(fns["ReconcileConnections"], None)
        assert store.get_connection(lost) is None

    run_async(scenario())
