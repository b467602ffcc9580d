"""`python -m telephony` — ring an agent through the adaptor, as a phone system would.

  send USER --phone +15551234567 [--comments …] [--follow]   place a call notification
  status MESSAGE_ID [--follow]                                read (or follow) its outcome
  token --sender | --agent alice                              print an access token

Sender credentials use msal client credentials (works against real Entra ID too); with
no flags and no environment it uses the local stack's seeded sender app.
"""
from __future__ import annotations

import argparse
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
FINAL = {"accepted", "rejected", "missed", "failed", "expired", "unacknowledged"}


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
        s.trust_env = False  # REQUESTS_CA_BUNDLE would silently override verify (SPEC §3)
        s.verify = self.ca_bundle
        return s


def local_identity(state_dir: Path) -> dict:
    path = state_dir / "identity.json"
    if not path.exists():
        raise SystemExit(f"telephony: {path} not found — start the local stack first (./run.sh), "
                         "or pass --authority/--client-id/--client-secret for Entra ID")
    return json.loads(path.read_text())


def load_config(args) -> Config:
    state_dir = Path(os.environ.get("ADAPTOR_STATE_DIR", REPO / ".local"))
    url = functions_base(args.functions_url or os.environ.get("AdaptorFunctionUrl") or "https://127.0.0.1:7071")
    authority = args.authority or os.environ.get("Authority")
    client_id = args.client_id or os.environ.get("TELEPHONY_CLIENT_ID")
    secret = args.client_secret or os.environ.get("TELEPHONY_CLIENT_SECRET")
    api = args.api or os.environ.get("TELEPHONY_API")
    bundle = state_dir / "certs" / "bundle.pem"
    ca: str | bool = args.ca or (str(bundle) if bundle.exists() else True)
    if not (authority and client_id and api):
        ident = local_identity(state_dir)
        authority = authority or f"{url}/{ident['tenant_id']}"
        client_id = client_id or ident["sender"]["client_id"]
        secret = secret or ident["sender"]["client_secret"]
        api = api or f"api://{ident['api_client_id']}"
    return Config(url, authority.rstrip("/"), client_id, secret, api.rstrip("/"), ca, state_dir)


def sender_token(cfg: Config) -> str:
    if not cfg.client_secret:
        raise SystemExit("telephony: a client secret is needed (--client-secret or TELEPHONY_CLIENT_SECRET)")
    app = msal.ConfidentialClientApplication(cfg.client_id, client_credential=cfg.client_secret,
                                             authority=cfg.authority, instance_discovery=False, http_client=cfg.http())
    result = app.acquire_token_for_client([f"{cfg.api}/.default"])
    if "access_token" not in result:
        raise SystemExit(f"telephony: token request failed: {result.get('error')}: {result.get('error_description')}")
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
        raise SystemExit(f"telephony: {exc}") from None
    return result["access_token"]


def resolve_user(cfg: Config, user: str) -> str:
    """Seeded usernames (alice, bob) map to their oid; anything else is taken as a user id."""
    try:
        users = local_identity(cfg.state_dir)["users"]
    except SystemExit:
        return user
    return users[user]["oid"] if user in users else user


def api_call(cfg: Config, method: str, function: str, token: str, body: dict | None = None) -> dict:
    """`method` the function (e.g. "SendMessageToUser", "messages/<id>") with a bearer token;
    the JSON answer, or SystemExit("telephony: …") naming the status and error."""
    url = function_url(cfg.functions_url, function)
    r = cfg.http().request(method, url, json=body, timeout=15, headers={"Authorization": f"Bearer {token}"})
    data = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code >= 400:
        raise SystemExit(f"telephony: {method} {url} → {r.status_code} {data.get('error', '')}: "
                         f"{data.get('message', r.text[:200])}")
    return data


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telephony", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions-url", help="adaptor functions base URL (env AdaptorFunctionUrl)")
    parser.add_argument("--authority", help="OpenID authority (env Authority)")
    parser.add_argument("--client-id", help="sender app client id (env TELEPHONY_CLIENT_ID)")
    parser.add_argument("--client-secret", help="sender app secret (env TELEPHONY_CLIENT_SECRET)")
    parser.add_argument("--api", help="API application id URI, e.g. api://<id> (env TELEPHONY_API)")
    parser.add_argument("--ca", help="CA bundle to trust (default: the local dev CA + system CAs)")
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send", help="send a call notification to an agent")
    send.add_argument("user", help="agent user id (oid), or a local test user name such as alice")
    send.add_argument("--phone", required=True, help="caller's phone number, e.g. +15551234567")
    send.add_argument("--comments", default="", help="text shown to the agent")
    send.add_argument("--interaction-id", help="telephony interaction id")
    send.add_argument("--message-id", help="idempotency id (default: generated)")
    send.add_argument("--ttl", type=int, help="seconds to queue while the agent is offline (default 30)")
    send.add_argument("--follow", action="store_true", help="wait for accepted/rejected/missed/expired")
    send.add_argument("--timeout", type=float, default=120, help="seconds to follow (default 120)")

    status = sub.add_parser("status", help="show a message's status")
    status.add_argument("message_id")
    status.add_argument("--follow", action="store_true")
    status.add_argument("--timeout", type=float, default=120)

    token = sub.add_parser("token", help="print an access token")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--sender", action="store_true", help="the telephony app (client credentials)")
    who.add_argument("--agent", metavar="USER", help="a local test agent, signed in via auth code + PKCE")

    args = parser.parse_args(argv)
    cfg = load_config(args)
    if args.command == "token":
        print(sender_token(cfg) if args.sender else agent_token(cfg, args.agent))
        return 0
    tok = sender_token(cfg)
    if args.command == "send":
        message = {"PhoneNumber": args.phone, "comments": args.comments, "mediaType": "voice"}
        if args.interaction_id:
            message["interactionId"] = args.interaction_id
        body = {"userId": resolve_user(cfg, args.user), "message": message}
        if args.message_id:
            body["messageId"] = args.message_id
        if args.ttl is not None:
            body["ttlSeconds"] = args.ttl
        result = api_call(cfg, "POST", "SendMessageToUser", tok, body)
        print(f"{result['messageId']} {result['status']} (connections: {result['connections']})")
        message_id, following = result["messageId"], args.follow
    else:
        message_id, following = args.message_id, args.follow
    final = follow(cfg, tok, message_id, args.timeout) if following else \
        api_call(cfg, "GET", f"messages/{quote(message_id, safe='')}", tok)
    if args.command == "status" or following:
        print(json.dumps(final, indent=2))
    return 0 if not following or final["status"] in FINAL else 1


if __name__ == "__main__":
    sys.exit(main())
