"""Identity-based Azure SignalR connections, with the real azure-identity library against
the local stand-ins: the managed identity endpoint App Service gives a function app
(IDENTITY_ENDPOINT + IDENTITY_HEADER, served by the local provider) and the local Entra
tenant (ClientSecretCredential). The emulator, like Azure SignalR, takes Entra tokens of
its tenant for https://signalr.azure.com from principals holding a SignalR role, and makes
client tokens at `POST /api/hubs/<hub>/:generateToken`."""
import asyncio
import json
import time
import uuid

import httpx
import jwt
import pytest
import websockets
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential, ManagedIdentityCredential

from adaptor_core import connection as core
from adaptor_core import hub_protocol as hp
from server.http_client import tls_context
from server.idp import tokens
from server.idp.directory import load_directory
from tests.conftest import (
    Api,
    Identity,
    azure_settings,
    call_payload,
    function_app,
    new_agent,
    run_async,
    start_stack,
    stop_stack,
    wait_status,
)

SCOPE = "https://signalr.azure.com/.default"
OTHER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.fixture(scope="module")
def local_azure(stack):
    """What a function app on Azure has: IDENTITY_ENDPOINT/IDENTITY_HEADER for its managed
    identities; plus the CA bundle that makes the local provider trusted."""
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())
    return {"env": {"IDENTITY_ENDPOINT": f"{stack.url}/msi/token", "IDENTITY_HEADER": secrets["identity_header"]},
            "bundle": str(stack.state_dir / "certs" / "bundle.pem"), "directory": load_directory(stack.state_dir),
            "keys": [secrets["signalr_primary_key"], secrets["signalr_secondary_key"]]}


@pytest.fixture
def msi_env(local_azure, monkeypatch):
    for k, v in local_azure["env"].items():
        monkeypatch.setenv(k, v)
    return local_azure


def managed_identity_token(local_azure, client_id=None) -> str:
    credential = ManagedIdentityCredential(client_id=client_id, connection_verify=local_azure["bundle"],
                                           use_env_settings=False)
    return credential.get_token(SCOPE).token


def app_credential(stack, local_azure, secret=None) -> ClientSecretCredential:
    d = local_azure["directory"]
    return ClientSecretCredential(d.tenant_id, d.signalr_app.client_id, secret or d.signalr_app.client_secret,
                                  authority=f"127.0.0.1:{stack.port}", disable_instance_discovery=True,
                                  connection_verify=local_azure["bundle"], use_env_settings=False)


def rest_head(stack, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return stack.session().head(f"{stack.url}/api/v1/hubs/myhub/users/nobody-{uuid.uuid4().hex[:6]}", headers=headers)


def test_managed_identities_get_v1_tokens_the_emulator_accepts(stack, msi_env):
    d = msi_env["directory"]
    for identity, client_id in ((d.system_identity, None), (d.user_identity, d.user_identity.client_id)):
        token = managed_identity_token(msi_env, client_id)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["aud"] == "https://signalr.azure.com" and claims["ver"] == "1.0"
        assert claims["iss"] == f"https://sts.windows.net/{d.tenant_id}/"
        assert claims["appid"] == identity.client_id and claims["oid"] == identity.oid and "roles" not in claims
        assert rest_head(stack, token).status_code == 404  # authorized; no such user is connected


def test_app_registration_token_is_accepted(stack, local_azure):
    token = app_credential(stack, local_azure).get_token(SCOPE).token
    assert jwt.decode(token, options={"verify_signature": False})["appid"] == \
        local_azure["directory"].signalr_app.client_id
    assert rest_head(stack, token).status_code == 404


def test_the_emulator_refuses_what_azure_signalr_refuses(stack, identity, local_azure):
    d = local_azure["directory"]
    import msal

    sender = msal.ConfidentialClientApplication(d.sender.client_id, client_credential=d.sender.client_secret,
                                                authority=identity.authority, instance_discovery=False,
                                                http_client=stack.session())
    no_role = sender.acquire_token_for_client([SCOPE])["access_token"]  # Entra issues it; RBAC says no
    r = rest_head(stack, no_role)
    assert r.status_code == 403  # HEAD: no body; the same with a body on POST:
    r = stack.session().post(f"{stack.url}/api/hubs/myhub/:generateToken?api-version=2023-07-01",
                             headers={"Authorization": f"Bearer {no_role}"})
    assert r.status_code == 403 and "SignalR App Server" in r.json()["message"]

    def forged(**changes):
        claims = tokens.app_access_claims("1.0", tokens.v1_issuer(d.tenant_id), d.tenant_id, tokens.SIGNALR_RESOURCE,
                                          d.system_identity.client_id, oid=d.system_identity.oid, roles=(),
                                          now=int(time.time()), lifetime=600)
        return jwt.encode({**claims, **changes}, d.private_key, algorithm="RS256",
                          headers=tokens.signing_headers("1.0", d.kid))

    assert rest_head(stack, forged()).status_code == 404  # the control: the forged shape itself is fine
    for bad, says in ((forged(aud=f"api://{d.api_client_id}"), "'aud'"),
                      (forged(iss=tokens.v1_issuer(OTHER_TENANT), tid=OTHER_TENANT), "'iss'"),
                      (forged(exp=int(time.time()) - 900), "'exp'")):
        r = stack.session().post(f"{stack.url}/api/v1/hubs/myhub/users/x", json={"target": "t", "arguments": []},
                                 headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401 and says in r.json()["message"]
    assert rest_head(stack, None).status_code == 401
    assert rest_head(stack, "garbage").status_code == 401


def test_managed_identity_endpoint_checks_its_header_and_identities(stack, local_azure, monkeypatch):
    monkeypatch.setenv("IDENTITY_ENDPOINT", local_azure["env"]["IDENTITY_ENDPOINT"])
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")
    with pytest.raises(ClientAuthenticationError):
        managed_identity_token(local_azure)
    monkeypatch.setenv("IDENTITY_HEADER", local_azure["env"]["IDENTITY_HEADER"])
    with pytest.raises(ClientAuthenticationError):
        managed_identity_token(local_azure, client_id=str(uuid.uuid4()))  # not assigned to this app
    r = stack.session().get(f"{stack.url}/msi/token", params={"api-version": "2019-08-01",
                                                              "resource": "https://vault.azure.net"},
                            headers={"X-IDENTITY-HEADER": local_azure["env"]["IDENTITY_HEADER"]})
    assert r.status_code == 400 and r.json()["statusCode"] == 400


def test_generate_token_makes_client_tokens_the_service_accepts(stack, msi_env):
    token = managed_identity_token(msi_env)
    url = f"{stack.url}/api/hubs/MyHub/:generateToken"
    auth = {"Authorization": f"Bearer {token}"}
    r = stack.session().post(url, params={"api-version": "2023-07-01", "userId": "u-42", "minutesToExpire": 5},
                             headers=auth)
    assert r.status_code == 200, r.text
    client_token = r.json()["token"]
    claims = jwt.decode(client_token, options={"verify_signature": False})
    assert claims["asrs.s.uid"] == "u-42" and claims["exp"] - claims["iat"] == 300
    assert claims["aud"] == "https://127.0.0.1/client/?hub=myhub"
    negotiate = stack.session().post(f"{stack.url}/client/negotiate?hub=myhub&negotiateVersion=1",
                                     headers={"Authorization": f"Bearer {client_token}"})
    assert negotiate.status_code == 200 and negotiate.json()["connectionToken"]
    assert stack.session().post(url, params={"api-version": "2022-06-01"}, headers=auth).status_code == 400
    assert stack.session().post(url, params={"api-version": "2023-07-01", "minutesToExpire": 0},
                                headers=auth).status_code == 400
    assert stack.session().post(url, params={"api-version": "2023-07-01"}).status_code == 401


async def listen(stack, client_url: str, access_token: str) -> tuple:
    """A SignalR client on the negotiate answer: service negotiate, WebSocket, handshake."""
    tls = tls_context(stack.certs.ca)
    async with httpx.AsyncClient(verify=tls, trust_env=False) as http:
        r = await http.post(core.negotiate_url(client_url), headers={"Authorization": f"Bearer {access_token}"})
        r.raise_for_status()
    ws = await websockets.connect(core.websocket_url(client_url, r.json()["connectionToken"], access_token), ssl=tls)
    await ws.send(hp.encode_handshake_request())
    reader = hp.RecordReader()
    assert hp.decode_handshake_response(reader.feed(await ws.recv())[0]).error is None
    return ws, reader


async def next_invocation(ws, reader, message_id: str) -> hp.Invocation:
    while True:
        for record in reader.feed(await asyncio.wait_for(ws.recv(), 10)):
            message = hp.decode(record)
            if isinstance(message, hp.Invocation) and message.arguments[0].get("messageId") == message_id:
                return message


CONNECTION_STRINGS = {
    "azure.msi": lambda d, url, ep: f"Endpoint={url};AuthType=azure.msi;ClientEndpoint={ep};Version=1.0;",
    "azure.msi+ClientId": lambda d, url, ep: f"Endpoint={url};AuthType=azure.msi;ClientId={d.user_identity.client_id};"
                                             f"ClientEndpoint={ep};Version=1.0;",
    "azure.app": lambda d, url, ep: f"Endpoint={url};AuthType=azure.app;ClientId={d.signalr_app.client_id};"
                                    f"TenantId={d.tenant_id};ClientSecret={d.signalr_app.client_secret};"
                                    f"ClientEndpoint={ep};Version=1.0;",
}


@pytest.mark.parametrize("form", list(CONNECTION_STRINGS))
def test_azure_functions_with_identity_based_connection(form, stack, identity, tokens, azurite, msi_env):
    """negotiate hands out ClientEndpoint and a service-made token that connects;
    SendMessageToUser reaches that connection through the REST API with Entra tokens."""
    import azure.functions as func

    client_endpoint = f"https://localhost:{stack.port}"
    signalr = CONNECTION_STRINGS[form](msi_env["directory"], stack.url, client_endpoint)

    def post(fn, route, token, body=None):
        req = func.HttpRequest("POST", f"https://contoso-adaptor.azurewebsites.net/api/{route}",
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                               body=json.dumps(body).encode() if body is not None else b"")
        response = fn(req)
        return response.status_code, json.loads(response.get_body())

    with function_app(azure_settings(stack, identity, azurite, signalr)) as (_, fns):
        status, info = post(fns["negotiate"], "negotiate", tokens["alice"])
        assert status == 200, info
        assert info["url"] == f"{client_endpoint}/client/?hub=myhub"
        assert jwt.decode(info["accessToken"], options={"verify_signature": False})["asrs.s.uid"] == identity.oid("alice")

        async def scenario():
            ws, reader = await listen(stack, info["url"], info["accessToken"])
            try:
                await asyncio.sleep(0.2)  # the service's connected event reaches the webhook
                status, sent = await asyncio.to_thread(post, fns["SendMessageToUser"], "SendMessageToUser",
                                                       tokens["sender"], {"userId": identity.oid("alice"),
                                                                          "message": call_payload()})
                assert status == 202 and sent["status"] == "sent", sent
                invocation = await next_invocation(ws, reader, sent["messageId"])
                assert invocation.target == "ReceiveNotification"
            finally:
                await ws.close()

        run_async(scenario())


def test_local_stack_with_an_identity_based_connection_string(tmp_path_factory):
    """The whole flow on a stack whose functions use AuthType=azure.app against the
    built-in emulator, clients going through ClientEndpoint (another host name)."""
    from tests.conftest import free_port

    state = tmp_path_factory.mktemp("stack-identity")
    d = load_directory(state)  # the tenant exists before the stack: its app's secret goes in the string
    port = free_port()
    signalr = (f"Endpoint=https://127.0.0.1:{port};AuthType=azure.app;ClientId={d.signalr_app.client_id};"
               f"TenantId={d.tenant_id};ClientSecret={d.signalr_app.client_secret};"
               f"ClientEndpoint=https://localhost:{port};Version=1.0;")
    stack = start_stack(state, env={"AzureSignalRConnectionString": signalr}, port=port)
    try:
        ident = Identity(stack, json.loads((state / "identity.json").read_text()))
        sender = Api(stack, ident.sender_token())
        alice = ident.agent_result("alice")["access_token"]

        async def scenario():
            agent = new_agent(stack, alice)
            await agent.start()
            await agent.wait_registered()
            r = await asyncio.to_thread(sender.call, "POST", "/api/SendMessageToUser",
                                        {"userId": ident.oid("alice"), "message": call_payload()})
            assert r.status_code == 202 and r.json()["status"] == "sent", r.text
            while True:
                inv = await asyncio.wait_for(agent.invocations.get(), 10)
                if inv.arguments[0]["messageId"] == r.json()["messageId"]:
                    break
            await agent.invoke("sendMessage", [{"messageId": r.json()["messageId"], "outcome": "Accepted"}])
            await asyncio.to_thread(wait_status, sender, r.json()["messageId"], "accepted")
            await agent.stop()

        run_async(scenario())
        negotiate = stack.session().post(f"{stack.url}/api/negotiate", headers={"Authorization": f"Bearer {alice}"})
        assert negotiate.json()["url"] == f"https://localhost:{port}/client/?hub=myhub"
    finally:
        stop_stack(stack)


def test_no_entra_token_is_a_503_naming_the_auth_type(stack, identity, tokens, azurite, msi_env, monkeypatch):
    import azure.functions as func

    monkeypatch.setenv("IDENTITY_HEADER", "not-the-platforms")
    signalr = f"Endpoint={stack.url};AuthType=azure.msi;Version=1.0;"
    with function_app(azure_settings(stack, identity, azurite, signalr)) as (_, fns):
        response = fns["negotiate"](func.HttpRequest("POST", "https://x/api/negotiate", body=b"",
                                                     headers={"Authorization": f"Bearer {tokens['alice']}"}))
    body = json.loads(response.get_body())
    assert response.status_code == 503 and body["error"] == "signalr_unavailable" and "azure.msi" in body["message"]
