"""Widget configuration: the sample solution's environment variables, resolved from
URL query parameters, then `config.json` next to the widget, then Dynamics environment
variables `extn_<Key>` — first hit wins (SPEC §2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlsplit

REQUIRED = ("AdaptorFunctionUrl", "ClientId", "Authority", "Scope")
OPTIONAL = {
    "NotificationTemplate": "extn_voice_notification",
    "SessionTemplate": "extn_voice_identified_session",  # caller found in contacts
    "DefaultSessionTemplate": "extn_default_session",  # unknown caller
}


class ConfigMissing(ValueError):
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

    @property
    def functions(self) -> str:
        return self.AdaptorFunctionUrl.rstrip("/")


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
    for key in OPTIONAL:
        value = lookup(key)
        if value is not None:
            values[key] = value
    return WidgetConfig(**values)
