"""ASGI composition: uvicorn serves the SignalR emulator (WebSockets, asyncio) natively
and the Flask app through a2wsgi.

SPEC §1 measured the candidates: uvicorn + a small ASGI app with Flask mounted via
a2wsgi held 2,000 TLS WebSockets at push p99 32 ms on 2 OS threads, where
gunicorn/flask-sock needs 2 threads per socket and asgiref's WsgiToAsgi broke at 2,000.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from a2wsgi import WSGIMiddleware
from flask import Flask
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from .http_client import make_async_client
from .signalr_service.service import ServiceConfig, SignalRService
from .signalr_service.upstream import Upstream

log = logging.getLogger("server")

AUTHORITY_DOCS = ("/{tenant}/v2.0/.well-known/openid-configuration", "/{tenant}/discovery/v2.0/keys")


def build_asgi(flask_app: Flask, wsgi_workers: int = 32) -> Starlette:
    stack = flask_app.extensions["stack"]
    settings = stack.settings
    upstream_http = make_async_client(settings.certs_dir / "ca.pem")
    config = ServiceConfig(endpoint=settings.public_url, keys=stack.local_signalr_keys,
                           upstream_url=f"{settings.public_url}/runtime/webhooks/signalr?code={stack.functions_key}")
    service = SignalRService(config, Upstream(config.upstream_url, config.keys, upstream_http))

    def warm_up() -> None:
        """Fetch the authority's metadata and keys once the port listens, so the first
        requests don't all queue on it (it may be this very server)."""
        try:
            flask_app.extensions["validator"].metadata()
        except Exception as exc:  # reported again, with context, on the first request
            log.warning("authority not reachable yet: %s", exc)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.start()
        loop = asyncio.get_running_loop()
        loop.call_later(0.5, lambda: loop.run_in_executor(None, warm_up))
        yield
        await service.stop()
        await upstream_http.aclose()

    # The authority's discovery document and keys get their own small thread pool: when
    # the authority is this server, a validator fetching them must not wait for a thread
    # held by a request that is itself waiting for the validator.
    authority_docs = WSGIMiddleware(flask_app, workers=2)
    routes = service.routes() + [Route(path, authority_docs, methods=["GET", "OPTIONS"]) for path in AUTHORITY_DOCS]
    routes.append(Mount("/", app=WSGIMiddleware(flask_app, workers=wsgi_workers)))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.signalr = service
    return app
