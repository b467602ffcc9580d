"""Live client connections of the emulator, indexed by id and by (hub, user)."""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

from starlette.websockets import WebSocket

from .limits import TokenBucket


@dataclass(eq=False)
class ClientConnection:
    connection_id: str
    hub: str
    user_id: str
    websocket: WebSocket
    claims: dict
    query: str
    last_received: float = field(default_factory=time.monotonic)
    last_sent: float = field(default_factory=time.monotonic)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False
    connected_event: asyncio.Task | None = None  # the upstream 'connected' call in flight
    inbound: TokenBucket = field(default_factory=lambda: TokenBucket(now=time.monotonic()))  # message rate

    async def send_text(self, text: str) -> bool:
        """Serialized send (the socket is shared by REST pushes, pings and replies)."""
        if self.closed:
            return False
        async with self.send_lock:
            try:
                await self.websocket.send_text(text)
            except Exception:  # peer went away mid-send; the read loop cleans up
                self.closed = True
                return False
        self.last_sent = time.monotonic()
        return True


class Registry:
    def __init__(self) -> None:
        self.by_id: dict[str, ClientConnection] = {}
        self.by_user: dict[tuple[str, str], set[ClientConnection]] = defaultdict(set)

    def add(self, conn: ClientConnection) -> None:
        self.by_id[conn.connection_id] = conn
        self.by_user[(conn.hub, conn.user_id)].add(conn)

    def remove(self, conn: ClientConnection) -> None:
        self.by_id.pop(conn.connection_id, None)
        peers = self.by_user.get((conn.hub, conn.user_id))
        if peers is not None:
            peers.discard(conn)
            if not peers:
                del self.by_user[(conn.hub, conn.user_id)]

    def for_user(self, hub: str, user_id: str) -> list[ClientConnection]:
        return list(self.by_user.get((hub, user_id), ()))

    def for_hub(self, hub: str) -> list[ClientConnection]:
        return [c for c in self.by_id.values() if c.hub == hub]

    def get(self, hub: str, connection_id: str) -> ClientConnection | None:
        conn = self.by_id.get(connection_id)
        return conn if conn is not None and conn.hub == hub else None
