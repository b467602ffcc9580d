"""Client of the Azure SignalR Service data-plane REST API (the real one or our emulator):
send to a user or a connection, ask whether a user or connection is live, and make the
client's negotiate answer. With an AccessKey every call carries an HS256 token and client
tokens are signed here; identity-based connections carry an Entra token (azure-identity)
and ask the service for client tokens (`POST /api/hubs/<hub>/:generateToken`)."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from ..azure_signalr import GENERATE_TOKEN_API_VERSION, MAX_TOKEN_LIFETIME, ConnectionString
from ..errors import ApiError
from .credentials import SIGNALR_SCOPE

log = logging.getLogger("functions.signalr")

REST_TOKEN_LIFETIME = 300  # seconds an HS256 REST token is good for
REST_TOKEN_RENEW = 60  # a token with this little left is not reused
REST_TOKENS_KEPT = 1024  # URLs (one a user) whose token is remembered, least recently used dropped


class SignalRUnavailable(ApiError):
    def __init__(self, message: str):
        super().__init__(503, "signalr_unavailable", message)


class SignalRRest:
    """`credential` is an azure-identity credential for identity-based connections, None
    for an AccessKey."""

    def __init__(self, connection: ConnectionString, http: httpx.Client, credential: Any = None,
                 clock: Callable[[], float] = time.time):
        self.connection, self.http, self.credential, self.clock = connection, http, credential, clock
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()  # URL → (token, exp)
        self._lock = threading.Lock()

    def _rest_token(self, url: str) -> str:
        """The AccessKey's HS256 token for `url` (its `aud`), signed once and reused while it
        is good for more than REST_TOKEN_RENEW seconds: signing one per call was a tenth
        of a notification's CPU (`python -m bench cpu`)."""
        now = self.clock()
        with self._lock:
            kept = self._tokens.get(url)
            if kept is not None and kept[1] - now > REST_TOKEN_RENEW:
                self._tokens.move_to_end(url)
                return kept[0]
        token = self.connection.rest_token(url, REST_TOKEN_LIFETIME, now)
        with self._lock:
            self._tokens[url] = (token, int(now) + REST_TOKEN_LIFETIME)
            while len(self._tokens) > REST_TOKENS_KEPT:
                self._tokens.popitem(last=False)
        return token

    def _authorization(self, url: str) -> str:
        if self.credential is None:
            return f"Bearer {self._rest_token(url)}"
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return f"Bearer {self.credential.get_token(SIGNALR_SCOPE).token}"
        except ClientAuthenticationError as exc:
            raise SignalRUnavailable(f"No Entra ID token for Azure SignalR ({self.connection.auth_type}): "
                                     f"{str(exc).splitlines()[0][:300]}") from None

    def _call(self, method: str, url: str, body: dict | None = None, params: dict | None = None) -> httpx.Response:
        headers = {"Authorization": self._authorization(url)}
        try:
            return self.http.request(method, url, json=body, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise SignalRUnavailable(f"SignalR service unreachable: {exc}") from exc

    def negotiate(self, hub: str, user_id: str) -> dict[str, str]:
        """The negotiate answer `{"url", "accessToken"}` for `user_id`: the client URL
        (ClientEndpoint when set) and a client access token of at most an hour."""
        url = self.connection.client_url(hub)
        if self.credential is None:
            return {"url": url, "accessToken": self.connection.client_token(hub, user_id)}
        r = self._call("POST", self.connection.generate_token_url(hub), params={
            "api-version": GENERATE_TOKEN_API_VERSION, "userId": user_id,
            "minutesToExpire": MAX_TOKEN_LIFETIME // 60})
        token = r.json().get("token") if r.status_code == 200 else None
        if not isinstance(token, str) or not token:
            raise SignalRUnavailable(f"SignalR generateToken answered {r.status_code}: {r.text[:200]}")
        return {"url": url, "accessToken": token}

    def _exists(self, hub: str, kind: str, ident: str) -> bool:
        """HEAD /users/<id> or /connections/<id>: 200 yes, 404 no, anything else unavailable."""
        r = self._call("HEAD", self.connection.rest_url(hub, kind, ident))
        if r.status_code in (200, 404):
            return r.status_code == 200
        raise SignalRUnavailable(f"SignalR {kind} check answered {r.status_code}")

    def user_exists(self, hub: str, user_id: str) -> bool:
        return self._exists(hub, "users", user_id)

    def connection_exists(self, hub: str, connection_id: str) -> bool:
        return self._exists(hub, "connections", connection_id)

    def send_to_user(self, hub: str, user_id: str, target: str, arguments: list) -> None:
        self._send(self.connection.rest_url(hub, "users", user_id), target, arguments)

    def send_to_connection(self, hub: str, connection_id: str, target: str, arguments: list) -> None:
        self._send(self.connection.rest_url(hub, "connections", connection_id), target, arguments)

    def _send(self, url: str, target: str, arguments: list) -> None:
        r = self._call("POST", url, {"target": target, "arguments": arguments})
        if r.status_code != 202:
            raise SignalRUnavailable(f"SignalR send answered {r.status_code}: {r.text[:200]}")
