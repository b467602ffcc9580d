"""Client side of SignalR's negotiate exchange (sans-IO): which URL to POST next, and what
an answer means (docs/signalr-protocol.md, "Negotiate").

    n = Negotiation("https://functions/api", agent_token)
    while True:
        status, text = POST n.request.url with n.request.access_token
        step = n.answer(status, text)      # NegotiateRequest (a redirect) or Negotiated
        if isinstance(step, Negotiated): break

Answers understood, as the official JS client reads them: a redirect `{"url", "accessToken"?}`
(followed up to MAX_REDIRECTS times; a redirect without accessToken keeps the current
token), a version 1 answer (`connectionToken` is the WebSocket's `id=`), a version 0 one
(no `negotiateVersion`, or 0: `connectionId` is the `id=`), and `{"error"}`. Anything
else is a `NegotiateError` naming what was wrong, never a KeyError.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import AdaptorError

MAX_REDIRECTS = 100  # the official JS client's limit
NEGOTIATE_VERSION = 1


class NegotiateError(AdaptorError):
    """A negotiate answer this client cannot follow; the message says why."""

    code = "negotiate_failed"


@dataclass(frozen=True)
class NegotiateRequest:
    url: str  # POST here
    access_token: str | None  # as `Authorization: Bearer`


@dataclass(frozen=True)
class Negotiated:
    url: str  # the endpoint whose WebSocket to open (http/https form, its query kept)
    connection_id: str
    connection_token: str  # the WebSocket's `id=`: connectionToken (v1) or connectionId (v0)
    access_token: str | None


def negotiate_url(url: str) -> str:
    """`https://svc/client/?hub=h` → `https://svc/client/negotiate?hub=h&negotiateVersion=1`
    (the path gets `/negotiate`; a negotiateVersion already in the query is kept)."""
    parts = urlsplit(url)
    path = parts.path + ("negotiate" if parts.path.endswith("/") else "/negotiate")
    query = parts.query
    if not any(k == "negotiateVersion" for k, _ in parse_qsl(query, keep_blank_values=True)):
        query = f"{query}&negotiateVersion={NEGOTIATE_VERSION}" if query else f"negotiateVersion={NEGOTIATE_VERSION}"
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _message_of(body: object) -> str:
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return f": {body[key]}"
    return ""


class Negotiation:
    """One negotiate exchange, from the first URL to the connection to open."""

    def __init__(self, url: str, access_token: str | None, max_redirects: int = MAX_REDIRECTS):
        self.url, self.access_token, self.max_redirects = url, access_token, max_redirects
        self.redirects = 0

    @property
    def request(self) -> NegotiateRequest:
        return NegotiateRequest(negotiate_url(self.url), self.access_token)

    def answer(self, status: int, text: str) -> NegotiateRequest | Negotiated:
        """Read one HTTP answer (status code, body text): the next request to make after
        a redirect, or the connection to open. Raises NegotiateError."""
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            body = None
        if status != 200:
            raise NegotiateError(f"negotiate answered {status}{_message_of(body)}")
        if not isinstance(body, dict):
            raise NegotiateError("negotiate answered something that is not a JSON object")
        if body.get("error") is not None:
            raise NegotiateError(f"negotiate refused: {body['error']}")
        if body.get("ProtocolVersion") is not None:
            raise NegotiateError("the server is ASP.NET SignalR, not ASP.NET Core SignalR")
        if body.get("url") is not None:
            return self._redirect(body)
        if body.get("useStatefulReconnect") is True:
            raise NegotiateError("the server asked for stateful reconnect, which this client did not request")
        connection_id = body.get("connectionId")
        if not isinstance(connection_id, str) or not connection_id:
            raise NegotiateError("the negotiate answer has no connectionId")
        version = body.get("negotiateVersion")
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            token = body.get("connectionToken")
            if not isinstance(token, str) or not token:
                raise NegotiateError(f"a version {version} negotiate answer needs a connectionToken")
        else:
            token = connection_id  # version 0: the connection id is the WebSocket's id
        if not _offers_websockets_text(body.get("availableTransports")):
            raise NegotiateError("the server offers no WebSockets transport with Text frames")
        return Negotiated(self.url, connection_id, token, self.access_token)

    def _redirect(self, body: dict) -> NegotiateRequest:
        url, token = body["url"], body.get("accessToken")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
            raise NegotiateError("the negotiate redirect 'url' is not an absolute http(s) URL")
        if token is not None and not isinstance(token, str):
            raise NegotiateError("the negotiate redirect 'accessToken' is not a string")
        self.redirects += 1
        if self.redirects >= self.max_redirects:
            raise NegotiateError(f"negotiate redirection limit exceeded ({self.max_redirects})")
        self.url = url
        if token:
            self.access_token = token
        return self.request


def _offers_websockets_text(transports: object) -> bool:
    return isinstance(transports, list) and any(
        isinstance(t, dict) and t.get("transport") == "WebSockets"
        and isinstance(t.get("transferFormats"), list) and "Text" in t["transferFormats"]
        for t in transports)
