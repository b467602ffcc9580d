"""Widget configuration: the sample solution's environment variables, resolved from
URL query parameters, then `config.json` next to the widget, then Dynamics environment
variables `extn_<Key>` — first hit wins (README, Configuration)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .caller_match import caller_tables
from .errors import AdaptorError

REQUIRED = ("AdaptorFunctionUrl", "ClientId", "Authority", "Scope")
OPTIONAL = {
    # our solution's templates (dynamics/solution/); the sample's names work too if set
    "NotificationTemplate": "cifad_voice_notification",
    "SessionTemplate": "cifad_voice_identified_session",  # caller found in contacts
    "DefaultSessionTemplate": "cifad_voice_unknown_session",  # unknown caller
    "CallLogging": "on",  # an accepted call becomes a phone call activity (docs/cif.md); "off" turns it off
    "CallerTables": "contact",  # the tables an incoming number is looked up in: contact, account
}
SWITCH = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}


class ConfigMissing(AdaptorError):
    code = "config_missing"

    def __init__(self, key: str, detail: str = "is not set"):
        super().__init__(f"Configuration '{key}' {detail} (URL parameter, config.json or extn_{key}).")
        self.key = key


@dataclass(frozen=True)
class WidgetConfig:
    AdaptorFunctionUrl: str
    ClientId: str
    Authority: str
    Scope: str
    NotificationTemplate: str = OPTIONAL["NotificationTemplate"]
    SessionTemplate: str = OPTIONAL["SessionTemplate"]
    DefaultSessionTemplate: str = OPTIONAL["DefaultSessionTemplate"]
    CallLogging: str = OPTIONAL["CallLogging"]

    @property
    def call_logging(self) -> bool:
        """Whether an accepted call is logged as a phone call activity (CallLogging)."""
        return SWITCH[self.CallLogging.lower()]
    CallerTables: str = OPTIONAL["CallerTables"]

    @property
    def caller_tables(self) -> tuple[str, ...]:
        return caller_tables(self.CallerTables)

    @property
    def functions(self) -> str:
        """The function app's base URL (see `functions_base`)."""
        return functions_base(self.AdaptorFunctionUrl)

    def function_url(self, name: str) -> str:
        return function_url(self.AdaptorFunctionUrl, name)


def functions_base(adaptor_function_url: str) -> str:
    """The function app's base URL from an AdaptorFunctionUrl, which may name the app
    (`https://<app>.azurewebsites.net`) or, as the sample's solution does, its `/api` route
    prefix (`https://<app>.azurewebsites.net/api`), with or without a trailing slash."""
    base = adaptor_function_url.strip().rstrip("/")
    return base[:-4] if base.lower().endswith("/api") else base


def function_url(adaptor_function_url: str, name: str) -> str:
    """`<base>/api/<name>`: e.g. (`https://x.azurewebsites.net/api/`, `negotiate`) →
    `https://x.azurewebsites.net/api/negotiate`. The one place clients build function URLs
    (widget, telephony CLI, dev console, simulated agents)."""
    return f"{functions_base(adaptor_function_url)}/api/{name}"


def resolve_config(query: Mapping[str, str], file: Mapping[str, object] | None,
                   environment: Callable[[str], str | None] | None = None) -> WidgetConfig:
    """`environment(name)` reads a Dynamics environment variable (None when absent)."""
    def lookup(key: str) -> str | None:
        for value in (query.get(key), (file or {}).get(key), environment(f"extn_{key}") if environment else None):
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    values = {}
    for key in REQUIRED:
        value = lookup(key)
        if value is None:
            raise ConfigMissing(key)
        values[key] = value
    for key in ("AdaptorFunctionUrl", "Authority"):
        parts = urlsplit(values[key])
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigMissing(key, "must be an https:// URL")
        if parts.query or parts.fragment:
            raise ConfigMissing(key, "must be an https:// URL without ?query or #fragment")
    for key in OPTIONAL:
        value = lookup(key)
        if value is not None:
            values[key] = value
    if values.get("CallLogging", "on").lower() not in SWITCH:
        raise ConfigMissing("CallLogging", "must be on or off")
    try:
        caller_tables(values.get("CallerTables"))
    except ValueError as exc:
        raise ConfigMissing("CallerTables", str(exc)) from None
    return WidgetConfig(**values)
