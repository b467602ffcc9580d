"""Clients of the functions: `Api` (sync, requests: any route with a bearer token, for
tests), `Sender` (async, httpx: the telephony side of a run — SendMessageToUser and GET
/api/messages/<id>, each notification stamped with the time it was sent), and the
helpers that wait for a message's status."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from .server import ServerProcess


def call_payload(phone: str = "+15551234567", **extra) -> dict:
    """A SendMessageToUser `message` as the telephony CLI sends it."""
    return {"PhoneNumber": phone, "comments": "Billing question", "mediaType": "voice", **extra}


class Api:
    """Thin HTTPS caller of the functions with a bearer token."""

    def __init__(self, stack: ServerProcess, token: str | None):
        self.stack, self.token = stack, token

    def call(self, method: str, path: str, json_body=None, token: str | None = "default", **kw):
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        return self.stack.session().request(method, self.stack.url + path, json=json_body, headers=headers,
                                            timeout=15, **kw)


def status_of(sender_api: Api, message_id: str) -> dict:
    return sender_api.call("GET", f"/api/messages/{message_id}").json()


def wait_status(sender_api: Api, message_id: str, want: str, timeout: float = 15) -> dict:
    """Poll GET /api/messages/<id> until it reaches `want` (bounded)."""
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = status_of(sender_api, message_id)
        if body.get("status") == want:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{message_id} stayed {body.get('status')}, wanted {want}")




@dataclass
class SendResult:
    message_id: str
    user_id: str
    sent: float  # time.monotonic() just before the POST
    done: float  # ... when its answer (or error) came
    status: int | None  # HTTP status, None when the request itself failed
    body: dict | None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        """The functions took the message (202 sent/queued): it must not be lost."""
        return self.status == 202


class Sender:
    def __init__(self, http: httpx.AsyncClient, url: str, token: str):
        self.http, self.url, self.headers = http, url, {"Authorization": f"Bearer {token}"}

    async def send(self, user_id: str, message_id: str, ttl: int | None = None, comments: str = "bench") -> SendResult:
        sent = time.monotonic()
        body: dict = {"userId": user_id, "messageId": message_id, "message": {
            "PhoneNumber": "+15551234567", "comments": comments, "mediaType": "voice",
            "benchSentAt": sent, "benchUser": user_id}}
        if ttl is not None:
            body["ttlSeconds"] = ttl
        try:
            r = await self.http.post(f"{self.url}/api/SendMessageToUser", json=body, headers=self.headers)
        except httpx.HTTPError as exc:
            return SendResult(message_id, user_id, sent, time.monotonic(), None, None, f"{type(exc).__name__}: {exc}")
        try:
            answer = r.json()
        except ValueError:
            answer = None
        return SendResult(message_id, user_id, sent, time.monotonic(), r.status_code, answer)

    async def message(self, message_id: str) -> tuple[int | None, dict | None]:
        try:
            r = await self.http.get(f"{self.url}/api/messages/{message_id}", headers=self.headers)
        except httpx.HTTPError:
            return None, None
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, None
