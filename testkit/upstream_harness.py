"""The SignalR emulator alone, in this process, with a stand-in for the functions whose
webhook can be made to fail (5xx), hang (slower than the emulator's HTTP timeout) or
vanish (nothing listening) — to see what the emulator's upstream retries
(server/signalr_service/upstream.py RETRY_DELAYS) do to connected clients.

Both sides are served by uvicorn over loopback TLS (dev certs in a temp dir), and the
client is the real SimAgent, so only the functions are fake."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.azure_signalr import ConnectionString
from server.devcerts import ensure_dev_certs
from server.http_client import tls_context
from server.signalr_service.service import ServiceConfig, SignalRService
from server.signalr_service.upstream import RETRY_DELAYS, Upstream
from simagent.agent import SimAgent

from .server import free_port

HUB = "myhub"
KEYS = ["k" * 32, "s" * 32]


@dataclass
class WebhookCall:
    at: float  # time.monotonic() when it arrived
    event: str
    connection_id: str


@dataclass
class FakeFunctions:
    """/api/negotiate and /api/userclient that always work, and a webhook whose answer
    per event is `mode[event]`: "ok", "5xx" or ("slow", seconds)."""
    emulator_url: str = ""
    mode: dict = field(default_factory=dict)
    calls: list[WebhookCall] = field(default_factory=list)

    async def negotiate(self, request: Request) -> Response:
        user = request.headers.get("authorization", "Bearer user").split()[-1]
        cs = ConnectionString(self.emulator_url, KEYS[0])
        return JSONResponse({"url": cs.client_url(HUB), "accessToken": cs.client_token(HUB, user)})

    async def userclient(self, request: Request) -> Response:
        return JSONResponse({"connectionStatus": 1})

    async def webhook(self, request: Request) -> Response:
        event = request.headers.get("x-asrs-event", "")
        self.calls.append(WebhookCall(time.monotonic(), event, request.headers.get("x-asrs-connection-id", "")))
        mode = self.mode.get(event, "ok")
        if mode == "5xx":
            return JSONResponse({"error": "store_unavailable", "message": "down"}, status_code=503)
        if isinstance(mode, tuple) and mode[0] == "slow":
            await asyncio.sleep(mode[1])
        return Response(status_code=200)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/api/negotiate", self.negotiate, methods=["POST"]),
                                 Route("/api/userclient", self.userclient, methods=["POST"]),
                                 Route("/runtime/webhooks/signalr", self.webhook, methods=["POST"])])

    def attempts(self, event: str) -> list[float]:
        return [c.at for c in self.calls if c.event == event]


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


closed_port = free_port  # a loopback port nobody listens on (bound, then released)


@dataclass
class Harness:
    functions: FakeFunctions
    service: SignalRService
    functions_url: str
    emulator_url: str
    tls: ssl.SSLContext
    log: list[logging.LogRecord]
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def agent(self, user: str = "agent-1", tick: float = 0.25, keepalive: float | None = None) -> SimAgent:
        async def token() -> str:
            return user

        http = httpx.AsyncClient(verify=self.tls, trust_env=False, timeout=10)
        self.clients.append(http)
        agent = SimAgent(self.functions_url, token, http, self.tls, tick=tick)
        if keepalive is not None:
            agent.core.keepalive = keepalive
        return agent


class _Capture(logging.Handler):
    def __init__(self, sink: list):
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@contextlib.asynccontextmanager
async def harness(tmp: Path, *, keepalive: float = 1.0, timeout: float = 5.0, upstream_timeout: float = 2.0,
                  upstream_down: bool = False):
    """Start the fake functions and the emulator; `upstream_down` points the emulator's
    webhook at a port where nothing listens."""
    certs = ensure_dev_certs(tmp / "certs")
    tls = tls_context(certs.ca)
    functions = FakeFunctions()
    f_sock, e_sock = _listen(), _listen()
    functions_url = f"https://127.0.0.1:{f_sock.getsockname()[1]}"
    emulator_url = f"https://127.0.0.1:{e_sock.getsockname()[1]}"
    functions.emulator_url = emulator_url
    upstream_base = f"https://127.0.0.1:{closed_port()}" if upstream_down else functions_url
    config = ServiceConfig(endpoint=emulator_url, keys=KEYS, keepalive=keepalive, timeout=timeout)
    upstream_http = httpx.AsyncClient(verify=tls, trust_env=False, timeout=upstream_timeout)
    service = SignalRService(config)
    emulator_app = Starlette(routes=service.routes())
    records: list[logging.LogRecord] = []
    capture = _Capture(records)
    loggers = [logging.getLogger("signalr")]  # signalr.upstream's records propagate to it
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.INFO)
    servers = []
    for app, sock in ((functions.app(), f_sock), (emulator_app, e_sock)):
        cfg = uvicorn.Config(app, ssl_certfile=str(certs.cert), ssl_keyfile=str(certs.key), log_level="error",
                             ws_ping_interval=None, lifespan="off")
        srv = uvicorn.Server(cfg)
        srv.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # not the main thread's business
        servers.append((srv, asyncio.get_running_loop().create_task(srv.serve(sockets=[sock]))))
    for srv, _ in servers:
        while not srv.started:
            await asyncio.sleep(0.01)
    service.start(Upstream(f"{upstream_base}/runtime/webhooks/signalr", KEYS, upstream_http))
    harness = Harness(functions, service, functions_url, emulator_url, tls, records)
    try:
        yield harness
    finally:
        if service._sweeper:
            service._sweeper.cancel()
        # Each server's clients close before it: a server closing a TLS connection its idle
        # peer never reads waits for the peer's close_notify, up to asyncio's 30 s SSL
        # shutdown timeout. The emulator goes before the functions, its upstream client then.
        for client in harness.clients:
            await client.aclose()
        (functions_server, functions_task), (emulator_server, emulator_task) = servers
        emulator_server.should_exit = True
        await asyncio.gather(emulator_task, return_exceptions=True)
        await upstream_http.aclose()
        functions_server.should_exit = True
        await asyncio.gather(functions_task, return_exceptions=True)
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(capture)
            lg.setLevel(level)
        f_sock.close()
        e_sock.close()


def expected_attempt_offsets() -> list[float]:
    """When the emulator tries an event, relative to the first try, if each try fails at once."""
    offsets, t = [0.0], 0.0
    for delay in RETRY_DELAYS:
        t += delay
        offsets.append(t)
    return offsets
