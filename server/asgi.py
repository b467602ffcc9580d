"""The ASGI app uvicorn serves: the SignalR emulator (WebSockets, asyncio) natively and
the Flask app through a2wsgi, with the timer that sweeps stale connection rows.

Measured before choosing it (README, Choices): uvicorn + a small ASGI app with Flask
mounted via a2wsgi held 2,000 TLS WebSockets at push p99 32 ms on 2 OS threads, where
gunicorn/flask-sock needs 2 threads per socket and asgiref's WsgiToAsgi broke at 2,000.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging

import httpx
from a2wsgi import WSGIMiddleware
from flask import Flask
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from .config import Config
from .errors import error_body
from .front_end import SecurityHeaders
from .functions.handlers import Functions
from .inprocess import LoopTransport, ThreadToLoopTransport
from .signalr_service.service import SignalRService
from .signalr_service.upstream import Upstream

log = logging.getLogger("server")

DIAL_RETRY_SECONDS = 1.0  # how often the local stack looks for dials whose retry is due
AUTHORITY_DOCS = ("/{tenant}/v2.0/.well-known/openid-configuration", "/{tenant}/discovery/v2.0/keys",
                  "/{tenant}/.well-known/openid-configuration", "/{tenant}/discovery/keys")  # v2.0 and v1.0


def read_chunked_bodies(flask_app: Flask):
    """A chunked body has no Content-Length, and Werkzeug reads such a body as empty. Read
    it here (a2wsgi's stream ends where the body ends), at most MAX_CONTENT_LENGTH + 1
    bytes, and pass it on with its length: past the limit Flask answers 413 as for any body."""
    limit = flask_app.config["MAX_CONTENT_LENGTH"]

    def app(environ, start_response):
        if "CONTENT_LENGTH" not in environ and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            del environ["HTTP_TRANSFER_ENCODING"]  # de-chunked by the server: Werkzeug would ignore the length
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return flask_app(environ, start_response)
    return app


def build_asgi(config: Config, flask_app: Flask, emulator: SignalRService, functions: Functions,
               rest_transport: ThreadToLoopTransport, wsgi_workers: int = 32) -> Starlette:
    """Routes: the emulator's, the authority's documents (their own small thread pool),
    then everything else to Flask. The lifespan binds the handlers' REST transport to the
    loop, starts the emulator with its upstream client (to the webhook, in this process)
    and runs the reconcile timer."""
    functions_wsgi = WSGIMiddleware(read_chunked_bodies(flask_app), workers=wsgi_workers)

    def warm_up() -> None:
        """Fetch the authority's metadata and keys once the port listens, so the first
        requests don't all queue on it (it may be this very server)."""
        try:
            for version in ("2.0", "1.0"):
                functions.validator.metadata(version)
        except Exception as exc:  # reported again, with context, on the first request
            log.warning("authority not reachable yet: %s", exc)

    async def every(interval: float, timer, what: str) -> None:
        """What an Azure timer trigger does there (functionapp ReconcileConnections, DeliverDials)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(None, timer)
            except Exception as exc:  # store or service down: the next round tries again
                log.warning("%s failed: %s", what, exc)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        rest_transport.loop = loop
        # The emulator calls the functions' webhook, in this process (server/inprocess.py).
        upstream_http = httpx.AsyncClient(transport=LoopTransport(functions_wsgi), timeout=10)
        emulator.start(Upstream(config.webhook_url, list(config.local_signalr_keys), upstream_http))
        loop.call_later(0.5, lambda: loop.run_in_executor(None, warm_up))
        reconcile = asyncio.create_task(every(config.reconcile_seconds, functions.ReconcileConnections,
                                              "reconciling connections"))
        dials = asyncio.create_task(every(DIAL_RETRY_SECONDS, functions.DeliverDials, "delivering dials"))
        yield
        reconcile.cancel()
        dials.cancel()
        await emulator.stop()
        await upstream_http.aclose()

    # The authority's discovery document and keys get their own small thread pool: when
    # the authority is this server, a validator fetching them must not wait for a thread
    # held by a request that is itself waiting for the validator.
    authority_docs = WSGIMiddleware(read_chunked_bodies(flask_app), workers=2)
    routes = emulator.routes() + [Route(path, authority_docs, methods=["GET", "OPTIONS"]) for path in AUTHORITY_DOCS]
    routes.append(Mount("/", app=functions_wsgi))  # type: ignore[arg-type]  # a2wsgi's own ASGI types
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)],
                     exception_handlers={HTTPException: json_error})


async def json_error(request: Request, exc: Exception) -> JSONResponse:
    """A path no route takes (one with a newline, which the catch-all Mount's pattern does
    not match) is answered as every other error here: a JSON body, as Flask's 404 is."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    message = "The requested URL was not found on the server." if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)
