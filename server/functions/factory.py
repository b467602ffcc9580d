"""Builds the function handlers from configuration — shared by the Flask host
(server/__init__.py) and the Azure Functions host (functionapp/function_app.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..auth import TokenValidator
from ..azure_signalr import ConnectionString
from ..http_client import make_client
from ..settings import ConfigError, Settings
from ..store import Store, open_store
from .credentials import signalr_credential
from .handlers import DEFAULT_ACK_WINDOW, Functions, FunctionsConfig
from .signalr_rest import SignalRRest


@dataclass(frozen=True)
class FunctionsSetup:
    authority: str
    audiences: tuple[str, ...]
    api_scope: str
    signalr: ConnectionString
    upstream_keys: list[str]
    functions_key: str | None  # the webhook's ?code= (None where the host checks it, as Azure does)
    tenant_id: str | None = None  # the tokens' `tid` must be this tenant (AzureAd__TenantId)


def audiences_for(client_id: str, api_scope: str) -> tuple[str, ...]:
    """Entra v2 access tokens carry the client id; v1 ones the App ID URI."""
    audiences = {client_id, f"api://{client_id}"}
    if api_scope.startswith("api://") and api_scope.count("/") >= 3:
        audiences.add(api_scope.rsplit("/", 1)[0])
    return tuple(sorted(audiences))


def azure_setup(settings: Settings) -> FunctionsSetup:
    """Production: every service is the managed one, named by the sample's keys."""
    required = ("Authority", "AzureAd__ClientId", "ApiScope", "AzureSignalRConnectionString", "AzureWebJobsStorage")
    missing = [k for k in required if not getattr(settings, k)]
    if missing:
        raise ConfigError(f"missing app settings: {', '.join(missing)}")
    signalr = ConnectionString.parse(settings.AzureSignalRConnectionString)
    return FunctionsSetup(settings.Authority.rstrip("/"), audiences_for(settings.AzureAd__ClientId, settings.ApiScope),
                          settings.ApiScope, signalr, [signalr.access_key] if signalr.access_key else [], None,
                          settings.AzureAd__TenantId)


@dataclass
class Built:
    functions: Functions
    validator: TokenValidator
    store: Store


def ack_window(settings: Settings) -> float:
    """App setting `AckWindowSeconds`: how long a delivered message waits for its
    acknowledgement before it ends 'unacknowledged' (default 300)."""
    raw = settings.extra.get("AckWindowSeconds") or os.environ.get("AckWindowSeconds")
    if raw is None:
        return DEFAULT_ACK_WINDOW
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"AckWindowSeconds must be a positive number of seconds, not {raw!r}")
    return value


def build_functions(settings: Settings, setup: FunctionsSetup) -> Built:
    http = make_client(settings.certs_dir / "ca.pem")  # the dev CA is trusted only where it exists
    store = open_store(settings.AzureWebJobsStorage, settings.state_dir, settings.StorageUserTable)
    validator = TokenValidator(setup.authority, setup.audiences, http, tenant_id=setup.tenant_id)
    credential = None
    if setup.signalr.identity_based:
        bundle = settings.certs_dir / "bundle.pem"  # the dev CA + the system CAs, only where it exists
        credential = signalr_credential(setup.signalr, setup.authority, bundle if bundle.exists() else None)
    functions = Functions(
        FunctionsConfig(hub=settings.HubName, api_scope=setup.api_scope, signalr=setup.signalr,
                        upstream_keys=setup.upstream_keys, functions_key=setup.functions_key,
                        ack_window=ack_window(settings)),
        validator, store, SignalRRest(setup.signalr, http, credential))
    return Built(functions, validator, store)
