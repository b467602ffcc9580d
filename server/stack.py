"""The local stack's composition root (as flaskr's `create_app`): `build_stack(config)`
builds, in this order, the SignalR emulator, the function handlers with their transport
to it, the Flask app and the ASGI app uvicorn serves — each from the one Config
(server/config.py), each handed what it needs when it is made. The two peers call each
other in this process (server/inprocess.py): the handlers reach the emulator's REST API
through a transport made before them; the emulator reaches the functions' webhook through
the upstream client it is started with (in the ASGI app's lifespan)."""
from __future__ import annotations

from dataclasses import dataclass

import httpx
from flask import Flask
from starlette.applications import Starlette

from .asgi import build_asgi
from .auth import TokenValidator
from .config import Config
from .flask_app import create_app
from .functions.factory import build_functions
from .functions.handlers import Functions
from .http_client import make_client
from .idp.tokens import SIGNALR_RESOURCE
from .inprocess import ThreadToLoopTransport
from .signalr_service.service import EntraAccess, ServiceConfig, SignalRService


@dataclass(frozen=True)
class LocalStack:
    config: Config
    emulator: SignalRService
    functions: Functions
    flask_app: Flask
    asgi_app: Starlette


def emulator_config(config: Config) -> ServiceConfig:
    """The emulator as this stack's Azure SignalR: its keys, its CORS origins, and — like
    Azure SignalR — Entra tokens of its tenant (the local provider's) from the principals
    holding a SignalR role: the function app's identities."""
    directory = config.local_directory
    tenant = directory.tenant_id
    validator = TokenValidator(f"{config.public_url}/{tenant}", (SIGNALR_RESOURCE,),
                               make_client(config.settings.certs_dir / "ca.pem"), tenant_id=tenant)
    return ServiceConfig(endpoint=config.public_url, keys=list(config.local_signalr_keys),
                         allowed_origins=config.signalr_allowed_origins,
                         entra=EntraAccess(validator, directory.signalr_principals),
                         keepalive=config.signalr_keepalive, timeout=config.signalr_timeout)


def build_stack(config: Config) -> LocalStack:
    emulator = SignalRService(emulator_config(config))
    # The handlers' REST calls go to the emulator in this process when it is their service.
    rest = ThreadToLoopTransport(Starlette(routes=emulator.routes()))
    functions = build_functions(config, httpx.Client(transport=rest, timeout=10) if config.local_signalr else None)
    if config.local_signalr:
        # The built-in emulator lives and dies with this process: rows of connections from
        # a previous run (a crash sends no disconnected events) are stale by definition.
        functions.store.clear_connections(config.hub)
    flask_app = create_app(config, functions)
    return LocalStack(config, emulator, functions, flask_app, build_asgi(config, flask_app, emulator, functions, rest))
