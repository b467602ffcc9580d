"""Client of the SignalR service REST API v1 (the real Azure one or our emulator):
send to a user or a connection, and ask whether a user has live connections."""
from __future__ import annotations

import logging

import httpx

from ..azure_signalr import ConnectionString
from ..errors import ApiError

log = logging.getLogger("functions.signalr")


class SignalRUnavailable(ApiError):
    def __init__(self, message: str):
        super().__init__(503, "signalr_unavailable", message)


class SignalRRest:
    def __init__(self, connection: ConnectionString, http: httpx.Client):
        self.connection, self.http = connection, http

    def _call(self, method: str, url: str, body: dict | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.connection.rest_token(url)}"}
        try:
            return self.http.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SignalRUnavailable(f"SignalR service unreachable: {exc}") from exc

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
