"""Configuration with the sample's key names, read from the environment and an optional
Azure-Functions-style `local.settings.json` ({"Values": {...}}); the environment wins."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = REPO_ROOT / "web"
CORE_DIR = REPO_ROOT / "adaptor_core"

__all__ = ["ConfigError", "Settings", "REPO_ROOT", "WEB_DIR", "CORE_DIR"]


def _lookup(values: dict[str, str], key: str) -> str | None:
    # The seed article writes AzureAd:ClientId; environment variables can't hold ':'.
    for name in (key, key.replace("__", ":")):
        if name in os.environ:
            return os.environ[name]
        if name in values:
            return values[name]
    return None


SEED_KEYS = ("ApiScope", "Authority", "AzureAd__ClientId", "AzureAd__ClientSecret", "AzureAd__TenantId",
             "AzureSignalRConnectionString", "AzureWebJobsStorage", "HubName", "StorageUserTable")


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    # Where this stack is reached (issuer of the local identity provider, default
    # SignalR endpoint, webhook target); set by `python -m server` once it has a port.
    public_url: str = "https://127.0.0.1:7071"
    ApiScope: str | None = None
    Authority: str | None = None
    AzureAd__ClientId: str | None = None
    AzureAd__ClientSecret: str | None = None
    AzureAd__TenantId: str | None = None
    AzureSignalRConnectionString: str | None = None
    AzureWebJobsStorage: str | None = None
    HubName: str = "myhub"
    StorageUserTable: str = "ConnectionEntity"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, settings_file: Path | None = None) -> Settings:
        path = settings_file or Path(os.environ.get("ADAPTOR_SETTINGS_FILE", REPO_ROOT / "local.settings.json"))
        values: dict[str, str] = {}
        if path.exists():
            try:
                values = json.loads(path.read_text()).get("Values", {})
            except (ValueError, AttributeError) as exc:
                raise ConfigError(f"{path}: not a local.settings.json document ({exc})") from exc
        state_dir = Path(os.environ.get("ADAPTOR_STATE_DIR", REPO_ROOT / ".local"))
        found = {k: v for k in SEED_KEYS if (v := _lookup(values, k)) not in (None, "")}
        extra = {k: v for k, v in values.items() if k not in SEED_KEYS}
        return cls(state_dir=state_dir, extra=extra, **found)

    def value(self, key: str) -> str | None:
        """A setting outside the seed's keys: the settings file's `Values`, else the
        environment; None when neither has a non-empty value."""
        return self.extra.get(key) or os.environ.get(key) or None

    def with_public_url(self, url: str) -> Settings:
        return replace(self, public_url=url.rstrip("/"))

    @property
    def certs_dir(self) -> Path:
        return self.state_dir / "certs"
