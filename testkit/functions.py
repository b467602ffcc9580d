"""The telephony side of a run: SendMessageToUser and GET /api/messages/<id> with the
sender app's token, each notification stamped with the time it was sent."""
from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


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
