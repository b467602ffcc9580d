"""HTTP between the parts of the local stack that share this process, without a socket.

Locally the functions and the SignalR emulator are one process: each notification made
the functions call the emulator's REST API (HEAD + POST) and the emulator call the
functions' webhook (the acknowledgement), each over loopback TLS — about half of the
server's CPU per notification (docs/benchmarks.md, capacity profile). These httpx
transports hand the same requests to the same ASGI apps directly: the REST API still
checks its bearer token and answers with its status codes, the webhook still checks
its signature; only TLS, TCP and HTTP parsing are skipped. Against Azure (another
host) nothing here is used.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import urllib.parse

import httpx

log = logging.getLogger("server.inprocess")
DEFAULT_TIMEOUT = 10.0


def _read_timeout(request: httpx.Request) -> float:
    return (request.extensions.get("timeout") or {}).get("read") or DEFAULT_TIMEOUT


async def _exchange(app, request: httpx.Request) -> httpx.Response:
    """One request through an ASGI app (what httpx.ASGITransport does, without its
    per-request probe for trio, which costs a failed import each time)."""
    body = await request.aread()
    url = request.url
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
             "scheme": url.scheme, "path": urllib.parse.unquote(url.path), "raw_path": url.raw_path.split(b"?")[0],
             "query_string": url.query, "root_path": "", "server": (url.host, url.port),
             "client": ("127.0.0.1", 0), "headers": [(k.lower(), v) for k, v in request.headers.raw]}
    sent, status, headers, parts = False, 500, [], []
    done = asyncio.Event()

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await done.wait()
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    except Exception:  # as a server would: the caller sees a 500, the error is logged
        log.exception("in-process request %s %s failed", request.method, url.path)
        status, headers, parts = 500, [], [b""]
    finally:
        done.set()
    content = b"" if request.method == "HEAD" else b"".join(parts)
    return httpx.Response(status, headers=headers, content=content, request=request)


class LoopTransport(httpx.AsyncBaseTransport):
    """Async httpx → an ASGI app on the same event loop, with httpx's read timeout kept
    (httpx.ASGITransport alone would wait for a slow app forever)."""

    def __init__(self, app):
        self._app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await asyncio.wait_for(_exchange(self._app, request), _read_timeout(request))
        except TimeoutError:
            raise httpx.ReadTimeout("no answer in time from the in-process app", request=request) from None


class ThreadToLoopTransport(httpx.BaseTransport):
    """Sync httpx in a WSGI thread → an ASGI app on the server's event loop."""

    def __init__(self, app):
        self._inner = LoopTransport(app)
        self.loop: asyncio.AbstractEventLoop | None = None  # bound when the server starts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.loop is None or self.loop.is_closed():
            raise httpx.ConnectError("the in-process service is not running", request=request)
        future = asyncio.run_coroutine_threadsafe(self._inner.handle_async_request(request), self.loop)
        try:
            return future.result(_read_timeout(request) + 1)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise httpx.ReadTimeout("no answer in time from the in-process service", request=request) from None
