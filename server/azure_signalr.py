"""Azure SignalR Service (serverless) wire facts shared by both sides of it: the
functions (its client) and the local emulator (the service). Pure functions only.

- connection string: `;`-separated `key=value`, keys case-insensitive, parts without `=`
  and unknown keys ignored, a key twice is an error (as Azure's SDK parses it):
  `Endpoint` (required), `Port`, `Version` (1.x), `ClientEndpoint` (where clients connect,
  e.g. a gateway), `ServerEndpoint` (where REST calls go), then either `AccessKey` or
  `AuthType=azure.msi` [`ClientId` of a user-assigned identity] / `azure.app` (`ClientId`,
  `TenantId`, `ClientSecret`) / `azure` (DefaultAzureCredential) / `aad` (legacy)
- client access token: HS256 with the AccessKey, user in `asrs.s.uid`, `aud` =
  `<scheme>://<host>/client/?hub=<hub>` (the service's host, no port, hub lower-case);
  without an AccessKey the service makes it: `POST /api/hubs/<hub>/:generateToken`
- REST token: HS256 with the AccessKey, `aud` = the request URL (no query); or an Entra
  token for `https://signalr.azure.com/.default`
- the upstream signature and events: server/upstream.py
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import jwt

from .errors import ConfigError

USER_CLAIM = "asrs.s.uid"
MAX_TOKEN_LIFETIME = 3600
SETTING = "AzureSignalRConnectionString"
ENTRA_AUTH_TYPES = ("azure", "azure.msi", "azure.app", "aad")
GENERATE_TOKEN_API_VERSION = "2023-07-01"  # the first data-plane version documenting :generateToken
VERSION = re.compile(r"^1\.\d+(?:[\w\-.]+)?$")


class ConnectionStringError(ConfigError):
    """The connection string is malformed; the message names the setting and the key."""


def _http_url(value: str, key: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionStringError(f"{SETTING}: {key} must be an absolute http(s) URL, not {value!r}")
    return value.rstrip("/")


def client_audience(endpoint: str, hub: str) -> str:
    """`aud` of a client access token: the service's scheme and host (no port) — what
    Azure's SDK signs and the service checks."""
    parts = urlsplit(endpoint)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return f"{parts.scheme}://{host}/client/?hub={quote(hub.lower(), safe='')}"


@dataclass(frozen=True)
class ConnectionString:
    endpoint: str  # the service, with Port applied, no trailing slash
    access_key: str | None = None
    version: str = "1.0"
    auth_type: str | None = None  # None: AccessKey; else one of ENTRA_AUTH_TYPES
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = None
    client_endpoint: str | None = None  # handed to clients by negotiate
    server_endpoint: str | None = None  # where REST calls go

    @classmethod
    def parse(cls, text: str) -> ConnectionString:
        """Parse as Azure's SDK does; ConnectionStringError names what is wrong."""
        fields: dict[str, str] = {}
        parts = [p for p in text.split(";") if p]
        for part in parts:
            key, sep, value = part.partition("=")
            if not sep:
                continue
            key = key.strip().lower()
            if key in fields:
                raise ConnectionStringError(f"{SETTING}: the key {key!r} appears twice")
            fields[key] = value.strip()
        if len(parts) < 2 or not fields.get("endpoint"):
            raise ConnectionStringError(f"{SETTING} lacks Endpoint (Endpoint=https://<name>.service.signalr.net;…)")
        endpoint = _http_url(fields["endpoint"], "Endpoint")
        version = fields.get("version", "1.0")
        if not VERSION.match(version):
            raise ConnectionStringError(f"{SETTING}: Version {version!r} is not supported (1.x)")
        if "port" in fields:
            port = fields["port"]
            if not port.isdigit() or not 0 < int(port) <= 65535:
                raise ConnectionStringError(f"{SETTING}: Port must be a whole number from 1 to 65535, not {port!r}")
            u = urlsplit(endpoint)
            hostname = u.hostname or ""
            host = f"[{hostname}]" if ":" in hostname else hostname
            endpoint = urlunsplit((u.scheme, f"{host}:{int(port)}", u.path, "", "")).rstrip("/")
        client_endpoint = _http_url(fields["clientendpoint"], "ClientEndpoint") if "clientendpoint" in fields else None
        server_endpoint = _http_url(fields["serverendpoint"], "ServerEndpoint") if "serverendpoint" in fields else None
        auth_type = fields.get("authtype", "").lower() or None
        common: dict[str, Any] = dict(version=version, client_endpoint=client_endpoint, server_endpoint=server_endpoint)
        if auth_type not in ENTRA_AUTH_TYPES:  # no AuthType (or one Azure doesn't know): the key
            if not fields.get("accesskey"):
                raise ConnectionStringError(f"{SETTING} lacks AccessKey (or AuthType=azure.msi / azure.app)")
            return cls(endpoint, fields["accesskey"], **common)
        client_id, tenant_id, secret = fields.get("clientid"), fields.get("tenantid"), fields.get("clientsecret")
        if auth_type == "azure.app" or (auth_type == "aad" and tenant_id):
            missing = [k for k, v in (("ClientId", client_id), ("TenantId", tenant_id)) if not v]
            if missing:
                raise ConnectionStringError(f"{SETTING}: AuthType=azure.app needs {' and '.join(missing)}")
            if not secret:
                detail = " (ClientCert is not supported here)" if fields.get("clientcert") else ""
                raise ConnectionStringError(f"{SETTING}: AuthType=azure.app needs ClientSecret{detail}")
            return cls(endpoint, None, auth_type="azure.app", client_id=client_id, tenant_id=tenant_id,
                       client_secret=secret, **common)
        if auth_type == "azure":
            return cls(endpoint, None, auth_type="azure", **common)
        return cls(endpoint, None, auth_type="azure.msi", client_id=client_id or None, **common)

    @property
    def identity_based(self) -> bool:
        """REST calls carry Entra tokens and the service makes the client tokens."""
        return self.access_key is None

    def client_url(self, hub: str) -> str:
        return f"{self.client_endpoint or self.endpoint}/client/?hub={quote(hub.lower(), safe='')}"

    def rest_url(self, hub: str, *path: str) -> str:
        tail = "".join("/" + quote(p, safe="") for p in path)
        return f"{self.server_endpoint or self.endpoint}/api/v1/hubs/{quote(hub, safe='')}{tail}"

    def generate_token_url(self, hub: str) -> str:
        return f"{self.server_endpoint or self.endpoint}/api/hubs/{quote(hub, safe='')}/:generateToken"

    def client_token(self, hub: str, user_id: str, lifetime: int = MAX_TOKEN_LIFETIME, now: float | None = None) -> str:
        return sign_client_token(self._key(), client_audience(self.endpoint, hub), user_id, lifetime, now)

    def rest_token(self, url: str, lifetime: int = 300, now: float | None = None) -> str:
        now = int(now if now is not None else time.time())
        return jwt.encode({"aud": url, "iat": now, "nbf": now, "exp": now + lifetime}, self._key(), algorithm="HS256")

    def _key(self) -> str:
        if self.access_key is None:
            raise ValueError("an identity-based connection has no AccessKey to sign with")
        return self.access_key

    def __str__(self) -> str:
        if self.access_key is not None:
            return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version={self.version};"
        return f"Endpoint={self.endpoint};AuthType={self.auth_type};Version={self.version};"


def sign_client_token(key: str, audience: str, user_id: str | None, lifetime: int = MAX_TOKEN_LIFETIME,
                      now: float | None = None) -> str:
    """A client access token (HS256): `aud` = `client_audience(...)`, user in `asrs.s.uid`,
    at most an hour."""
    now = int(now if now is not None else time.time())
    claims = {"aud": audience, "iat": now, "nbf": now, "exp": now + min(lifetime, MAX_TOKEN_LIFETIME)}
    if user_id:
        claims[USER_CLAIM] = user_id
    return jwt.encode(claims, key, algorithm="HS256")


def decode_service_token(token: str, keys: list[str], audience: str) -> dict:
    """Verify an HS256 token signed with any of the service's access keys."""
    last: Exception = jwt.InvalidSignatureError("no key")
    for key in keys:
        try:
            return jwt.decode(token, key, algorithms=["HS256"], audience=audience, leeway=30,
                              options={"require": ["exp", "aud"]})
        except jwt.InvalidSignatureError as exc:
            last = exc
    raise last


def token_user_id(claims: dict) -> str | None:
    return claims.get(USER_CLAIM) or claims.get("nameid") or None
