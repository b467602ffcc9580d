"""Azure SignalR Service (serverless) wire facts shared by both sides of it: the
functions (its client) and the local emulator (the service). Pure functions only.

- connection string `Endpoint=<url>;AccessKey=<key>;Version=1.0;` (keys case-insensitive)
- client access token: HS256 with the AccessKey, `aud` = client URL, user in `asrs.s.uid`
- REST token: HS256 with the AccessKey, `aud` = the request URL
- upstream signature: `sha256=<hex>` = HMAC-SHA256(key=AccessKey, msg=connection id)
"""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote

import jwt

USER_CLAIM = "asrs.s.uid"
MAX_TOKEN_LIFETIME = 3600


class ConnectionStringError(ValueError):
    pass


@dataclass(frozen=True)
class ConnectionString:
    endpoint: str
    access_key: str
    version: str = "1.0"

    @classmethod
    def parse(cls, text: str) -> "ConnectionString":
        fields = {}
        for part in text.split(";"):
            if part.strip():
                key, sep, value = part.partition("=")
                if not sep:
                    raise ConnectionStringError(f"AzureSignalRConnectionString: '{part.strip()}' is not key=value")
                fields[key.strip().lower()] = value.strip()
        missing = [k for k in ("endpoint", "accesskey") if not fields.get(k)]
        if missing:
            raise ConnectionStringError(f"AzureSignalRConnectionString lacks {', '.join(missing)}")
        endpoint = fields["endpoint"].rstrip("/")
        if not endpoint.startswith(("https://", "http://")):
            raise ConnectionStringError("AzureSignalRConnectionString: Endpoint must be an http(s) URL")
        return cls(endpoint, fields["accesskey"], fields.get("version", "1.0"))

    def __str__(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version={self.version};"

    def client_url(self, hub: str) -> str:
        return f"{self.endpoint}/client/?hub={quote(hub, safe='')}"

    def rest_url(self, hub: str, *path: str) -> str:
        tail = "".join("/" + quote(p, safe="") for p in path)
        return f"{self.endpoint}/api/v1/hubs/{quote(hub, safe='')}{tail}"

    def client_token(self, hub: str, user_id: str, lifetime: int = MAX_TOKEN_LIFETIME, now: float | None = None) -> str:
        now = int(now if now is not None else time.time())
        claims = {"aud": self.client_url(hub), "iat": now, "nbf": now, "exp": now + min(lifetime, MAX_TOKEN_LIFETIME),
                  USER_CLAIM: user_id}
        return jwt.encode(claims, self.access_key, algorithm="HS256")

    def rest_token(self, url: str, lifetime: int = 300, now: float | None = None) -> str:
        now = int(now if now is not None else time.time())
        return jwt.encode({"aud": url, "iat": now, "nbf": now, "exp": now + lifetime}, self.access_key, algorithm="HS256")


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


def upstream_signature(connection_id: str, keys: list[str]) -> str:
    return ",".join(
        "sha256=" + hmac.new(k.encode(), connection_id.encode(), hashlib.sha256).hexdigest() for k in keys
    )


def verify_upstream_signature(header: str, connection_id: str, keys: list[str]) -> bool:
    """Any listed value matching any of our keys is valid; hex compared case-insensitively."""
    expected = {hmac.new(k.encode(), connection_id.encode(), hashlib.sha256).hexdigest() for k in keys}
    for value in (header or "").split(","):
        algo, _, digest = value.strip().partition("=")
        if algo.lower() == "sha256" and any(hmac.compare_digest(digest.lower(), e) for e in expected):
            return True
    return False
