"""Acknowledgements survive a reconnect, and a delivered call whose acknowledgement never
comes ends in a final status (`unacknowledged`) after AckWindowSeconds."""
import asyncio
import time

import pytest

from tests.conftest import Api, call_payload, new_agent, run_async, start_stack, status_of, stop_stack, wait_status
from tests.test_functions_flow import next_notification
from tests.test_inputs_at_the_door import unique

ACK_WINDOW = 2.0


@pytest.fixture(scope="module")
def short_window(tmp_path_factory):
    """A stack whose ack window is 2 s (its own state: tokens of the session's stack don't fit)."""
    s = start_stack(tmp_path_factory.mktemp("ack-window"), env={"AckWindowSeconds": str(ACK_WINDOW)})
    yield s
    stop_stack(s)


def sign_in(stack):
    import json

    from tests.conftest import Identity

    ident = Identity(stack, json.loads((stack.state_dir / "identity.json").read_text()))
    return ident, ident.agent_result("alice")["access_token"], Api(stack, ident.sender_token())


def late_ack(stack, look_in_between: bool) -> tuple[Api, str]:
    """Deliver a call to alice, leave it unanswered past the ack window, then acknowledge
    it; `look_in_between`: GET its status before the late ack (it must be final by then)."""
    ident, token, sender = sign_in(stack)
    message_id = unique("late-ack")

    async def scenario():
        agent = new_agent(stack, token)
        await agent.start()
        await agent.wait_registered()
        try:
            r = await asyncio.to_thread(sender.call, "POST", "/api/SendMessageToUser",
                                        {"userId": ident.oid("alice"), "messageId": message_id,
                                         "message": call_payload()})
            assert r.json()["status"] == "sent"
            await next_notification(agent, message_id)
            await asyncio.sleep(ACK_WINDOW + 0.5)
            if look_in_between:
                body = await asyncio.to_thread(status_of, sender, message_id)
                assert body["status"] == "unacknowledged" and "2 s" in body["reason"] and body["completedAt"]
            await agent.invoke("sendMessage", [{"messageId": message_id, "outcome": "Accepted"}])
            await asyncio.sleep(0.5)
        finally:
            await agent.stop()
    run_async(scenario())
    return sender, message_id


def test_a_call_never_acknowledged_ends_unacknowledged_and_a_late_ack_changes_nothing(short_window):
    sender, message_id = late_ack(short_window, look_in_between=True)
    assert status_of(sender, message_id)["status"] == "unacknowledged"


def test_the_window_also_ends_a_call_nobody_looks_at_before_the_late_ack(short_window):
    """No GET in between: the late ack itself finds the message past its window."""
    sender, message_id = late_ack(short_window, look_in_between=False)
    assert status_of(sender, message_id)["status"] == "unacknowledged"


def test_an_ack_made_while_reconnecting_arrives_after_the_next_handshake(stack, tokens, identity, sender_api):
    message_id = unique("ack-gap")

    async def scenario():
        agent = new_agent(stack, tokens["alice"])
        await agent.start()
        await agent.wait_registered()
        try:
            r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser",
                                        {"userId": identity.oid("alice"), "messageId": message_id,
                                         "message": call_payload()})
            n = await next_notification(agent, r.json()["messageId"])
            await agent._ws.close()  # the network drops; the agent answers the call meanwhile
            deadline = time.monotonic() + 5
            while agent.state == "connected":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            await agent.invoke_until_answered("sendMessage", [{"messageId": n.message_id, "outcome": "Rejected"}])
            assert agent.core.pending_invocations == 1
            await asyncio.to_thread(wait_status, sender_api, message_id, "rejected")
            deadline = time.monotonic() + 5
            while agent.core.pending_invocations:  # the service's Completion clears it
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await agent.stop()
    run_async(scenario())
