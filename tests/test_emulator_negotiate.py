"""The emulator serves every negotiate the transport protocol allows, as Azure SignalR
does: version 1 (connectionToken is the WebSocket's id), version 0 (no negotiateVersion:
the connectionId is the id) and a WebSocket opened without negotiating (no id)."""
import asyncio

import httpx
import pytest
import websockets

from adaptor_core import hub_protocol as hp
from server.http_client import tls_context
from tests.conftest import call_payload, run_async
from tests.test_inputs_at_the_door import local_signalr, unique

HUB = "myhub"


async def handshake(ws) -> None:
    await ws.send(hp.encode_handshake_request())
    assert await asyncio.wait_for(ws.recv(), 5) == "{}" + hp.RS


async def receive_notification(ws, message_id: str) -> hp.Invocation:
    while True:
        for record in (await asyncio.wait_for(ws.recv(), 10)).split(hp.RS):
            message = hp.decode(record) if record else None
            if isinstance(message, hp.Invocation) and message.arguments[0].get("messageId") == message_id:
                return message


def negotiate(stack, query: str, token: str):
    tls = tls_context(stack.certs.ca)
    with httpx.Client(verify=tls, trust_env=False) as http:
        return http.post(f"{stack.url}/client/negotiate?hub={HUB}{query}", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("query, version", [("", 0), ("&negotiateVersion=0", 0), ("&negotiateVersion=1", 1),
                                            ("&negotiateVersion=7", 1)])
def test_negotiate_answers_the_version_asked_for_up_to_1(stack, query, version):
    token = local_signalr(stack).client_token(HUB, "v-user")
    body = negotiate(stack, query, token).json()
    assert body["negotiateVersion"] == version
    assert ("connectionToken" in body) == (version == 1)
    assert body["availableTransports"][0]["transport"] == "WebSockets"


@pytest.mark.parametrize("value", ["x", "-1", "1.0", "²"])
def test_a_negotiate_version_that_is_not_a_number_is_400(stack, value):
    token = local_signalr(stack).client_token(HUB, "v-user")
    r = negotiate(stack, f"&negotiateVersion={value}", token)
    assert r.status_code == 400 and r.json()["error"] == "invalid_negotiate_version"


@pytest.mark.parametrize("mode", ["v0", "v1", "no-id"])
def test_each_way_of_connecting_gets_calls_pushed_to_its_user(stack, sender_api, mode):
    user_id = unique(f"neg-{mode}")
    service = local_signalr(stack)
    token = service.client_token(HUB, user_id)
    message_id = unique("neg-call")
    url = f"wss://127.0.0.1:{stack.port}/client/?hub={HUB}"
    if mode != "no-id":
        body = negotiate(stack, "&negotiateVersion=1" if mode == "v1" else "", token).json()
        url += f"&id={body['connectionToken' if mode == 'v1' else 'connectionId']}"

    async def scenario():
        async with websockets.connect(url, ssl=tls_context(stack.certs.ca),
                                      additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await handshake(ws)
            r = await asyncio.to_thread(sender_api.call, "POST", "/api/SendMessageToUser",
                                        {"userId": user_id, "messageId": message_id, "message": call_payload()})
            assert r.status_code == 202 and r.json()["status"] == "sent", r.text
            await receive_notification(ws, message_id)
    run_async(scenario())


def test_a_version_1_connection_is_not_opened_with_its_public_connection_id(stack):
    token = local_signalr(stack).client_token(HUB, "v1-user")
    body = negotiate(stack, "&negotiateVersion=1", token).json()

    async def scenario():
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"wss://127.0.0.1:{stack.port}/client/?hub={HUB}&id={body['connectionId']}"
                                     f"&access_token={token}", ssl=tls_context(stack.certs.ca))
    run_async(scenario())


def test_a_websocket_without_id_still_needs_a_valid_token(stack):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"wss://127.0.0.1:{stack.port}/client/?hub={HUB}",
                                     ssl=tls_context(stack.certs.ca))
    run_async(scenario())
