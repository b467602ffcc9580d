"""Resolves what the functions talk to: the configured Azure services, or the local
stand-ins (identity provider, SignalR emulator) with their generated keys."""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from .azure_signalr import ConnectionString
from .functions.factory import audiences_for
from .idp.directory import Directory, load_directory
from .local_only import real_azure_settings
from .local_secrets import load_local_secrets
from .settings import ConfigError, Settings


@dataclass(frozen=True)
class StackConfig:
    settings: Settings
    directory: Directory
    authority: str
    client_id: str
    api_scope: str
    audiences: tuple[str, ...]
    signalr: ConnectionString
    upstream_keys: list[str]
    functions_key: str
    local_signalr_keys: list[str]
    dynamics_origins: tuple[str, ...]  # who may frame the widget (CSP frame-ancestors)
    real_azure: tuple[str, ...] = ()  # settings pointing at real Azure/Entra ID (server/local_only.py)
    signalr_origins: tuple[str, ...] = ()  # SignalRAllowedOrigins of the emulator (CORS); () = the default
    tenant_id: str | None = None  # the tenant whose tokens the functions accept
    identity_header: str = ""  # the local managed identity endpoint's IDENTITY_HEADER
    adaptor_function_url: str | None = None  # AdaptorFunctionUrl, when set (else: this stack)

    @property
    def signalr_allowed_origins(self) -> tuple[str, ...]:
        """Who may negotiate with the emulator from a browser: as configured, else this
        stack's widget and host page (Azure SignalR's own setting defaults to '*')."""
        return self.signalr_origins or (self.widget_origin, self.settings.public_url)

    @property
    def local_stand_ins(self) -> bool:
        """The dev console and the local identity provider run only on an all-local stack."""
        return not self.real_azure

    @property
    def local_signalr(self) -> bool:
        """The functions use this process's own SignalR emulator."""
        return self.signalr.endpoint == self.settings.public_url

    @property
    def widget_origin(self) -> str:
        """The widget is served as https://localhost:<port>: another origin than the
        127.0.0.1 host page, as in Dynamics."""
        parts = urlsplit(self.settings.public_url)
        return f"{parts.scheme}://localhost:{parts.port}" if parts.hostname == "127.0.0.1" else self.settings.public_url

    @property
    def functions_url(self) -> str:
        """AdaptorFunctionUrl as configured (with or without /api), or this stack as the
        widget reaches it: what the widget's config.json and the console's test call use."""
        return self.adaptor_function_url or self.widget_origin

    def widget_config(self) -> dict[str, str]:
        """The sample solution's environment variables, as the widget's config.json."""
        return {"AdaptorFunctionUrl": self.functions_url, "ClientId": self.client_id,
                "Authority": self.authority, "Scope": self.api_scope}


def resolve_stack(settings: Settings) -> StackConfig:
    secrets = load_local_secrets(settings.state_dir)
    directory = load_directory(settings.state_dir)
    if settings.Authority:
        missing = [k for k in ("AzureAd__ClientId", "ApiScope") if not getattr(settings, k)]
        if missing:
            raise ConfigError(f"Authority is set, so {', '.join(missing)} must be set too")
        authority, client_id, api_scope = settings.Authority.rstrip("/"), settings.AzureAd__ClientId, settings.ApiScope
        tenant_id = settings.AzureAd__TenantId
    else:
        authority = f"{settings.public_url}/{directory.tenant_id}"
        client_id, api_scope, tenant_id = directory.api_client_id, directory.api_scope, directory.tenant_id
    audiences = audiences_for(client_id, api_scope)

    local_keys = [secrets["signalr_primary_key"], secrets["signalr_secondary_key"]]
    if settings.AzureSignalRConnectionString:
        signalr = ConnectionString.parse(settings.AzureSignalRConnectionString)
    else:
        signalr = ConnectionString(settings.public_url, local_keys[0])
    # The webhook checks X-ASRS-Signature with the keys the service signs with: the
    # emulator's own two, or the connection string's key (+ a second one while rotating).
    upstream_keys = local_keys if signalr.endpoint == settings.public_url else \
        [signalr.access_key] if signalr.access_key else []
    real_azure = real_azure_settings(settings.Authority, settings.AzureWebJobsStorage,
                                     signalr.endpoint if settings.AzureSignalRConnectionString else None)
    if real_azure and not settings.Authority:
        raise ConfigError(f"{' and '.join(real_azure)} point at Azure, so Authority must name your Entra ID tenant: "
                          "the local identity provider signs anyone in without a credential and is never run "
                          "beside real Azure services")
    secondary = settings.extra.get("AzureSignalRSecondaryAccessKey") or os.environ.get("AzureSignalRSecondaryAccessKey")
    if secondary:
        upstream_keys = [*upstream_keys, secondary]
    if not upstream_keys:
        raise ConfigError("AzureSignalRConnectionString has no AccessKey, so the local webhook cannot verify "
                          "X-ASRS-Signature: set AzureSignalRSecondaryAccessKey to the service's access key")
    # Local default: the CIF host page of this stack plays Dynamics.
    dynamics = _origins(settings, "DynamicsOrigins", settings.public_url, "https://org.crm.dynamics.com")
    signalr_origins = _origins(settings, "SignalRAllowedOrigins", "", "https://agent.contoso.com, or *", any_ok=True)
    functions_url = settings.extra.get("AdaptorFunctionUrl") or os.environ.get("AdaptorFunctionUrl")
    if functions_url and (urlsplit(functions_url).scheme != "https" or urlsplit(functions_url).query):
        raise ConfigError(f"AdaptorFunctionUrl: '{functions_url}' must be an https URL like https://<app>.azurewebsites.net/api")
    return StackConfig(settings, directory, authority, client_id, api_scope, audiences, signalr,
                       upstream_keys, os.environ.get("ADAPTOR_FUNCTIONS_KEY") or secrets["functions_key"], local_keys,
                       dynamics, tuple(real_azure), signalr_origins, tenant_id, secrets["identity_header"], functions_url)


def _origins(settings: Settings, key: str, default: str, example: str, any_ok: bool = False) -> tuple[str, ...]:
    """A space- or comma-separated list of https origins (`*` too where any_ok), from the
    settings file or the environment; a malformed entry is a ConfigError naming the key."""
    raw = settings.extra.get(key) or os.environ.get(key) or default
    origins = tuple(o.strip().rstrip("/") for o in raw.replace(",", " ").split() if o.strip())
    for origin in origins:
        if not (any_ok and origin == "*") and (urlsplit(origin).scheme != "https" or urlsplit(origin).path):
            raise ConfigError(f"{key}: '{origin}' must be an https origin like {example}")
    return origins
