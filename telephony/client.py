"""The telephony client: what a phone system does to ring an agent through the adaptor —
a sender token (msal client credentials; real Entra ID too), SendMessageToUser, the
message's status and its withdrawal (cancel). Used by the CLI (telephony/__main__.py)
and the dev console. Failures are TelephonyError; an answer of the functions that is an
error is CallFailed, carrying its status and JSON body."""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import msal
import requests

from adaptor_core.config import function_url, functions_base

REPO = Path(__file__).resolve().parent.parent
FINAL = {"accepted", "rejected", "missed", "failed", "expired", "unacknowledged", "cancelled"}


class TelephonyError(RuntimeError):
    """Something the caller must fix or retry; the message says what."""


class CallFailed(TelephonyError):
    """The functions answered with an error: `status` and their JSON body `{"error", "message"}`."""

    def __init__(self, message: str, status: int, body: dict):
        super().__init__(message)
        self.status, self.body = status, body


@dataclass
class Config:
    functions_url: str  # AdaptorFunctionUrl: the function app, with or without its /api prefix
    authority: str
    client_id: str
    client_secret: str | None
    api: str  # e.g. api://<client id>
    ca_bundle: str | bool
    state_dir: Path

    def __post_init__(self) -> None:
        self.functions_url = functions_base(self.functions_url)

    def http(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would silently override verify= (docs/identity.md)
        s.verify = self.ca_bundle
        return s


def local_identity(state_dir: Path) -> dict:
    path = state_dir / "identity.json"
    if not path.exists():
        raise TelephonyError(f"{path} not found — start the local stack first (./run.sh), "
                             "or pass --authority/--client-id/--client-secret for Entra ID")
    return json.loads(path.read_text())


def load_config(functions_url: str | None = None, authority: str | None = None, client_id: str | None = None,
                client_secret: str | None = None, api: str | None = None, ca: str | None = None) -> Config:
    """Each value as given, else from the environment (AdaptorFunctionUrl, Authority,
    TELEPHONY_CLIENT_ID, TELEPHONY_CLIENT_SECRET, TELEPHONY_API), else the local stack's
    seeded sender app (its identity.json)."""
    state_dir = Path(os.environ.get("ADAPTOR_STATE_DIR", REPO / ".local"))
    url = functions_base(functions_url or os.environ.get("AdaptorFunctionUrl") or "https://127.0.0.1:7071")
    authority = authority or os.environ.get("Authority")
    client_id = client_id or os.environ.get("TELEPHONY_CLIENT_ID")
    secret = client_secret or os.environ.get("TELEPHONY_CLIENT_SECRET")
    api = api or os.environ.get("TELEPHONY_API")
    bundle = state_dir / "certs" / "bundle.pem"
    ca_bundle: str | bool = ca or (str(bundle) if bundle.exists() else True)
    if not (authority and client_id and api):
        ident = local_identity(state_dir)
        authority = authority or f"{url}/{ident['tenant_id']}"
        client_id = client_id or ident["sender"]["client_id"]
        secret = secret or ident["sender"]["client_secret"]
        api = api or f"api://{ident['api_client_id']}"
    assert authority and client_id and api  # from the arguments, the environment or identity.json
    return Config(url, authority.rstrip("/"), client_id, secret, api.rstrip("/"), ca_bundle, state_dir)


def dial_secret(given: str | None) -> str:
    """The click-to-dial webhook's signing secret: as given, else DialWebhookSecret from the
    environment, else the local stack's generated one (its local-secrets.json)."""
    secret = given or os.environ.get("DialWebhookSecret")
    if secret:
        return secret
    path = Path(os.environ.get("ADAPTOR_STATE_DIR", REPO / ".local")) / "local-secrets.json"
    if not path.exists():
        raise TelephonyError(f"{path} not found — start the local stack first, or pass --secret")
    return json.loads(path.read_text())["dial_webhook_secret"]


def sender_token(cfg: Config) -> str:
    if not cfg.client_secret:
        raise TelephonyError("a client secret is needed (--client-secret or TELEPHONY_CLIENT_SECRET)")
    app = msal.ConfidentialClientApplication(cfg.client_id, client_credential=cfg.client_secret,
                                             authority=cfg.authority, instance_discovery=False, http_client=cfg.http())
    result = app.acquire_token_for_client([f"{cfg.api}/.default"])
    if "access_token" not in result:
        raise TelephonyError(f"token request failed: {result.get('error')}: {result.get('error_description')}")
    return result["access_token"]


def agent_token(cfg: Config, username: str) -> str:
    from .local_signin import SignInError, sign_in

    ident = local_identity(cfg.state_dir)
    http = cfg.http()
    app = msal.PublicClientApplication(ident["api_client_id"], authority=cfg.authority, instance_discovery=False,
                                       http_client=http)
    try:
        result = sign_in(app, http, username, [f"api://{ident['api_client_id']}/access_as_user"],
                         f"{cfg.functions_url}/widget/auth-redirect.html")
    except SignInError as exc:
        raise TelephonyError(str(exc)) from None
    return result["access_token"]


def resolve_user(cfg: Config, user: str) -> str:
    """Seeded usernames (alice, bob) map to their oid; anything else is taken as a user id."""
    try:
        users = local_identity(cfg.state_dir)["users"]
    except TelephonyError:
        return user
    return users[user]["oid"] if user in users else user


def api_call(cfg: Config, method: str, function: str, token: str, body: dict | None = None) -> dict:
    """`method` the function (e.g. "SendMessageToUser", "messages/<id>") with a bearer token;
    the JSON answer, or CallFailed naming the status and error."""
    url = function_url(cfg.functions_url, function)
    r = cfg.http().request(method, url, json=body, timeout=15, headers={"Authorization": f"Bearer {token}"})
    data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code >= 400:
        raise CallFailed(f"{method} {url} → {r.status_code} {data.get('error', '')}: "
                         f"{data.get('message', r.text[:200])}", r.status_code, data)
    return data


def cancel(cfg: Config, token: str, message_id: str, reason: str | None = None) -> dict:
    """POST messages/<id>/cancel (docs/functions-api.md, "Withdraw"): the message's status
    body, `cancelled`; CallFailed for 404 unknown_message, 409 message_final, 422 invalid_field."""
    body = {"reason": reason} if reason is not None else {}
    return api_call(cfg, "POST", f"messages/{quote(message_id, safe='')}/cancel", token, body)


def follow(cfg: Config, token: str, message_id: str, timeout: float, interval: float = 0.5) -> dict:
    spinner = itertools.cycle("|/-\\")
    deadline = time.monotonic() + timeout
    tty = sys.stderr.isatty()
    while True:
        status = api_call(cfg, "GET", f"messages/{quote(message_id, safe='')}", token)
        if status["status"] in FINAL or time.monotonic() > deadline:
            if tty:
                sys.stderr.write("\r\033[K")
            return status
        if tty:
            sys.stderr.write(f"\r{next(spinner)} {message_id}: {status['status']} — waiting for the agent…")
            sys.stderr.flush()
        time.sleep(interval)
