"""One simulated agent: acquire token → /api/negotiate → service negotiate → WebSocket →
handshake → /api/userclient, with keepalive and reconnects, all decided by the core."""
from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets

from adaptor_core import connection as c
from adaptor_core.config import function_url
from adaptor_core.hub_methods import Handlers
from adaptor_core.hub_protocol import Invocation
from adaptor_core.negotiate import Negotiated, NegotiateError, Negotiation

TokenProvider = Callable[[], Awaitable[str]]


class SimAgent:
    def __init__(self, functions_url: str, token: TokenProvider, http: httpx.AsyncClient, tls: ssl.SSLContext,
                 rng: random.Random | None = None, tick: float = 0.5, register: bool = True):
        self.functions_url, self.token, self.http, self.tls = functions_url.rstrip("/"), token, http, tls
        self.core = c.HubConnection(rng=rng or random.Random())
        self.tick_interval, self.register = tick, register
        self.handlers = Handlers()
        self.invocations: asyncio.Queue[Invocation] = asyncio.Queue()  # of targets no handler is registered for
        self.states: list[c.StateChanged] = []
        self.registered = asyncio.Event()
        self.errors: list[str] = []
        self._ws: Any = None  # the open websockets connection
        self._tasks: set[asyncio.Task] = set()
        self._connected = asyncio.Event()

    def on(self, target: str, fn: Callable[[list], object]) -> None:
        """Call `fn(arguments)` for each invocation of `target` from the server (as the
        widget registers its handlers); invocations of other targets queue in `invocations`."""
        self.handlers.on(target, fn)

    # --- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        self._spawn(self._ticker())
        await self._perform(self.core.start(time.monotonic()))

    async def stop(self) -> None:
        await self._perform(self.core.stop())
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_registered(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self.registered.wait(), timeout)

    @property
    def state(self) -> str:
        return self.core.state

    async def invoke(self, target: str, arguments: list) -> None:
        await self._perform(self.core.invoke(target, arguments, time.monotonic()))

    async def invoke_until_answered(self, target: str, arguments: list) -> None:
        """As the widget acknowledges: kept until the service answers, resent after a reconnect."""
        await self._perform(self.core.invoke_until_answered(target, arguments, time.monotonic()))

    # --- action executor --------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _perform(self, actions: list[c.Action]) -> None:
        for action in actions:
            if isinstance(action, c.Negotiate):
                self.registered.clear()
                self._spawn(self._negotiate())
            elif isinstance(action, c.OpenSocket):
                self._spawn(self._socket(action.url, action.socket_id))
            elif isinstance(action, c.SendText):
                if self._ws is not None:
                    try:
                        await self._ws.send(action.text)
                    except websockets.ConnectionClosed:
                        pass  # the reader reports the close
            elif isinstance(action, c.CloseSocket):
                if self._ws is not None:
                    await self._ws.close(1000, action.reason)
            elif isinstance(action, c.Connected):
                if self.register:
                    self._spawn(self._register(action.connection_id))
                else:
                    self.registered.set()
            elif isinstance(action, c.Deliver):
                handlers = self.handlers.get(action.invocation.target)
                for fn in handlers:
                    fn(action.invocation.arguments)
                if not handlers:
                    self.invocations.put_nowait(action.invocation)
            elif isinstance(action, c.StateChanged):
                self.states.append(action)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            await self._perform(self.core.tick(time.monotonic()))

    async def _negotiate(self) -> None:
        try:
            negotiation = Negotiation(function_url(self.functions_url, ""), await self.token())  # …/api/
            while True:  # bounded: Negotiation refuses the 100th redirect
                request = negotiation.request
                headers = {"Authorization": f"Bearer {request.access_token}"} if request.access_token else {}
                r = await self.http.post(request.url, headers=headers)
                step = negotiation.answer(r.status_code, r.text)
                if isinstance(step, Negotiated):
                    break
        except (httpx.HTTPError, NegotiateError) as exc:
            self.errors.append(f"negotiate: {exc}")
            await self._perform(self.core.negotiate_failed(str(exc), time.monotonic()))
            return
        await self._perform(self.core.negotiated(step.url, step.connection_id, step.connection_token,
                                                 step.access_token, time.monotonic()))

    async def _socket(self, url: str, socket_id: int) -> None:
        reason = "connection closed"
        ws_ref: list[Any] = [None]
        try:
            async with websockets.connect(url, ssl=self.tls, ping_interval=None, max_size=2**20,
                                          open_timeout=15) as ws:
                self._ws = ws_ref[0] = ws
                await self._perform(self.core.socket_opened(time.monotonic(), socket_id))
                async for text in ws:
                    await self._perform(self.core.data_received(text if isinstance(text, str) else text.decode(),
                                                                time.monotonic(), socket_id))
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            reason = f"socket: {exc}"
        finally:
            if self._ws is ws_ref[0]:
                self._ws = None
        await self._perform(self.core.socket_closed(reason, time.monotonic(), socket_id))

    async def _register(self, connection_id: str) -> None:
        try:
            token = await self.token()
            r = await self.http.post(function_url(self.functions_url, "userclient"),
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"connectionId": connection_id, "connectionStatus": 1})
            if r.status_code != 200:
                raise httpx.HTTPStatusError(f"userclient {r.status_code}: {r.text[:200]}", request=r.request,
                                            response=r)
        except httpx.HTTPError as exc:  # the core retries on this connection after a backoff
            self.errors.append(f"userclient: {exc}")
            await self._perform(self.core.registration_failed(str(exc), connection_id, time.monotonic()))
            return
        await self._perform(self.core.registration_done(connection_id))
        self.registered.set()
