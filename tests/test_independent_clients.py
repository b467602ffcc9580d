"""Independent SignalR clients from PyPI against our functions and emulator, unchanged:
pysignalr and signalrcore. Each gets a call and acknowledges it, through the functions'
negotiate redirect (both then open the service's WebSocket without negotiating there) and
straight at the service's negotiate (they ask no negotiateVersion: a version 0 answer,
`id=<connectionId>`). Our hub codec is also held against pysignalr's JSON codec, both ways.
What ran and what it showed: docs/independent-clients.md."""
import asyncio
import threading
import time

import pytest

from adaptor_core import hub_protocol as hp
from server.http_client import tls_context
from tests.conftest import call_payload, run_async, wait_status
from tests.test_inputs_at_the_door import local_signalr, unique

HUB = "myhub"


def endpoint(stack, tokens, identity, route: str) -> tuple[str, str, str]:
    """(url to give the client, bearer token for it, the user id calls go to)."""
    if route == "functions redirect":
        return f"{stack.url}/api", tokens["alice"], identity.oid("alice")
    user_id = unique("direct")
    return local_signalr(stack).client_url(HUB), local_signalr(stack).client_token(HUB, user_id), user_id


def send_call(sender_api, user_id: str, client: str) -> str:
    message_id = unique(client)
    r = sender_api.call("POST", "/api/SendMessageToUser", {"userId": user_id, "messageId": message_id,
                                                           "message": call_payload()})
    assert r.status_code == 202 and r.json()["status"] == "sent", r.text
    return message_id


@pytest.mark.parametrize("route", ["functions redirect", "service negotiate v0"])
def test_pysignalr_gets_a_call_and_acknowledges_it(stack, tokens, identity, sender_api, route):
    from pysignalr.client import SignalRClient

    url, token, user_id = endpoint(stack, tokens, identity, route)

    async def scenario():
        client = SignalRClient(url, headers={"Authorization": f"Bearer {token}"}, ssl=tls_context(stack.certs.ca),
                               retry_count=1)
        calls: asyncio.Queue = asyncio.Queue()
        opened = asyncio.Event()

        async def on_open() -> None:
            opened.set()

        async def on_call(arguments) -> None:
            await calls.put(arguments[0])

        client.on_open(on_open)
        client.on("ReceiveNotification", on_call)
        running = asyncio.create_task(client.run())
        try:
            await asyncio.wait_for(opened.wait(), 15)
            message_id = await asyncio.to_thread(send_call, sender_api, user_id, "pysignalr")
            while (call := await asyncio.wait_for(calls.get(), 10))["messageId"] != message_id:
                pass  # calls other tests left open for this user are redelivered too
            await client.send("sendMessage", [{"messageId": message_id, "outcome": "Accepted", "reason": "pysignalr"}])
            if route == "functions redirect":  # the ack reaches the functions only for a real agent's call
                await asyncio.to_thread(wait_status, sender_api, message_id, "accepted")
            return call
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    assert run_async(scenario())["PhoneNumber"] == "+15551234567"


@pytest.mark.parametrize("route", ["functions redirect", "service negotiate v0"])
def test_signalrcore_gets_a_call_and_acknowledges_it(stack, tokens, identity, sender_api, route):
    from signalrcore.hub_connection_builder import HubConnectionBuilder
    from signalrcore.protocol.json_hub_protocol import JsonHubProtocol

    url, token, user_id = endpoint(stack, tokens, identity, route)
    opened, calls = threading.Event(), []
    # JSON named explicitly: left to choose, signalrcore takes MessagePack from a redirect
    # (our service speaks JSON only) and sends hub protocol version 0 after a version 0
    # negotiate (the hub protocol version is always 1): docs/independent-clients.md.
    hub = HubConnectionBuilder().with_url(url, options={
        "access_token_factory": lambda: token, "ssl_context": tls_context(stack.certs.ca)}) \
        .with_hub_protocol(JsonHubProtocol()).build()
    hub.on_open(opened.set)
    hub.on("ReceiveNotification", lambda arguments: calls.append(arguments[0]))
    hub.start()
    try:
        assert opened.wait(15), "signalrcore did not connect"
        message_id = send_call(sender_api, user_id, "signalrcore")
        deadline = time.monotonic() + 10
        while not any(c.get("messageId") == message_id for c in list(calls)):
            assert time.monotonic() < deadline, f"no call arrived; got {calls}"
            time.sleep(0.05)
        hub.send("sendMessage", [{"messageId": message_id, "outcome": "Accepted", "reason": "signalrcore"}])
        if route == "functions redirect":
            wait_status(sender_api, message_id, "accepted")
    finally:
        hub.stop()


# --- our codec against pysignalr's, both ways ------------------------------------------------------

def pysignalr_protocol():
    from pysignalr.protocol.json import JSONProtocol

    return JSONProtocol()


def test_records_pysignalr_writes_decode_here():
    from pysignalr.messages import CloseMessage, CompletionMessage, InvocationMessage, PingMessage

    theirs = pysignalr_protocol()
    cases = [
        (InvocationMessage("7", "sendMessage", [{"messageId": "m", "outcome": "Accepted", "reason": "Zoë ☎"}]),
         hp.Invocation("sendMessage", [{"messageId": "m", "outcome": "Accepted", "reason": "Zoë ☎"}], "7")),
        (CompletionMessage("7", result={"recorded": True}), hp.Completion("7", {"recorded": True})),
        (CompletionMessage("8", error="boom"), hp.Completion("8", None, "boom")),
        (PingMessage(), hp.Ping()),
        # pysignalr writes the flag as "allow_reconnect", not the protocol's "allowReconnect":
        # read as the protocol says, it is absent (docs/independent-clients.md)
        (CloseMessage(error="bye", allow_reconnect=True), hp.Close("bye", False)),
    ]
    for message, ours in cases:
        text = theirs.encode(message)
        text = text if isinstance(text, str) else text.decode()
        records = [r for r in text.split(hp.RS) if r]
        assert len(records) == 1
        assert hp.decode(records[0]) == ours, records[0]


def test_records_written_here_decode_in_pysignalr():
    from pysignalr.messages import CloseMessage, CompletionMessage, InvocationMessage, PingMessage

    theirs = pysignalr_protocol()
    frame = "".join([
        hp.encode(hp.Invocation("ReceiveNotification", [{"PhoneNumber": "+1", "comments": "Zoë ☎ 😀"}])),
        hp.encode(hp.Completion("1", {"ok": True})), hp.encode(hp.Ping()), hp.encode(hp.Close("bye", True)),
    ])
    decoded = list(theirs.decode(frame))
    assert isinstance(decoded[0], InvocationMessage)
    assert decoded[0].target == "ReceiveNotification" and decoded[0].arguments[0]["comments"] == "Zoë ☎ 😀"
    assert isinstance(decoded[1], CompletionMessage) and decoded[1].result == {"ok": True}
    assert isinstance(decoded[2], PingMessage)
    assert isinstance(decoded[3], CloseMessage) and decoded[3].error == "bye"
