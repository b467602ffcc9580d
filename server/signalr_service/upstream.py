"""Signed upstream calls to the functions (SPEC §5): connected, disconnected, messages."""
from __future__ import annotations

import asyncio
import json
import logging

import httpx

from ..azure_signalr import upstream_signature
from .registry import ClientConnection

log = logging.getLogger("signalr.upstream")
RETRY_DELAYS = (0.2, 1.0)  # a connected/disconnected event is retried twice before it is reported lost


class Upstream:
    def __init__(self, url: str, keys: list[str], http: httpx.AsyncClient):
        self.url, self.keys, self.http = url, keys, http

    def _headers(self, conn: ClientConnection, category: str, event: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-ASRS-Hub": conn.hub,
            "X-ASRS-Category": category,
            "X-ASRS-Event": event,
            "X-ASRS-Connection-Id": conn.connection_id,
            "X-ASRS-User-Id": conn.user_id,
            "X-ASRS-User-Claims": json.dumps(conn.claims, separators=(",", ":")),
            "X-ASRS-Client-Query": conn.query,
            "X-ASRS-Signature": upstream_signature(conn.connection_id, self.keys),
        }

    async def _post(self, conn: ClientConnection, category: str, event: str, body: dict,
                    retries: tuple[float, ...] = ()) -> httpx.Response | None:
        headers = self._headers(conn, category, event)
        if not all(v.isascii() for v in headers.values()):
            # HTTP header values are ASCII here; how Azure carries such a user id (or claim)
            # upstream is not documented, so the event is reported lost rather than guessed.
            log.error(json.dumps({"event": "upstream.unsendable", "connection": conn.connection_id,
                                  "upstream": event, "reason": "a header value is not ASCII (user id or claims)"}))
            return None
        for delay in (0.0, *retries):
            if delay:
                await asyncio.sleep(delay)
            try:
                response = await self.http.post(self.url, headers=headers, content=json.dumps(body))
            except httpx.HTTPError as exc:
                log.warning(json.dumps({"event": "upstream.unreachable", "connection": conn.connection_id,
                                        "upstream": event, "error": str(exc)}))
                continue
            if response.status_code < 500:
                if response.status_code >= 400:
                    log.warning(json.dumps({"event": "upstream.rejected", "connection": conn.connection_id,
                                            "upstream": event, "status": response.status_code,
                                            "body": response.text[:300]}))
                return response
            log.warning(json.dumps({"event": "upstream.failed", "connection": conn.connection_id,
                                    "upstream": event, "status": response.status_code}))
        log.error(json.dumps({"event": "upstream.lost", "connection": conn.connection_id, "upstream": event,
                              "attempts": 1 + len(retries)}))
        return None

    async def connected(self, conn: ClientConnection) -> None:
        await self._post(conn, "connections", "connected", {"type": 10}, RETRY_DELAYS)

    async def disconnected(self, conn: ClientConnection, error: str | None) -> None:
        body = {"type": 11, **({"error": error} if error else {})}
        await self._post(conn, "connections", "disconnected", body, RETRY_DELAYS)

    async def invocation(self, conn: ClientConnection, target: str, arguments: list,
                         invocation_id: str | None) -> httpx.Response | None:
        body = {"type": 1, "target": target, "arguments": arguments}
        if invocation_id is not None:
            body["invocationId"] = invocation_id
        return await self._post(conn, "messages", target, body)
