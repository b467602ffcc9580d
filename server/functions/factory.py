"""Builds the function handlers from the one Config — shared by the local stack's
composition root (server/stack.py) and the Azure Functions host (functionapp/function_app.py)."""
from __future__ import annotations

import httpx

from ..auth import TokenValidator
from ..config import Config
from ..http_client import make_client
from ..store import open_store
from .admission import RateLimit
from .credentials import signalr_credential
from .handlers import Functions
from .signalr_rest import SignalRRest


def build_functions(config: Config, signalr_http: httpx.Client | None = None) -> Functions:
    """The handlers with their store, token validator, SignalR REST client and
    SendMessageToUser's rate limit (Config.max_notifications_per_second, one per instance).
    `signalr_http` is how the REST client reaches the service (the local stack passes its
    in-process transport to the emulator); by default HTTPS trusting the system CAs and
    the local dev CA where it exists."""
    settings = config.settings
    http = make_client(settings.certs_dir / "ca.pem")
    store = open_store(settings.AzureWebJobsStorage, settings.state_dir, settings.StorageUserTable)
    validator = TokenValidator(config.authority, config.audiences, http, tenant_id=config.tenant_id)
    credential = None
    if config.signalr.identity_based:
        bundle = settings.certs_dir / "bundle.pem"  # the dev CA + the system CAs, only where it exists
        credential = signalr_credential(config.signalr, config.authority, bundle if bundle.exists() else None)
    limit = config.max_notifications_per_second
    return Functions(config, validator, store, SignalRRest(config.signalr, signalr_http or http, credential),
                     RateLimit(limit) if limit else None, webhook_http=http)
