"""Bad input over HTTPS, once per store backend: a smoke pass of the rules
tests/test_handlers.py holds in-process (4xx JSON naming the rule, never a 500, nothing
stored), and what needs the real server — live agents, chunked bodies, the emulator's
WebSocket endpoint (docs/functions-api.md)."""
import asyncio
import json

import jwt
import pytest
import websockets

from adaptor_core import hub_protocol as hp
from adaptor_core.connection import negotiate_url, websocket_url
from server.http_client import tls_context
from server.idp.directory import load_directory
from server.signalr_service.limits import MESSAGE_BURST, MESSAGE_RATE
from server.upstream import signature as upstream_signature
from tests.conftest import Api, call_payload, new_agent, run_async

pytestmark = pytest.mark.backends


def expect(r, status, code=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["message"]
    if code:
        assert body["error"] == code, body
    return body


# --- the rules of tests/test_handlers.py, once over HTTPS per store backend ----------------

def test_https_smoke_of_the_input_rules(stack, sender_api, tokens, forge, webhook):
    """One of each kind through the server: the handlers' answer reaches the caller as JSON
    over Flask; the server's own body limit (Flask's, before any handler) is 413 too."""
    expect(sender_api.call("POST", "/api/SendMessageToUser", None, data=b"{not json",
                           headers={"Content-Type": "application/json"}), 400, "malformed_json")
    expect(sender_api.call("POST", "/api/SendMessageToUser", {"userId": "u1", "message": 7}), 422, "invalid_field")
    expect(Api(stack, tokens["alice"]).call("POST", "/api/userclient", {"connectionStatus": 1}), 400, "missing_field")
    expect(Api(stack, forge("alice", aud="api://other")).call("POST", "/api/negotiate"), 401, "invalid_audience")
    expect(Api(stack, tokens["alice"]).call("GET", "/api/messages/x"), 403, "missing_role")
    expect(sender_api.call("GET", "/api/messages/nope-123"), 404, "unknown_message")
    expect(webhook(signature="sha256=" + "0" * 64), 403, "invalid_signature")
    expect(webhook(code="é-not-ascii"), 401, "invalid_code")


def test_oversized_body_is_413_and_not_stored(sender_api):
    body = {"userId": "u1", "messageId": "big-1", "message": call_payload(comments="x" * 70_000)}
    expect(sender_api.call("POST", "/api/SendMessageToUser", body), 413)
    expect(sender_api.call("GET", "/api/messages/big-1"), 404, "unknown_message")


def test_duplicate_message_id_is_409_and_first_kept(sender_api, identity):
    body = {"userId": "offline-user", "messageId": "dup-1", "message": call_payload(comments="first")}
    assert sender_api.call("POST", "/api/SendMessageToUser", body).status_code == 202
    body["message"] = call_payload(comments="second")
    expect(sender_api.call("POST", "/api/SendMessageToUser", body), 409, "duplicate_message_id")
    assert sender_api.call("GET", "/api/messages/dup-1").json()["status"] == "queued"


# --- tokens -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forge(stack, tokens):
    directory = load_directory(stack.state_dir)

    def make(base: str, key=None, **changes):
        claims = {**jwt.decode(tokens[base], options={"verify_signature": False}), **changes}
        return jwt.encode(claims, key or directory.private_key, algorithm="RS256", headers={"kid": directory.kid})
    return make


def test_alice_cannot_register_or_remove_bobs_connection_nor_learn_it_exists(stack, tokens, sender_api, identity):
    """Bob's connection id gets the very answer a made-up one gets (no existence oracle),
    and his row stays."""
    alice = Api(stack, tokens["alice"])

    def answer(connection_id: str, status: int):
        r = alice.call("POST", "/api/userclient", {"connectionId": connection_id, "connectionStatus": status})
        return r.status_code, r.text.replace(connection_id, "<id>")

    async def scenario():
        bob = new_agent(stack, tokens["bob"])
        await bob.start()
        await bob.wait_registered()
        connection_id = bob.core.connection_id
        for status in (1, 0):
            foreign = await asyncio.to_thread(answer, connection_id, status)
            unknown = await asyncio.to_thread(answer, "made-up-" + connection_id[:8], status)
            assert foreign == unknown, (foreign, unknown)
        assert foreign[0] == 200 and unknown[0] == 200
        expect(alice.call("POST", "/api/userclient", {"connectionId": connection_id}), 404, "unknown_connection")
        r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser",
                                    {"userId": identity.oid("bob"), "message": call_payload()})
        assert r.json()["connections"] >= 1  # bob's row survived alice's 'disconnect'
        await bob.stop()

    run_async(scenario())


def test_userclient_accepts_the_seed_misspelling(stack, tokens):
    async def scenario():
        agent = new_agent(stack, tokens["alice"], register=False)
        await agent.start()
        await agent.wait_registered()
        api = Api(stack, tokens["alice"])
        r = await asyncio.to_thread(api.call, "POST", "/api/userclient",
                                    {"ConnectionId": agent.core.connection_id, "ConnctionStatus": 1})
        assert r.status_code == 200 and r.json()["connectionStatus"] == 1
        await agent.stop()

    run_async(scenario())


# --- upstream webhook -----------------------------------------------------------------

@pytest.fixture(scope="module")
def webhook(stack, tmp_path_factory):
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())

    def post(connection_id="conn-1", keys=None, hub="myhub", event="connected", category="connections",
             body=None, ctype="application/json", code=None, signature=None, user="user-w"):
        keys = keys or [secrets["signalr_primary_key"]]
        headers = {"Content-Type": ctype, "X-ASRS-Hub": hub, "X-ASRS-Category": category, "X-ASRS-Event": event,
                   "X-ASRS-User-Id": user}
        if connection_id is not None:
            headers["X-ASRS-Connection-Id"] = connection_id
            headers["X-ASRS-Signature"] = signature if signature is not None else upstream_signature(connection_id, keys)
        return stack.session().post(f"{stack.url}/runtime/webhooks/signalr",
                                    params={"code": code or secrets["functions_key"]},
                                    data=json.dumps(body if body is not None else {"type": 10}), headers=headers)
    post.secrets = secrets
    post.tmp = tmp_path_factory.mktemp("webhook")
    return post


def test_a_replayed_signature_acts_only_as_the_connections_recorded_owner(stack, tokens, identity, sender_api,
                                                                          webhook):
    """The signature covers the connection id only and never expires: whoever holds one (and
    the functions key) can send any X-ASRS-User-Id. Acks count only from a connection the
    store records for the message's user; events can't re-own or drop a live connection."""
    alice, bob = identity.oid("alice"), identity.oid("bob")

    def ack(connection_id, user, message_id):
        inv = {"type": 1, "target": "sendMessage", "arguments": [{"messageId": message_id, "outcome": "Accepted"}]}
        return webhook(connection_id=connection_id, user=user, category="messages", event="sendMessage", body=inv)

    def status(message_id):
        return sender_api.call("GET", f"/api/messages/{message_id}").json()["status"]

    async def scenario():
        agent = new_agent(stack, tokens["alice"])  # alice's real connection: its signature "leaked"
        await agent.start()
        await agent.wait_registered()
        c = agent.core.connection_id
        bobs = sender_api.call("POST", "/api/SendMessageToUser", {"userId": bob, "message": call_payload()}).json()
        # alice's connection, bob's name: refused, bob's call untouched
        expect(await asyncio.to_thread(ack, c, bob, bobs["messageId"]), 403, "connection_not_yours")
        # a made-up connection (a signature is easy to make for any id with the key, or replayed)
        expect(await asyncio.to_thread(ack, "made-up-" + c[:8], bob, bobs["messageId"]), 403, "connection_not_yours")
        # events can't move alice's live connection to bob, nor drop it while it is live
        expect(await asyncio.to_thread(webhook, connection_id=c, user=bob), 409, "connection_owned")
        assert (await asyncio.to_thread(webhook, connection_id=c, user=alice, event="disconnected",
                                        body={"type": 11})).status_code == 200
        # a 'connected' for a connection the service doesn't have records nothing
        assert (await asyncio.to_thread(webhook, connection_id="made-up-2", user=bob)).status_code == 200
        expect(await asyncio.to_thread(ack, "made-up-2", bob, bobs["messageId"]), 403, "connection_not_yours")
        assert status(bobs["messageId"]) == "queued"
        # alice's row survived: her calls still reach her, and her own ack counts
        mine = sender_api.call("POST", "/api/SendMessageToUser", {"userId": alice, "message": call_payload()}).json()
        assert mine["status"] == "sent" and mine["connections"] >= 1
        assert (await asyncio.to_thread(ack, c, alice, mine["messageId"])).status_code == 200
        assert status(mine["messageId"]) == "accepted"
        await agent.stop()

    run_async(scenario())


def test_chunked_bodies_are_read_with_the_same_limit(sender_api):
    def chunked(body: dict):
        raw = json.dumps(body).encode()
        return sender_api.call("POST", "/api/SendMessageToUser", data=(raw[i:i + 1000] for i in range(0, len(raw), 1000)),
                               headers={"Content-Type": "application/json"})

    r = chunked({"userId": "chunky", "messageId": "chunked-1", "message": call_payload()})
    assert r.request.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in r.request.headers
    assert r.status_code == 202, r.text
    expect(chunked({"userId": "chunky", "messageId": "chunked-2", "message": call_payload(comments="x" * 70_000)}),
           413)
    expect(sender_api.call("GET", "/api/messages/chunked-2"), 404, "unknown_message")


# --- the emulator's WebSocket endpoint ---------------------------------------------------

async def raw_socket(stack, token):
    import httpx

    tls = tls_context(stack.certs.ca)
    async with httpx.AsyncClient(verify=tls, trust_env=False) as http:
        info = (await http.post(f"{stack.url}/api/negotiate", headers={"Authorization": f"Bearer {token}"})).json()
        neg = (await http.post(negotiate_url(info["url"]), headers={"Authorization": f"Bearer {info['accessToken']}"})).json()
    return await websockets.connect(websocket_url(info["url"], neg["connectionToken"], info["accessToken"]), ssl=tls,
                                    max_size=2**22)


def run_socket(stack, token, send_first, then=None):
    async def scenario():
        ws = await raw_socket(stack, token)
        received = []
        await ws.send(send_first)
        if then is not None:
            received.append(await asyncio.wait_for(ws.recv(), 5))
            for frame in ([then] if isinstance(then, str) else then):
                await ws.send(frame)
        try:
            while True:
                received.append(await asyncio.wait_for(ws.recv(), 5))
        except websockets.ConnectionClosed:
            pass
        return received
    return run_async(scenario())


HANDSHAKE = hp.encode_handshake_request()


def test_messagepack_handshake_is_refused(stack, tokens):
    got = run_socket(stack, tokens["alice"], hp.encode_handshake_request("messagepack", 1))
    assert "not supported" in hp.decode_handshake_response(got[0].rstrip(hp.RS)).error


@pytest.mark.parametrize("frame,needle", [
    ("this is not json" + hp.RS, "malformed JSON"),
    ('{"type": "99"}' + hp.RS, "unknown message type"),
    ('{"type": 1, "target": 5}' + hp.RS, "target"),
    (["x" * 150_000, "x" * 150_000 + hp.RS], "larger than"),  # one record over two frames
])
def test_garbage_frames_close_with_an_error(stack, tokens, frame, needle):
    got = run_socket(stack, tokens["alice"], HANDSHAKE, then=frame)
    assert got[0] == "{}" + hp.RS
    close = hp.decode(got[-1].rstrip(hp.RS))
    assert isinstance(close, hp.Close) and needle in close.error


def test_message_types_the_service_does_not_speak_are_skipped_not_fatal(stack, tokens):
    """A future type number, streaming and stateful-reconnect messages from a client: the
    service skips them and the records after them in the same frame still count; a
    StreamInvocation awaiting an answer gets an error Completion."""
    frame = "".join(json.dumps(m) + hp.RS for m in [
        {"type": 99, "future": [1]}, {"type": 2, "invocationId": "s", "item": 1}, {"type": 5, "invocationId": "x"},
        {"type": 8, "sequenceId": 1}, {"type": 9, "sequenceId": 1},
        {"type": 4, "invocationId": "7", "target": "stream", "arguments": []},
        {"type": 1, "invocationId": "8", "target": "sendMessage", "arguments": [{"messageId": "none", "outcome": "Accepted"}]},
    ])

    async def scenario():
        ws = await raw_socket(stack, tokens["alice"])
        try:
            await ws.send(HANDSHAKE)
            assert await asyncio.wait_for(ws.recv(), 5) == "{}" + hp.RS
            await ws.send(frame)
            answers = {}
            while len(answers) < 2:
                for record in (await asyncio.wait_for(ws.recv(), 10)).split(hp.RS):
                    message = hp.decode(record) if record else None
                    if isinstance(message, hp.Completion):
                        answers[message.invocation_id] = message
                    assert not isinstance(message, hp.Close), message
            return answers
        finally:
            await ws.close()

    answers = run_async(scenario())
    assert "not supported" in answers["7"].error
    assert "unknown_message" in answers["8"].error or "No message" in answers["8"].error  # the webhook answered


@pytest.mark.parametrize("frame,reason", [
    ("y" * 400_000, None),  # over the frame limit: the socket is closed (1009)
    # one frame of 1,000 records: over the message rate (server/signalr_service/limits.py)
    (hp.encode(hp.Ping()) * (MESSAGE_BURST * 10), f"more than {MESSAGE_BURST} at once or {MESSAGE_RATE:g} a second"),
])
def test_a_misbehaving_connection_is_closed_and_others_are_not(stack, tokens, sender_api, identity, frame, reason):
    async def scenario():
        bystander = new_agent(stack, tokens["bob"])
        await bystander.start()
        await bystander.wait_registered()
        ws = await raw_socket(stack, tokens["alice"])
        await ws.send(HANDSHAKE)
        await ws.recv()
        await ws.send(frame)
        received = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                received.append(await asyncio.wait_for(ws.recv(), 5))
        if reason:
            close = hp.decode(received[-1].rstrip(hp.RS))
            assert isinstance(close, hp.Close) and reason in close.error, close
        r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser",
                                    {"userId": identity.oid("bob"), "message": call_payload()})
        assert r.json()["status"] == "sent"
        inv = await asyncio.wait_for(bystander.invocations.get(), 5)
        assert inv.target == "ReceiveNotification"
        await bystander.stop()

    run_async(scenario())


def test_unknown_hub_method_gets_a_completion_error_and_stays_connected(stack, tokens):
    inv = hp.encode(hp.Invocation("dance", [], "7"))
    got = run_socket_until(stack, tokens["alice"], inv)
    completion = hp.decode(got.rstrip(hp.RS))
    assert isinstance(completion, hp.Completion) and completion.invocation_id == "7"
    assert "dance" in completion.error


def run_socket_until(stack, token, frame):
    async def scenario():
        ws = await raw_socket(stack, token)
        await ws.send(HANDSHAKE)
        await ws.recv()
        await ws.send(frame)
        while True:
            text = await asyncio.wait_for(ws.recv(), 5)
            if '"type":3' in text:
                await ws.close()
                return text
    return run_async(scenario())


def test_websocket_without_valid_negotiation_is_refused(stack, tokens):
    async def scenario():
        tls = tls_context(stack.certs.ca)
        url = f"wss://127.0.0.1:{stack.port}/client/?hub=myhub&id=made-up&access_token=bad"
        with pytest.raises(websockets.InvalidStatus) as err:
            await websockets.connect(url, ssl=tls)
        assert err.value.response.status_code == 403
    run_async(scenario())
