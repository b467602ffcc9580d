"""Simulated agents for tests and runs: `new_agent` (a SimAgent, the widget's core over
websockets + httpx, with a fixed token) and `LoadAgent`, whose notifications are stamped
on arrival, deduplicated by messageId as the widget does, optionally acknowledged, and
whose state history tells whether it dropped."""
from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from adaptor_core import connection as c
from adaptor_core.errors import NotificationError
from adaptor_core.hub_methods import RECEIVE_NOTIFICATION, SEND_MESSAGE, message_object
from server.http_client import tls_context
from simagent.agent import SimAgent

if TYPE_CHECKING:
    from .server import ServerProcess


def new_agent(stack: ServerProcess, token: str, **kw) -> SimAgent:
    """A SimAgent of `stack` with a fixed access token (kw: SimAgent's options)."""
    async def provider() -> str:
        return token

    tls = tls_context(stack.ca)
    http = httpx.AsyncClient(verify=tls, trust_env=False, timeout=10)
    return SimAgent(stack.url, provider, http, tls, **kw)


@dataclass(frozen=True)
class Delivery:
    username: str
    message_id: str | None
    received: float  # time.monotonic() on arrival: one clock for every process of this machine
    sent: float | None  # the sender's time.monotonic() from the payload (benchSentAt), if any
    addressed_to: str | None  # the payload's benchUser: whom the sender meant


def _payload(arguments: list) -> dict:
    """The notification's message (the object, or its JSON text as the seed sent it); {} if neither."""
    try:
        return message_object(arguments[0] if arguments else None)
    except NotificationError:
        return {}


@dataclass(eq=False)
class LoadAgent:
    username: str
    oid: str
    agent: SimAgent
    ack: bool = False
    on_delivery: Callable[[Delivery], None] | None = None
    raw: list[Delivery] = field(default_factory=list)  # every ReceiveNotification, duplicates included
    seen: set[str] = field(default_factory=set)  # message ids shown once (the widget's dedupe)
    _mark: int = 0

    def on_notification(self, arguments: list) -> None:
        """The ReceiveNotification handler (registered with `SimAgent.on`)."""
        now = time.monotonic()
        payload = _payload(arguments)
        mid = payload.get("messageId") if isinstance(payload.get("messageId"), str) else None
        sent = payload.get("benchSentAt")
        delivery = Delivery(self.username, mid, now, sent if isinstance(sent, (int, float)) else None,
                            payload.get("benchUser"))
        self.raw.append(delivery)
        first = mid is not None and mid not in self.seen
        if mid is not None:
            self.seen.add(mid)
        if first and self.ack:
            asyncio.get_running_loop().create_task(
                self.agent.invoke(SEND_MESSAGE, [{"messageId": mid, "outcome": "Accepted"}]))
        if self.on_delivery is not None:
            self.on_delivery(delivery)

    # --- state ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.agent.state == c.State.CONNECTED

    @property
    def registered(self) -> bool:
        return self.connected and self.agent.registered.is_set()

    def mark(self) -> None:
        """Start counting drops from now."""
        self._mark = len(self.agent.states)

    def dropped(self) -> bool:
        """Left CONNECTED since mark() (a reconnect counts even when it succeeded)."""
        return not self.connected or any(s.state != c.State.CONNECTED for s in self.agent.states[self._mark:])

    def duplicates(self) -> int:
        """Deliveries of an id this agent had received already (the widget drops them)."""
        ids = [d.message_id for d in self.raw if d.message_id]
        return len(ids) - len(set(ids))


def new_load_agent(url: str, username: str, oid: str, token: str, http: httpx.AsyncClient, tls: ssl.SSLContext,
                   *, ack: bool = False, tick: float = 1.0, seed: int | None = None,
                   on_delivery: Callable[[Delivery], None] | None = None) -> LoadAgent:
    async def provider() -> str:
        return token

    sim = SimAgent(url, provider, http, tls, rng=random.Random(seed), tick=tick, register=True)
    load = LoadAgent(username, oid, sim, ack=ack, on_delivery=on_delivery)
    sim.on(RECEIVE_NOTIFICATION, load.on_notification)
    return load


async def start_agents(agents: list[LoadAgent], concurrency: int, timeout: float,
                       total_timeout: float | None = None) -> float:
    """Start agents, at most `concurrency` connecting at a time; each gets `timeout` s to
    be registered, and none is started after `total_timeout`. Returns the seconds it
    took; agents that didn't make it keep trying on their own (the core's backoff)."""
    gate = asyncio.Semaphore(concurrency)
    t0 = time.monotonic()
    deadline = t0 + (total_timeout if total_timeout is not None else float("inf"))

    async def one(a: LoadAgent) -> None:
        async with gate:
            if time.monotonic() > deadline:
                return
            await a.agent.start()
            try:
                await a.agent.wait_registered(timeout)
            except TimeoutError:
                pass

    await asyncio.gather(*(one(a) for a in agents))
    return time.monotonic() - t0


async def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()
