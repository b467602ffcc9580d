"""The tenant of a local stack and its tokens, from the stack's own identity provider
over HTTPS: agents through the real authorize + token endpoints (authorization code +
PKCE, as msal does in the widget), the sender through client credentials (as the
telephony CLI does) — async over httpx for runs (`Tenant`, `agent_tokens`), sync through
msal for tests (`Identity`)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt

from telephony.local_signin import SignInError, SignInForm

if TYPE_CHECKING:
    from .server import ServerProcess


@dataclass(frozen=True)
class Tenant:
    """What identity.json tells a client: ids, the sender's secret, the authority."""
    url: str  # https://127.0.0.1:PORT
    tenant_id: str
    api_client_id: str
    sender_id: str
    sender_secret: str

    @classmethod
    def from_identity(cls, url: str, data: dict) -> Tenant:
        return cls(url, data["tenant_id"], data["api_client_id"], data["sender"]["client_id"],
                   data["sender"]["client_secret"])

    @property
    def authority(self) -> str:
        return f"{self.url}/{self.tenant_id}"

    @property
    def api_scope(self) -> str:
        return f"api://{self.api_client_id}/access_as_user"

    @property
    def redirect_uri(self) -> str:
        port = urlsplit(self.url).port
        return f"https://localhost:{port}/widget/auth-redirect.html"


def load_username(i: int) -> str:
    """The n-th load user of ADAPTOR_IDP_LOAD_USERS (1-based), see server/idp/directory.py."""
    return f"load{i:05d}"


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


SignInFailed = SignInError  # one error for a sign-in at the local provider that did not go through


def oid_of(token: str) -> str:
    """The `oid` of an access token (read, not verified: the functions verify)."""
    return jwt.decode(token, options={"verify_signature": False})["oid"]


async def agent_token(http: httpx.AsyncClient, tenant: Tenant, username: str) -> str:
    """Open the sign-in page of /authorize, POST its form as the user (the page's CSRF token
    included), then redeem the code with PKCE."""
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(8)
    page = await http.get(f"{tenant.authority}/oauth2/v2.0/authorize", params={
        "client_id": tenant.api_client_id, "response_type": "code", "redirect_uri": tenant.redirect_uri,
        "scope": tenant.api_scope, "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    form = SignInForm()
    form.feed(page.text)
    r = await http.post(f"{tenant.authority}/oauth2/v2.0/authorize", data={**form.fields, "user": username})
    location = r.headers.get("location", "")
    query = dict(parse_qsl(urlsplit(location).query))
    if r.status_code != 302 or "code" not in query or query.get("state") != state:
        raise SignInFailed(f"authorize for {username}: {r.status_code} {location or r.text[:200]}")
    r = await http.post(f"{tenant.authority}/oauth2/v2.0/token", data={
        "grant_type": "authorization_code", "client_id": tenant.api_client_id, "code": query["code"],
        "redirect_uri": tenant.redirect_uri, "code_verifier": verifier, "scope": tenant.api_scope})
    if r.status_code != 200:
        raise SignInFailed(f"token for {username}: {r.status_code} {r.text[:200]}")
    return r.json()["access_token"]


async def agent_tokens(http: httpx.AsyncClient, tenant: Tenant, usernames: list[str],
                       concurrency: int = 16, timeout: float = 600) -> dict[str, str]:
    """Sign in many users, at most `concurrency` at a time, within `timeout` seconds."""
    gate = asyncio.Semaphore(concurrency)
    tokens: dict[str, str] = {}

    async def one(name: str) -> None:
        async with gate:
            for attempt in range(3):
                try:
                    tokens[name] = await agent_token(http, tenant, name)
                    return
                except (httpx.HTTPError, SignInFailed):
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.5 * (attempt + 1))

    await asyncio.wait_for(asyncio.gather(*(one(n) for n in usernames)), timeout)
    return tokens


async def sender_token(http: httpx.AsyncClient, tenant: Tenant) -> str:
    r = await http.post(f"{tenant.authority}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": tenant.sender_id, "client_secret": tenant.sender_secret,
        "scope": f"api://{tenant.api_client_id}/.default"})
    r.raise_for_status()
    return r.json()["access_token"]


@dataclass
class Identity:
    """The tenant of a running local stack through real msal (sync): agents sign in with
    auth code + PKCE at its provider, the sender with client credentials."""
    stack: ServerProcess
    data: dict  # the stack's identity.json

    @classmethod
    def of(cls, stack: ServerProcess) -> Identity:
        return cls(stack, json.loads((stack.state_dir / "identity.json").read_text()))

    @property
    def tenant(self) -> Tenant:
        return Tenant.from_identity(self.stack.url, self.data)

    @property
    def authority(self) -> str:
        return f"{self.stack.url}/{self.data['tenant_id']}"

    @property
    def api_client_id(self) -> str:
        return self.data["api_client_id"]

    @property
    def api_scope(self) -> str:
        return f"api://{self.api_client_id}/access_as_user"

    def oid(self, username: str) -> str:
        return self.data["users"][username]["oid"]

    def public_app(self):
        import msal

        return msal.PublicClientApplication(self.api_client_id, authority=self.authority,
                                            instance_discovery=False, http_client=self.stack.session())

    def agent_result(self, username: str) -> dict:
        from telephony.local_signin import sign_in

        return sign_in(self.public_app(), self.stack.session(), username, [self.api_scope],
                       f"{self.stack.widget_url}auth-redirect.html")

    def sender_token(self) -> str:
        import msal

        s = self.data["sender"]
        app = msal.ConfidentialClientApplication(s["client_id"], client_credential=s["client_secret"],
                                                 authority=self.authority, instance_discovery=False,
                                                 http_client=self.stack.session())
        return app.acquire_token_for_client([f"api://{self.api_client_id}/.default"])["access_token"]
