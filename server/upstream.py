"""Azure SignalR's upstream protocol (serverless mode) as sans-IO events, both ways
(docs/upstream.md). The service — our emulator — encodes an event into the request it
POSTs to the app server; the webhook decodes that request into the same event; the
Azure Functions SignalR trigger's invocation context decodes to it too. No sockets here:
bytes and header dicts in, events out, and back.

    headers, body = encode(Connected(context), keys)        # the service's side
    event = decode(headers, body, keys, hub)                # the webhook's side (UpstreamError)
    event = from_trigger(invocation_context)                # Azure Functions' SignalR trigger
    answer = completion_body(event, result)                 # the webhook's answer to an Invocation
    result, error = read_completion(status, content)        # the service reads that answer

Events: `Connected`, `Disconnected` (category `connections`) and `Invocation` (category
`messages`, X-ASRS-Event = the hub method). The signature covers the connection id only
(docs/security.md says what that does and doesn't prove)."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .errors import ApiError
from .jsonbody import json_object, mimetype

# X-ASRS-Category / X-ASRS-Event values; message events carry the hub method as the event
CONNECTIONS, MESSAGES = "connections", "messages"
CONNECTED, DISCONNECTED = "connected", "disconnected"
# the body's "type": the hub protocol's Invocation, and the serverless protocol's own two
INVOCATION_TYPE, COMPLETION_TYPE, CONNECTED_TYPE, DISCONNECTED_TYPE = 1, 3, 10, 11


class UpstreamError(ApiError):
    """An upstream request the webhook refuses: status and code as Azure's docs and our
    handlers name them (400, 403, 404)."""


@dataclass(frozen=True)
class Context:
    """Who an event is about: the X-ASRS-* headers, or the trigger's invocation context."""
    hub: str
    connection_id: str
    user_id: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict)
    query: str = ""


@dataclass(frozen=True)
class Connected:
    context: Context


@dataclass(frozen=True)
class Disconnected:
    context: Context
    error: str | None = None


@dataclass(frozen=True)
class Invocation:
    context: Context
    target: str
    arguments: list = field(default_factory=list)
    invocation_id: str | None = None


Event = Connected | Disconnected | Invocation


# --- the signature -------------------------------------------------------------------------

def _digests(connection_id: str, keys: Sequence[str]) -> list[str]:
    return [hmac.new(k.encode(), connection_id.encode(), hashlib.sha256).hexdigest() for k in keys]


def signature(connection_id: str, keys: Sequence[str]) -> str:
    """`X-ASRS-Signature`: `sha256=<hex>` per key (HMAC-SHA256 of the UTF-8 connection id,
    keyed with the key's UTF-8 bytes), comma-separated."""
    return ",".join(f"sha256={d}" for d in _digests(connection_id, keys))


def verify_signature(header: str, connection_id: str, keys: Sequence[str]) -> bool:
    """Any listed value matching any of our keys is valid; hex compared case-insensitively."""
    expected = _digests(connection_id, keys)
    for value in (header or "").split(","):
        algo, _, digest = value.strip().partition("=")
        if algo.lower() == "sha256" and any(hmac.compare_digest(digest.lower(), e) for e in expected):
            return True
    return False


# --- the service's side ----------------------------------------------------------------------

def _category_and_body(event: Event) -> tuple[str, str, dict]:
    if isinstance(event, Connected):
        return CONNECTIONS, CONNECTED, {"type": CONNECTED_TYPE}
    if isinstance(event, Disconnected):
        return CONNECTIONS, DISCONNECTED, {"type": DISCONNECTED_TYPE, **({"error": event.error} if event.error else {})}
    body: dict[str, Any] = {"type": INVOCATION_TYPE, "target": event.target, "arguments": list(event.arguments)}
    if event.invocation_id is not None:
        body["invocationId"] = event.invocation_id
    return MESSAGES, event.target, body


def encode(event: Event, keys: Sequence[str]) -> tuple[dict[str, str], bytes]:
    """The headers and JSON body the service POSTs for `event`, signed with `keys`."""
    category, name, body = _category_and_body(event)
    ctx = event.context
    headers = {
        "Content-Type": "application/json",
        "X-ASRS-Hub": ctx.hub,
        "X-ASRS-Category": category,
        "X-ASRS-Event": name,
        "X-ASRS-Connection-Id": ctx.connection_id,
        "X-ASRS-User-Id": ctx.user_id,
        "X-ASRS-User-Claims": json.dumps(dict(ctx.claims), separators=(",", ":")),
        "X-ASRS-Client-Query": ctx.query,
        "X-ASRS-Signature": signature(ctx.connection_id, keys),
    }
    return headers, json.dumps(body).encode()


def sendable(headers: Mapping[str, str]) -> bool:
    """HTTP header values are ASCII here; how Azure carries a non-ASCII user id or claim
    upstream is not documented, so such an event is not sent (the emulator logs it lost)."""
    return all(v.isascii() for v in headers.values())


def read_completion(status: int, content: bytes) -> tuple[Any, str | None]:
    """(result, error) of the webhook's answer to an invocation: a 200's body
    `{"type": 3, "invocationId", "result"?, "error"?}` (empty: no result), or the error
    a non-200 status stands for (its JSON `message` quoted)."""
    try:
        body = json.loads(content) if content else {}
    except ValueError:
        body = None
    if status == 200:
        body = body if isinstance(body, dict) else {}
        return body.get("result"), body.get("error")
    message = body.get("message", "") if isinstance(body, dict) else content[:200].decode("utf-8", "replace")
    return None, f"Upstream answered {status}: {message}"


# --- the app server's side ---------------------------------------------------------------------

def decode(headers: Mapping[str, str] | Any, body: bytes, keys: Sequence[str], hub: str) -> Event:
    """The event of a webhook request (`headers` a case-insensitive mapping), checked in
    this order: 400 `invalid_content_type`, 400 `missing_connection_id`, 403
    `invalid_signature`, 404 `unknown_hub` (compared case-insensitively), then the body
    (as server/jsonbody.py takes bodies), 400 `invalid_invocation` / `unknown_event`."""
    if mimetype(headers.get("Content-Type")) != "application/json":
        raise UpstreamError(400, "invalid_content_type", "Upstream requests must be application/json.")
    connection_id = headers.get("X-ASRS-Connection-Id")
    if not connection_id:
        raise UpstreamError(400, "missing_connection_id", "X-ASRS-Connection-Id is required.")
    if not verify_signature(headers.get("X-ASRS-Signature") or "", connection_id, keys):
        raise UpstreamError(403, "invalid_signature", "X-ASRS-Signature does not match any access key.")
    their_hub = headers.get("X-ASRS-Hub") or ""
    if their_hub.lower() != hub.lower():
        raise UpstreamError(404, "unknown_hub", f"Hub '{their_hub}' is not served here.")
    try:
        claims = json.loads(headers.get("X-ASRS-User-Claims") or "{}")
    except ValueError:
        claims = {}
    ctx = Context(their_hub, connection_id, headers.get("X-ASRS-User-Id") or "",
                  claims if isinstance(claims, dict) else {}, headers.get("X-ASRS-Client-Query") or "")
    return _event(ctx, headers.get("X-ASRS-Category") or "", headers.get("X-ASRS-Event") or "",
                  json_object(body, headers.get("Content-Type")))


def _event(ctx: Context, category: str, name: str, body: Mapping[str, Any]) -> Event:
    if category == CONNECTIONS and name == CONNECTED:
        return Connected(ctx)
    if category == CONNECTIONS and name == DISCONNECTED:
        error = body.get("error")
        return Disconnected(ctx, error if isinstance(error, str) else None)
    if category == MESSAGES:
        arguments = body.get("arguments")
        if body.get("type") != INVOCATION_TYPE or body.get("target") != name or not isinstance(arguments, list):
            raise UpstreamError(400, "invalid_invocation", "A message event needs an invocation whose target is "
                                                           "X-ASRS-Event.")
        invocation_id = body.get("invocationId")
        return Invocation(ctx, name, arguments, invocation_id if isinstance(invocation_id, str) and invocation_id
                          else None)
    raise UpstreamError(400, "unknown_event", f"Unknown upstream event {category}/{name}.")


def from_trigger(invocation: Mapping[str, Any]) -> Event:
    """The event of an Azure Functions SignalR trigger's InvocationContext (`ConnectionId`,
    `UserId`, `Hub`, `Category`, `Event`, `Arguments`, `Error`, `Claims`, `Query` — the
    query as name → value, made a query string here); the extension has checked the
    signature already."""
    claims, query = invocation.get("Claims"), invocation.get("Query")
    ctx = Context(invocation.get("Hub") or "", invocation.get("ConnectionId") or "", invocation.get("UserId") or "",
                  claims if isinstance(claims, dict) else {},
                  urlencode(query) if isinstance(query, dict) else str(query or ""))
    category, name = invocation.get("Category") or "", invocation.get("Event") or ""
    if category == MESSAGES:
        arguments = invocation.get("Arguments")
        return Invocation(ctx, name, arguments if isinstance(arguments, list) else [])
    error = invocation.get("Error")
    return _event(ctx, category, name, {"error": error} if isinstance(error, str) else {})


def completion_body(event: Event, result: Any) -> dict | None:
    """The webhook's answer body: a Completion for an Invocation that awaits one, else None."""
    if isinstance(event, Invocation) and event.invocation_id:
        return {"type": COMPLETION_TYPE, "invocationId": event.invocation_id, "result": result}
    return None
