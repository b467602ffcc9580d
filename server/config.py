"""The one configuration object a process is built from (`Config`), made from the raw
settings (server/settings.py) by `local_setup` — the local stack: the configured Azure
services, or the local stand-ins (identity provider, SignalR emulator) with their
generated keys — or by `azure_setup` — Azure Functions: every service the managed one,
named by the sample's keys. Each malformed or missing setting is a ConfigError naming it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .azure_signalr import ConnectionString
from .dial_webhook import webhook_settings
from .errors import ConfigError
from .functions.admission import DEFAULT_PER_SECOND, SETTING
from .phone import DEFAULT_REGION, region_setting
from .settings import Settings

if TYPE_CHECKING:  # the local stand-ins are imported by local_setup only: the Azure package has none
    from .idp.directory import Directory

DEFAULT_ACK_WINDOW = 300.0  # seconds after delivery a message may wait for its acknowledgement
DEFAULT_RECONCILE_SECONDS = 60.0  # the local stack's sweep of stale connection rows
LOCAL_DIAL_WEBHOOK = "http://127.0.0.1:7075/dials"  # `python -m telephony listen`'s default address
DEFAULT_KEEPALIVE, DEFAULT_TIMEOUT = 15.0, 30.0  # the emulator's pings and client timeout (seconds)
# UnavailableAgentCalls: a call for an agent whose CIF presence is offline or do-not-disturb
# is held until they are available ("queue") or answered 409 agent_unavailable ("refuse")
UNAVAILABLE_AGENT_CALLS = ("queue", "refuse")


@dataclass(frozen=True)
class Config:
    settings: Settings
    authority: str  # https://<host>/<tenant>
    client_id: str  # the API's (and the widget's) app registration
    api_scope: str  # api://<client id>/access_as_user
    audiences: tuple[str, ...]  # accepted `aud` values of access tokens
    signalr: ConnectionString
    upstream_keys: tuple[str, ...]  # AccessKeys the upstream signature may be made with
    functions_key: str | None  # the webhook's ?code= (None where the host checks it, as Azure does)
    tenant_id: str | None = None  # the tokens' `tid` must be this tenant (AzureAd__TenantId)
    ack_window: float = DEFAULT_ACK_WINDOW  # sent and unacknowledged this long → 'unacknowledged'
    unavailable_agent_calls: str = UNAVAILABLE_AGENT_CALLS[0]  # UnavailableAgentCalls: queue | refuse
    phone_region: str = DEFAULT_REGION  # DefaultPhoneRegion: the country of numbers written without +<country code>
    dial_webhook: tuple[str, str] | None = None  # DialWebhookUrl, DialWebhookSecret (None: click-to-dial off)
    # SendMessageToUser calls one instance takes a second before it answers 429 (None: no limit)
    max_notifications_per_second: float | None = DEFAULT_PER_SECOND
    # --- the local stack only ---
    directory: Directory | None = None  # the local identity provider's tenant
    local_signalr_keys: tuple[str, ...] = ()  # the emulator's primary and secondary AccessKey
    dynamics_origins: tuple[str, ...] = ()  # who may frame the widget (CSP frame-ancestors)
    real_azure: tuple[str, ...] = ()  # settings pointing at real Azure/Entra ID (server/local_only.py)
    signalr_origins: tuple[str, ...] = ()  # SignalRAllowedOrigins of the emulator (CORS); () = the default
    identity_header: str = ""  # the local managed identity endpoint's IDENTITY_HEADER
    adaptor_function_url: str | None = None  # AdaptorFunctionUrl, when set (else: this stack)
    reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS
    signalr_keepalive: float = DEFAULT_KEEPALIVE
    signalr_timeout: float = DEFAULT_TIMEOUT

    @property
    def hub(self) -> str:
        return self.settings.HubName

    @property
    def public_url(self) -> str:
        return self.settings.public_url

    @property
    def local_directory(self) -> Directory:
        """The local identity provider's tenant (made by local_setup only)."""
        if self.directory is None:
            raise ConfigError("this part runs on the local stack only (no local identity provider here)")
        return self.directory

    @property
    def signalr_allowed_origins(self) -> tuple[str, ...]:
        """Who may negotiate with the emulator from a browser: as configured, else this
        stack's widget and host page (Azure SignalR's own setting defaults to '*')."""
        return self.signalr_origins or (self.widget_origin, self.public_url)

    @property
    def local_stand_ins(self) -> bool:
        """The dev console and the local identity provider run only on an all-local stack."""
        return not self.real_azure

    @property
    def local_signalr(self) -> bool:
        """The functions use this process's own SignalR emulator."""
        return self.signalr.endpoint == self.public_url

    @property
    def widget_origin(self) -> str:
        """The widget is served as https://localhost:<port>: another origin than the
        127.0.0.1 host page, as in Dynamics."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://localhost:{parts.port}" if parts.hostname == "127.0.0.1" else self.public_url

    @property
    def functions_url(self) -> str:
        """AdaptorFunctionUrl as configured (with or without /api), or this stack as the
        widget reaches it: what the widget's config.json and the console's test call use."""
        return self.adaptor_function_url or self.widget_origin

    @property
    def webhook_url(self) -> str:
        """Where the emulator sends its upstream events: this stack's webhook with its key."""
        return f"{self.public_url}/runtime/webhooks/signalr?code={self.functions_key}"

    def widget_config(self) -> dict[str, str]:
        """The sample solution's environment variables, as the widget's config.json."""
        return {"AdaptorFunctionUrl": self.functions_url, "ClientId": self.client_id,
                "Authority": self.authority, "Scope": self.api_scope}


def audiences_for(client_id: str, api_scope: str) -> tuple[str, ...]:
    """Entra v2 access tokens carry the client id; v1 ones the App ID URI."""
    audiences = {client_id, f"api://{client_id}"}
    if api_scope.startswith("api://") and api_scope.count("/") >= 3:
        audiences.add(api_scope.rsplit("/", 1)[0])
    return tuple(sorted(audiences))


def positive_seconds(settings: Settings, key: str, default: float) -> float:
    """Setting `key` as a positive, finite number of seconds; ConfigError naming it otherwise."""
    return positive_number(settings, key, default, "seconds")


def positive_number(settings: Settings, key: str, default: float, unit: str, zero_means: str | None = None) -> float:
    """Setting `key` as a positive, finite number of `unit` (`default` when unset); with
    `zero_means`, 0 too. A ConfigError naming the key and the rule otherwise."""
    raw = settings.value(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if (value == 0 and zero_means) or 0 < value < float("inf"):
        return value
    also = f" (0: {zero_means})" if zero_means else ""
    raise ConfigError(f"{key} must be a positive number of {unit}{also}, not {raw!r}")


def max_notifications_per_second(settings: Settings) -> float | None:
    """Setting `MaxNotificationsPerSecond`: SendMessageToUser calls one instance takes a
    second before it answers 429 with Retry-After (default measured, server/functions/admission.py);
    0 turns shedding off (None), e.g. where the host's own throttles do it."""
    return positive_number(settings, SETTING, DEFAULT_PER_SECOND, "notifications a second",
                           zero_means="no limit") or None


def choice(settings: Settings, key: str, options: tuple[str, ...]) -> str:
    """Setting `key` as one of `options` (case-insensitive), the first when unset;
    ConfigError naming it and the options otherwise."""
    raw = settings.value(key)
    if raw is None:
        return options[0]
    if raw.strip().lower() not in options:
        raise ConfigError(f"{key} must be one of {', '.join(options)}, not {raw!r}")
    return raw.strip().lower()


def azure_setup(settings: Settings) -> Config:
    """Production: every service is the managed one, named by the sample's keys."""
    required = ("Authority", "AzureAd__ClientId", "ApiScope", "AzureSignalRConnectionString", "AzureWebJobsStorage")
    missing = [k for k in required if not getattr(settings, k)]
    if missing:
        raise ConfigError(f"missing app settings: {', '.join(missing)}")
    assert settings.Authority and settings.AzureAd__ClientId and settings.ApiScope  # checked just above
    signalr = ConnectionString.parse(settings.AzureSignalRConnectionString or "")
    return Config(settings, settings.Authority.rstrip("/"), settings.AzureAd__ClientId, settings.ApiScope,
                  audiences_for(settings.AzureAd__ClientId, settings.ApiScope), signalr,
                  (signalr.access_key,) if signalr.access_key else (), None, settings.AzureAd__TenantId,
                  positive_seconds(settings, "AckWindowSeconds", DEFAULT_ACK_WINDOW),
                  choice(settings, "UnavailableAgentCalls", UNAVAILABLE_AGENT_CALLS),
                  region_setting(settings.value("DefaultPhoneRegion")),
                  webhook_settings(settings.value("DialWebhookUrl"), settings.value("DialWebhookSecret")),
                  max_notifications_per_second(settings))


def local_setup(settings: Settings) -> Config:
    """The local stack: what is configured, and the local stand-ins for the rest."""
    from .idp.directory import load_directory
    from .local_only import real_azure_settings
    from .local_secrets import load_local_secrets

    secrets = load_local_secrets(settings.state_dir)
    directory = load_directory(settings.state_dir)
    if settings.Authority:
        missing = [k for k in ("AzureAd__ClientId", "ApiScope") if not getattr(settings, k)]
        if missing:
            raise ConfigError(f"Authority is set, so {', '.join(missing)} must be set too")
        assert settings.AzureAd__ClientId and settings.ApiScope  # checked just above
        authority, client_id, api_scope = settings.Authority.rstrip("/"), settings.AzureAd__ClientId, settings.ApiScope
        tenant_id = settings.AzureAd__TenantId
    else:
        authority = f"{settings.public_url}/{directory.tenant_id}"
        client_id, api_scope, tenant_id = directory.api_client_id, directory.api_scope, directory.tenant_id

    local_keys = (secrets["signalr_primary_key"], secrets["signalr_secondary_key"])
    if settings.AzureSignalRConnectionString:
        signalr = ConnectionString.parse(settings.AzureSignalRConnectionString)
    else:
        signalr = ConnectionString(settings.public_url, local_keys[0])
    # The webhook checks X-ASRS-Signature with the keys the service signs with: the
    # emulator's own two, or the connection string's key (+ a second one while rotating).
    upstream_keys: tuple[str, ...] = local_keys if signalr.endpoint == settings.public_url else \
        (signalr.access_key,) if signalr.access_key else ()
    real_azure = real_azure_settings(settings.Authority, settings.AzureWebJobsStorage,
                                     signalr.endpoint if settings.AzureSignalRConnectionString else None)
    if real_azure and not settings.Authority:
        raise ConfigError(f"{' and '.join(real_azure)} point at Azure, so Authority must name your Entra ID tenant: "
                          "the local identity provider signs anyone in without a credential and is never run "
                          "beside real Azure services")
    secondary = settings.value("AzureSignalRSecondaryAccessKey")
    if secondary:
        upstream_keys = (*upstream_keys, secondary)
    if not upstream_keys:
        raise ConfigError("AzureSignalRConnectionString has no AccessKey, so the local webhook cannot verify "
                          "X-ASRS-Signature: set AzureSignalRSecondaryAccessKey to the service's access key")
    # Local default: the CIF host page of this stack plays Dynamics.
    dynamics = _origins(settings, "DynamicsOrigins", settings.public_url, "https://org.crm.dynamics.com")
    signalr_origins = _origins(settings, "SignalRAllowedOrigins", "", "https://agent.contoso.com, or *", any_ok=True)
    functions_url = settings.value("AdaptorFunctionUrl")
    if functions_url and (urlsplit(functions_url).scheme != "https" or urlsplit(functions_url).query):
        raise ConfigError(f"AdaptorFunctionUrl: '{functions_url}' must be an https URL like https://<app>.azurewebsites.net/api")
    return Config(
        settings, authority, client_id, api_scope, audiences_for(client_id, api_scope), signalr, upstream_keys,
        settings.value("ADAPTOR_FUNCTIONS_KEY") or secrets["functions_key"], tenant_id,
        ack_window=positive_seconds(settings, "AckWindowSeconds", DEFAULT_ACK_WINDOW),
        unavailable_agent_calls=choice(settings, "UnavailableAgentCalls", UNAVAILABLE_AGENT_CALLS),
        phone_region=region_setting(settings.value("DefaultPhoneRegion")),
        # Local default: `python -m telephony listen` on this machine, with the generated secret.
        dial_webhook=webhook_settings(settings.value("DialWebhookUrl") or LOCAL_DIAL_WEBHOOK,
                                      settings.value("DialWebhookSecret") or secrets["dial_webhook_secret"]),
        max_notifications_per_second=max_notifications_per_second(settings),
        directory=directory, local_signalr_keys=local_keys, dynamics_origins=dynamics, real_azure=tuple(real_azure),
        signalr_origins=signalr_origins, identity_header=secrets["identity_header"],
        adaptor_function_url=functions_url,
        reconcile_seconds=positive_seconds(settings, "ADAPTOR_RECONCILE_SECONDS", DEFAULT_RECONCILE_SECONDS),
        signalr_keepalive=positive_seconds(settings, "ADAPTOR_SIGNALR_KEEPALIVE", DEFAULT_KEEPALIVE),
        signalr_timeout=positive_seconds(settings, "ADAPTOR_SIGNALR_TIMEOUT", DEFAULT_TIMEOUT))


def _origins(settings: Settings, key: str, default: str, example: str, any_ok: bool = False) -> tuple[str, ...]:
    """A space- or comma-separated list of https origins (`*` too where any_ok), from the
    settings file or the environment; a malformed entry is a ConfigError naming the key."""
    raw = settings.value(key) or default
    origins = tuple(o.strip().rstrip("/") for o in raw.replace(",", " ").split() if o.strip())
    for origin in origins:
        if not (any_ok and origin == "*") and (urlsplit(origin).scheme != "https" or urlsplit(origin).path):
            raise ConfigError(f"{key}: '{origin}' must be an https origin like {example}")
    return origins
