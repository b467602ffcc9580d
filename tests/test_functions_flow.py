"""Real server, real WebSockets: the sample's flow through our functions and emulator,
driven by the widget's core under CPython (simagent)."""
import asyncio
import time
import uuid

import pytest

from adaptor_core.notifications import parse_notification
from tests.conftest import call_payload, new_agent, run_async, status_of, wait_status

pytestmark = [pytest.mark.backends, pytest.mark.token_versions]


def send(sender_api, user_oid, ttl=None, message_id=None, **payload):
    body = {"userId": user_oid, "message": call_payload(**payload)}
    if ttl is not None:
        body["ttlSeconds"] = ttl
    if message_id:
        body["messageId"] = message_id
    r = sender_api.call("POST", "/api/SendMessageToUser", body)
    return r


async def next_notification(agent, message_id=None, timeout=10):
    """The next notification (or the one with message_id: earlier tests may have left
    unanswered calls that are redelivered on connect, as they should be)."""
    while True:
        inv = await asyncio.wait_for(agent.invocations.get(), timeout)
        assert inv.target == "ReceiveNotification"
        n = parse_notification(inv.arguments[0])
        if message_id is None or n.message_id == message_id:
            return n


def test_connect_register_notify_ack(stack, tokens, identity, sender_api):
    async def scenario():
        agent = new_agent(stack, tokens["alice"])
        await agent.start()
        await agent.wait_registered()
        r = await asyncio.to_thread(send, sender_api, identity.oid("alice"), interactionId="int-1")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "sent" and r.json()["connections"] >= 1
        n = await next_notification(agent, r.json()["messageId"])
        assert n.phone == "+15551234567" and n.interaction_id == "int-1"
        await agent.invoke("sendMessage", [{"messageId": n.message_id, "outcome": "Accepted"}])
        body = await asyncio.to_thread(wait_status, sender_api, n.message_id, "accepted")
        assert body["userId"] == identity.oid("alice") and body["completedAt"]
        await agent.stop()
        # disconnect removes the connection: with ttl 0 the user is now "not connected"
        await asyncio.sleep(0.3)
        r = await asyncio.to_thread(send, sender_api, identity.oid("alice"), ttl=0)
        assert r.status_code == 404 and r.json()["error"] == "user_not_connected"

    run_async(scenario())


def test_offline_user_gets_queued_message_on_connect(stack, tokens, identity, sender_api):
    r = send(sender_api, identity.oid("bob"), ttl=30)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    message_id = r.json()["messageId"]

    async def scenario():
        agent = new_agent(stack, tokens["bob"])
        await agent.start()
        await next_notification(agent, message_id)
        await agent.invoke("sendMessage", [{"messageId": message_id, "outcome": "Rejected", "reason": "busy"}])
        body = await asyncio.to_thread(wait_status, sender_api, message_id, "rejected")
        assert body["reason"] == "busy" and body["deliveries"] >= 1
        await agent.stop()

    run_async(scenario())


def test_queued_message_expires_after_ttl(stack, identity, sender_api):
    r = send(sender_api, str(uuid.uuid4()), ttl=1)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    time.sleep(1.2)
    assert status_of(sender_api, r.json()["messageId"])["status"] == "expired"


def test_two_tabs_both_notified_outcome_recorded_once(stack, tokens, identity, sender_api):
    async def scenario():
        tabs = [new_agent(stack, tokens["alice"]) for _ in range(2)]
        bob = new_agent(stack, tokens["bob"])
        for a in (*tabs, bob):
            await a.start()
            await a.wait_registered()
        r = await asyncio.to_thread(send, sender_api, identity.oid("alice"))
        assert r.json()["connections"] == 2
        got = [await next_notification(t, r.json()["messageId"]) for t in tabs]
        assert {n.message_id for n in got} == {r.json()["messageId"]}
        await tabs[0].invoke("sendMessage", [{"messageId": got[0].message_id, "outcome": "Accepted"}])
        await asyncio.to_thread(wait_status, sender_api, got[0].message_id, "accepted")
        await tabs[1].invoke("sendMessage", [{"messageId": got[0].message_id, "outcome": "Rejected"}])
        await asyncio.sleep(0.3)
        assert status_of(sender_api, got[0].message_id)["status"] == "accepted"
        # Bob never sees Alice's call, and cannot acknowledge it either.
        bob_saw = [parse_notification(i.arguments[0]).message_id for i in bob.invocations._queue]
        assert got[0].message_id not in bob_saw
        await bob.invoke("sendMessage", [{"messageId": got[0].message_id, "outcome": "Rejected"}])
        await asyncio.sleep(0.3)
        assert status_of(sender_api, got[0].message_id)["status"] == "accepted"
        for a in (*tabs, bob):
            await a.stop()

    run_async(scenario())


def test_seed_string_ack_and_json_string_message_are_accepted(stack, tokens, identity, sender_api):
    async def scenario():
        agent = new_agent(stack, tokens["alice"])
        await agent.start()
        await agent.wait_registered()
        import json as _json

        body = {"userId": identity.oid("alice"), "message": _json.dumps(call_payload())}
        r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser", body)
        assert r.status_code == 202
        n = await next_notification(agent, r.json()["messageId"])
        await agent.invoke("sendMessage", ["Accepted"])  # the seed's bare string: logged, uncorrelated
        await asyncio.sleep(0.3)
        assert status_of(sender_api, n.message_id)["status"] == "sent"
        assert agent.state == "connected"
        await agent.stop()

    run_async(scenario())
