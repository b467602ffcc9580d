"""What comes in from the sender and can't be carried on unchanged is refused at the door
with the rule named; what can be, is stored, delivered and read back — the same answer on
SQLite and on Azure Tables (Azurite). Real server, real WebSockets (simagent)."""
import asyncio
import json
import uuid

import pytest

from adaptor_core import hub_protocol as hp
from server.azure_signalr import ConnectionString
from tests.conftest import call_payload, new_agent, run_async, wait_status
from tests.test_functions_flow import next_notification

pytestmark = pytest.mark.backends


def post_raw(sender_api, text: str):
    """POST a body written by hand (JSON escapes such as a lone \\ud83d survive as sent)."""
    return sender_api.call("POST", "/api/SendMessageToUser", data=text.encode("utf-8"),
                           headers={"Content-Type": "application/json"})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- values that parse but cannot be sent on (lone surrogates) ---------------------------------

@pytest.mark.parametrize("template, field", [
    ('{{"userId":"u1","messageId":"{id}","message":{{"PhoneNumber":"1","comments":"\\ud83d broken"}}}}',
     "message.comments"),
    ('{{"userId":"u1","messageId":"{id}","message":{{"PhoneNumber":"\\udc00"}}}}', "message.PhoneNumber"),
    ('{{"userId":"u1","messageId":"{id}","message":{{"PhoneNumber":"1","extra":["ok","x\\uDBFF"]}}}}',
     "message.extra[1]"),
    ('{{"userId":"u1","messageId":"{id}","message":{{"PhoneNumber":"1","k\\ud800":"v"}}}}', "(a key)"),
    ('{{"userId":"\\ud83d","messageId":"{id}","message":{{"PhoneNumber":"1"}}}}', "userId"),
    ('{{"userId":"u1","messageId":"{id}","message":"{{\\"PhoneNumber\\":\\"1\\",\\"comments\\":\\"\\\\ud83d\\"}}"}}',
     "message"),
])
def test_lone_surrogates_anywhere_are_refused_naming_the_field(sender_api, template, field):
    message_id = unique("bad-text")
    r = post_raw(sender_api, template.format(id=message_id))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_text" and field in r.json()["message"]
    assert sender_api.call("GET", f"/api/messages/{message_id}").status_code == 404  # nothing stored


def test_well_formed_surrogate_pairs_and_control_characters_are_carried(sender_api):
    message_id = unique("pair")
    r = post_raw(sender_api, f'{{"userId":"offline-x","messageId":"{message_id}","message":{{"PhoneNumber":"1",'
                             '"comments":"\\ud83d\\ude00 tab\\t nul\\u0000 \\u0085"}}')
    assert r.status_code == 202, r.text


def test_a_bad_message_never_blocks_the_calls_queued_behind_it(stack, tokens, identity, sender_api):
    bob = identity.oid("bob")
    good = [unique("before"), unique("after")]
    assert sender_api.call("POST", "/api/SendMessageToUser", {"userId": bob, "messageId": good[0], "ttlSeconds": 60,
                                                              "message": call_payload()}).status_code == 202
    bad = post_raw(sender_api, f'{{"userId":"{bob}","ttlSeconds":60,"message":{{"PhoneNumber":"1","comments":"\\ud83d"}}}}')
    assert bad.status_code == 400
    assert sender_api.call("POST", "/api/SendMessageToUser", {"userId": bob, "messageId": good[1], "ttlSeconds": 60,
                                                              "message": call_payload()}).status_code == 202

    async def scenario():
        agent = new_agent(stack, tokens["bob"])
        await agent.start()
        try:
            for message_id in good:
                await next_notification(agent, message_id)
        finally:
            await agent.stop()
    run_async(scenario())


def test_a_lone_surrogate_in_an_acknowledgement_is_refused_and_the_connection_lives_on(stack, tokens, identity,
                                                                                      sender_api):
    message_id = unique("ack-text")
    assert sender_api.call("POST", "/api/SendMessageToUser", {"userId": identity.oid("alice"), "messageId": message_id,
                                                              "message": call_payload()}).status_code == 202

    async def scenario():
        agent = new_agent(stack, tokens["alice"])
        await agent.start()
        try:
            await next_notification(agent, message_id)
            await agent.invoke("sendMessage", [{"messageId": message_id, "outcome": "Accepted", "reason": "x\ud83d"}])
            await asyncio.sleep(0.5)
            assert agent.state == "connected"
            await agent.invoke("sendMessage", [{"messageId": message_id, "outcome": "Accepted", "reason": "ok"}])
            await asyncio.to_thread(wait_status, sender_api, message_id, "accepted")
        finally:
            await agent.stop()
    run_async(scenario())


# --- one size limit, at the door ----------------------------------------------------------------

BODY_LIMIT = 64 * 1024


def body_of(size: int, message_id: str, char: str = "😀", user_id: str = "u1") -> bytes:
    """A SendMessageToUser body of exactly `size` UTF-8 bytes, its extra field made of `char`."""
    head = json.dumps({"userId": user_id, "messageId": message_id, "message": {"PhoneNumber": "1", "extra": ""}},
                      ensure_ascii=False)[:-3]
    tail = '"}}'
    room = size - len(head.encode()) - len(tail.encode())
    width = len(char.encode())
    text = head + char * (room // width) + "x" * (room % width) + tail
    assert len(text.encode()) == size
    return text.encode()


def test_the_body_limit_is_the_one_limit_and_the_413_names_it(sender_api):
    message_id = unique("too-big")
    r = sender_api.call("POST", "/api/SendMessageToUser", data=body_of(BODY_LIMIT + 1, message_id),
                        headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert "65,536 bytes" in r.json()["message"]
    assert sender_api.call("GET", f"/api/messages/{message_id}").status_code == 404


def test_every_body_under_the_limit_fits_one_hub_record_however_escaped():
    # the widest escaping: a 4-byte character becomes a 12-character surrogate pair escape
    worst = json.loads(body_of(BODY_LIMIT, "m"))["message"]
    assert len(hp.encode(hp.Invocation("ReceiveNotification", [worst]))) <= hp.MAX_RECORD


@pytest.mark.parametrize("char", ["😀", "x", "é"])
def test_the_largest_body_accepted_is_stored_delivered_and_taken_by_the_widget_core(stack, tokens, identity,
                                                                                     sender_api, char):
    """64 KiB exactly, of the character that escapes widest: 202, stored (Tables splits it),
    and the widget's core takes the record — no reconnect loop."""
    message_id = unique("largest")
    body = body_of(BODY_LIMIT, message_id, char, identity.oid("alice"))

    async def scenario():
        agent = new_agent(stack, tokens["alice"])
        await agent.start()
        await agent.wait_registered()
        try:
            r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser", data=body,
                                        headers={"Content-Type": "application/json"})
            assert r.status_code == 202 and r.json()["status"] == "sent", r.text
            n = await next_notification(agent, message_id)
            assert n.message_id == message_id
            assert agent.state == "connected" and not [s for s in agent.states if s.state == "reconnecting"]
        finally:
            await agent.stop()
    run_async(scenario())
    assert sender_api.call("GET", f"/api/messages/{message_id}").json()["status"] == "sent"


# --- Azure Tables limits: the same answer on both backends ---------------------------------------

@pytest.mark.parametrize("text", ["é" * 6000, "漢" * 9000, "😀" * 4500, "\x00\x1f\x85" * 3000, "x" * 60000])
def test_text_that_escapes_past_a_table_property_limit_is_stored_on_both_backends(sender_api, text):
    """6,000 × é is 36,000 characters once JSON-escaped: over a Table string property's
    32K; the store splits the payload, so Tables answers as SQLite does."""
    message_id = unique("wide-store")
    r = sender_api.call("POST", "/api/SendMessageToUser", {"userId": "offline-wide", "messageId": message_id,
                                                           "ttlSeconds": 60, "message": call_payload(extra=text)})
    assert r.status_code == 202, r.text
    assert sender_api.call("GET", f"/api/messages/{message_id}").json()["status"] == "queued"


def test_a_wide_queued_message_is_delivered_unchanged_from_the_store(stack, tokens, identity, sender_api):
    message_id = unique("wide-deliver")
    extra = "é" * 6000 + "😀" * 1000 + "漢" * 1000  # sent as \\u escapes: 54 KB
    r = sender_api.call("POST", "/api/SendMessageToUser", {
        "userId": identity.oid("bob"), "messageId": message_id, "ttlSeconds": 60,
        "message": call_payload(comments="Zoë ☎", extra=extra)})
    assert r.status_code == 202, r.text

    async def scenario():
        agent = new_agent(stack, tokens["bob"])
        await agent.start()
        try:
            while True:
                invocation = await asyncio.wait_for(agent.invocations.get(), 10)
                if invocation.arguments[0].get("messageId") == message_id:
                    return invocation.arguments[0]
        finally:
            await agent.stop()
    delivered = run_async(scenario())
    assert delivered["extra"] == extra and delivered["comments"] == "Zoë ☎"


# --- user ids as Azure SignalR takes them ------------------------------------------------------------

ODD_USER_IDS = ["alice@contoso.com", "alice smith", "a/b", "50%", "a+b", "what?", "#1", "Zoë 😀", "x" * 1024,
                "...", "%2F", "a\\b", "a;b=c", "~user", "user."]


@pytest.mark.parametrize("user_id", ODD_USER_IDS)
def test_any_user_id_azure_signalr_accepts_is_queued(sender_api, user_id):
    message_id = unique("odd-user")
    r = sender_api.call("POST", "/api/SendMessageToUser", {"userId": user_id, "messageId": message_id,
                                                           "message": call_payload()})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    assert sender_api.call("GET", f"/api/messages/{message_id}").json()["userId"] == user_id


@pytest.mark.parametrize("user_id, rule", [
    ("x" * 1025, "1 to 1024 characters"), ("", "1 to 1024 characters"), ("   ", "not all blank"),
    ("a\nb", "U+000A"), ("nul\x00", "U+0000"), ("c1\x85", "U+0085"), ("del\x7f", "U+007F"),
    (".", "dot-segment"), ("..", "dot-segment"),
])
def test_user_ids_azure_signalr_refuses_are_400_naming_the_rule(sender_api, user_id, rule):
    r = sender_api.call("POST", "/api/SendMessageToUser", {"userId": user_id, "message": call_payload()})
    assert r.status_code == 400 and r.json()["error"] == "invalid_user_id" and rule in r.json()["message"], r.text


def local_signalr(stack) -> ConnectionString:
    keys = json.loads((stack.state_dir / "local-secrets.json").read_text())
    return ConnectionString(stack.url, keys["signalr_primary_key"])


@pytest.mark.parametrize("user_id", ["alice@contoso.com", "alice smith", "a/b?c#d%e", "Zoë 😀"])
def test_a_user_with_such_an_id_gets_the_call_live_from_the_local_service(stack, sender_api, user_id):
    """A client connected under that id (a client token from the service's key) receives
    the notification SendMessageToUser pushes through the REST API."""
    import httpx
    import websockets

    from adaptor_core.connection import websocket_url
    from adaptor_core.negotiate import Negotiated, Negotiation
    from server.http_client import tls_context

    service = local_signalr(stack)
    client_url, token = service.client_url("myhub"), service.client_token("myhub", user_id)
    message_id = unique("live-odd")

    async def scenario():
        tls = tls_context(stack.certs.ca)
        async with httpx.AsyncClient(verify=tls, trust_env=False) as http:
            n = Negotiation(client_url, token)
            r = await http.post(n.request.url, headers={"Authorization": f"Bearer {token}"})
            step = n.answer(r.status_code, r.text)
            assert isinstance(step, Negotiated)
        async with websockets.connect(websocket_url(step.url, step.connection_token, token), ssl=tls) as ws:
            await ws.send(hp.encode_handshake_request())
            assert await asyncio.wait_for(ws.recv(), 5) == "{}" + hp.RS
            r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser",
                                        {"userId": user_id, "messageId": message_id, "message": call_payload()})
            assert r.status_code == 202 and r.json()["status"] == "sent", r.text
            while True:
                for record in (await asyncio.wait_for(ws.recv(), 10)).split(hp.RS):
                    message = hp.decode(record) if record else None
                    if isinstance(message, hp.Invocation) and message.arguments[0]["messageId"] == message_id:
                        return message
    assert run_async(scenario()).target == "ReceiveNotification"
    if not user_id.isascii():  # no upstream header can carry it: reported, not a crash
        log = stack.log.read_text()
        assert "upstream.unsendable" in log and "UnicodeEncodeError" not in log
