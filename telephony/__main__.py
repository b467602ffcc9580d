"""`python -m telephony` — ring an agent through the adaptor, as a phone system would.

  send USER --phone +15551234567 [--comments …] [--follow]   place a call notification
  status MESSAGE_ID [--follow]                                read (or follow) its outcome
  cancel MESSAGE_ID [--reason R]                              the caller hung up: withdraw the call
  listen [--port 7075] [--ring-back]                          receive click-to-dial requests (signed webhook)
  token --sender | --agent alice                              print an access token

Sender credentials use msal client credentials (works against real Entra ID too); with
no flags and no environment it uses the local stack's seeded sender app. The client
itself is telephony/client.py.
"""
from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import quote

from .client import (
    FINAL,
    TelephonyError,
    agent_token,
    api_call,
    cancel,
    dial_secret,
    follow,
    load_config,
    resolve_user,
    sender_token,
)
from .listen import Receiver


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

    withdraw = sub.add_parser("cancel", help="withdraw a ringing or queued call (the caller hung up)")
    withdraw.add_argument("message_id")
    withdraw.add_argument("--reason", help="one line, at most 256 characters, e.g. caller_abandoned")
    listen = sub.add_parser("listen", help="receive click-to-dial requests (a local telephony webhook)")
    listen.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    listen.add_argument("--port", type=int, default=7075, help="port (default 7075: the local stack's DialWebhookUrl)")
    listen.add_argument("--secret", help="DialWebhookSecret (env DialWebhookSecret; default: the local stack's)")
    listen.add_argument("--ring-back", action="store_true",
                        help="ring the agent back: SendMessageToUser with the dialled number for each dial")

    token = sub.add_parser("token", help="print an access token")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--sender", action="store_true", help="the telephony app (client credentials)")
    who.add_argument("--agent", metavar="USER", help="a local test agent, signed in via auth code + PKCE")

    args = parser.parse_args(argv)
    try:
        return run(args)
    except TelephonyError as exc:
        raise SystemExit(f"telephony: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.command == "listen":
        return listen(args)
    cfg = load_config(args.functions_url, args.authority, args.client_id, args.client_secret, args.api, args.ca)
    if args.command == "token":
        print(sender_token(cfg) if args.sender else agent_token(cfg, args.agent))
        return 0
    tok = sender_token(cfg)
    if args.command == "cancel":
        print(json.dumps(cancel(cfg, tok, args.message_id, args.reason), indent=2))
        return 0
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


def listen(args: argparse.Namespace) -> int:
    """Print each verified dial request as a JSON line until Ctrl-C; with --ring-back, call
    the agent with the dialled number."""
    cfg = load_config(args.functions_url, args.authority, args.client_id, args.client_secret, args.api, args.ca) \
        if args.ring_back else None

    def on_dial(dial: dict) -> None:
        print(json.dumps(dial, ensure_ascii=False), flush=True)
        if cfg is not None:
            message = {"PhoneNumber": dial["number"], "comments": f"Your call to {dial['number']}",
                       "interactionId": dial["dialId"], "mediaType": "voice"}
            try:
                result = api_call(cfg, "POST", "SendMessageToUser", sender_token(cfg),
                                  {"userId": dial["userId"], "message": message})
                print(f"rang {dial['userId']} back: {result['messageId']} {result['status']}", flush=True)
            except TelephonyError as exc:
                print(f"ringing back failed: {exc}", file=sys.stderr, flush=True)

    receiver = Receiver(dial_secret(args.secret), args.host, args.port, on_dial)
    print(f"listening for dial requests on {receiver.url}", flush=True)
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
