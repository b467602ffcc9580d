"""ASGI composition: uvicorn serves the SignalR emulator (WebSockets, asyncio) natively
and the Flask app through a2wsgi.

SPEC §1 measured the candidates: uvicorn + a small ASGI app with Flask mounted via
a2wsgi held 2,000 TLS WebSockets at push p99 32 ms on 2 OS threads, where
gunicorn/flask-sock needs 2 threads per socket and asgiref's WsgiToAsgi broke at 2,000.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os

import httpx
from a2wsgi import WSGIMiddleware
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from .auth import TokenValidator
from .front_end import SecurityHeaders
from .http_client import make_client
from .idp.tokens import SIGNALR_RESOURCE
from .inprocess import LoopTransport, ThreadToLoopTransport
from .settings import ConfigError
from .signalr_service.service import EntraAccess, ServiceConfig, SignalRService
from .signalr_service.upstream import Upstream

log = logging.getLogger("server")

AUTHORITY_DOCS = ("/{tenant}/v2.0/.well-known/openid-configuration", "/{tenant}/discovery/v2.0/keys",
                  "/{tenant}/.well-known/openid-configuration", "/{tenant}/discovery/keys")  # v2.0 and v1.0


def reconcile_interval() -> float:
    raw = os.environ.get("ADAPTOR_RECONCILE_SECONDS", "60")
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"ADAPTOR_RECONCILE_SECONDS must be a positive number of seconds, not {raw!r}")
    return value


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


def build_asgi(flask_app: Flask, wsgi_workers: int = 32) -> Starlette:
    stack = flask_app.extensions["stack"]
    settings = stack.settings
    interval = reconcile_interval()
    functions_wsgi = WSGIMiddleware(read_chunked_bodies(flask_app), workers=wsgi_workers)
    # The emulator calls the functions' webhook, in this process (server/inprocess.py).
    upstream_http = httpx.AsyncClient(transport=LoopTransport(functions_wsgi), timeout=10)
    # Like Azure SignalR, the emulator takes Entra tokens of its tenant (the local provider's)
    # from the principals holding a SignalR role: the function app's identities.
    tenant = stack.directory.tenant_id
    entra = EntraAccess(TokenValidator(f"{settings.public_url}/{tenant}", (SIGNALR_RESOURCE,),
                                       make_client(settings.certs_dir / "ca.pem"), tenant_id=tenant),
                        stack.directory.signalr_principals)
    config = ServiceConfig(endpoint=settings.public_url, keys=stack.local_signalr_keys,
                           upstream_url=f"{settings.public_url}/runtime/webhooks/signalr?code={stack.functions_key}",
                           allowed_origins=stack.signalr_allowed_origins, entra=entra)
    service = SignalRService(config, Upstream(config.upstream_url, config.keys, upstream_http))
    rest_transport = ThreadToLoopTransport(Starlette(routes=service.routes()))
    functions = flask_app.extensions["functions"]
    if stack.local_signalr:  # the functions use this emulator: no socket between them
        functions.signalr.http = httpx.Client(transport=rest_transport, timeout=10)

    def warm_up() -> None:
        """Fetch the authority's metadata and keys once the port listens, so the first
        requests don't all queue on it (it may be this very server)."""
        try:
            for version in ("2.0", "1.0"):
                flask_app.extensions["validator"].metadata(version)
        except Exception as exc:  # reported again, with context, on the first request
            log.warning("authority not reachable yet: %s", exc)

    async def reconcile_forever(interval: float) -> None:
        """What the Azure timer trigger does there (functionapp ReconcileConnections)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(None, functions.ReconcileConnections)
            except Exception as exc:  # store or service down: the next round tries again
                log.warning("reconciling connections failed: %s", exc)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        rest_transport.loop = loop
        service.start()
        loop.call_later(0.5, lambda: loop.run_in_executor(None, warm_up))
        reconcile = asyncio.create_task(reconcile_forever(interval))
        yield
        reconcile.cancel()
        await service.stop()
        await upstream_http.aclose()

    # The authority's discovery document and keys get their own small thread pool: when
    # the authority is this server, a validator fetching them must not wait for a thread
    # held by a request that is itself waiting for the validator.
    authority_docs = WSGIMiddleware(read_chunked_bodies(flask_app), workers=2)
    routes = service.routes() + [Route(path, authority_docs, methods=["GET", "OPTIONS"]) for path in AUTHORITY_DOCS]
    routes.append(Mount("/", app=functions_wsgi))
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.signalr = service
    return app
