"""The emulator's upstream client: it POSTs the events server/upstream.py encodes to the
functions' webhook, signed with the service's keys, and retries connection events a
little before reporting them lost (docs/upstream.md)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import httpx

from .. import upstream as protocol
from ..log import log_event
from .registry import ClientConnection

log = logging.getLogger("signalr.upstream")
RETRY_DELAYS = (0.2, 1.0)  # a connected/disconnected event is retried twice before it is reported lost


def context(conn: ClientConnection) -> protocol.Context:
    return protocol.Context(conn.hub, conn.connection_id, conn.user_id, conn.claims, conn.query)


class Upstream:
    def __init__(self, url: str, keys: Sequence[str], http: httpx.AsyncClient):
        self.url, self.keys, self.http = url, keys, http

    async def _post(self, event: protocol.Event, retries: tuple[float, ...] = ()) -> httpx.Response | None:
        headers, body = protocol.encode(event, self.keys)
        name, connection = headers["X-ASRS-Event"], event.context.connection_id
        if not protocol.sendable(headers):
            log_event(log, "upstream.unsendable", logging.ERROR, connection=connection, upstream=name,
                      reason="a header value is not ASCII (user id or claims)")
            return None
        for delay in (0.0, *retries):
            if delay:
                await asyncio.sleep(delay)
            try:
                response = await self.http.post(self.url, headers=headers, content=body)
            except httpx.HTTPError as exc:
                log_event(log, "upstream.unreachable", logging.WARNING, connection=connection, upstream=name,
                          error=str(exc))
                continue
            if response.status_code < 500:
                if response.status_code >= 400:
                    log_event(log, "upstream.rejected", logging.WARNING, connection=connection, upstream=name,
                              status=response.status_code, body=response.text[:300])
                return response
            log_event(log, "upstream.failed", logging.WARNING, connection=connection, upstream=name,
                      status=response.status_code)
        log_event(log, "upstream.lost", logging.ERROR, connection=connection, upstream=name, attempts=1 + len(retries))
        return None

    async def connected(self, conn: ClientConnection) -> None:
        await self._post(protocol.Connected(context(conn)), RETRY_DELAYS)

    async def disconnected(self, conn: ClientConnection, error: str | None) -> None:
        await self._post(protocol.Disconnected(context(conn), error), RETRY_DELAYS)

    async def invocation(self, conn: ClientConnection, target: str, arguments: list,
                         invocation_id: str | None) -> httpx.Response | None:
        return await self._post(protocol.Invocation(context(conn), target, arguments, invocation_id))
