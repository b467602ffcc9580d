"""Claims of the tokens the local provider issues, in Entra ID's shapes for each version.

Entra picks an access token's version by the *resource* (the API's manifest setting
`accessTokenAcceptedVersion`: unset or 1 → v1.0, 2 → v2.0), not by the endpoint the client
used; id tokens from the v2.0 endpoint are always v2.0. Microsoft's own resources (Azure
SignalR's `https://signalr.azure.com`) get v1.0 tokens.

| | v1.0 | v2.0 |
|---|---|---|
| `iss` | `https://sts.windows.net/<tid>/` | `<authority>/<tid>/v2.0` |
| `aud` | the resource as requested (`api://<id>` or `<id>`) | the API's client id |
| client | `appid`, `appidacr` | `azp`, `azpacr` |
| user name | `upn`, `unique_name`, `given_name`, `family_name`, `amr` | `preferred_username` |
| header | `kid` and `x5t` | `kid` |
"""
from __future__ import annotations

import os
import uuid

SIGNALR_RESOURCE = "https://signalr.azure.com"  # Azure SignalR's Entra audience (scope …/.default)
VERSION_ENV = "ADAPTOR_IDP_ACCESS_TOKEN_VERSION"


def access_token_version() -> str:
    """The version of the access tokens issued for our API: `ADAPTOR_IDP_ACCESS_TOKEN_VERSION`
    1 or 2 (default 2, as for an API whose manifest sets accessTokenAcceptedVersion 2)."""
    raw = os.environ.get(VERSION_ENV, "2").strip()
    if raw not in ("1", "2", "1.0", "2.0"):
        from ..settings import ConfigError

        raise ConfigError(f"{VERSION_ENV} must be 1 or 2 (Entra access token version), not {raw!r}")
    return raw[0] + ".0"


def v1_issuer(tenant_id: str) -> str:
    return f"https://sts.windows.net/{tenant_id}/"


def v2_issuer(public_url: str, tenant_id: str) -> str:
    return f"{public_url}/{tenant_id}/v2.0"


def _common(version: str, issuer: str, tenant_id: str, audience: str, now: int, lifetime: int) -> dict:
    return {"aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": now + lifetime, "tid": tenant_id,
            "uti": uuid.uuid4().hex, "ver": version}


def user_access_claims(version: str, issuer: str, tenant_id: str, audience: str, client_id: str, *, oid: str,
                       name: str, username: str, scopes: str, now: int, lifetime: int) -> dict:
    """An agent's delegated access token (auth code + PKCE, refresh): `scp` = scopes."""
    claims = {**_common(version, issuer, tenant_id, audience, now, lifetime), "oid": oid, "sub": oid, "name": name,
              "scp": scopes}
    if version == "1.0":
        given, _, family = name.partition(" ")
        return {**claims, "appid": client_id, "appidacr": "0", "acr": "1", "amr": ["pwd"], "upn": username,
                "unique_name": username, "given_name": given, "family_name": family}
    return {**claims, "azp": client_id, "azpacr": "0", "preferred_username": username}


def app_access_claims(version: str, issuer: str, tenant_id: str, audience: str, client_id: str, *, oid: str,
                      roles: tuple[str, ...], now: int, lifetime: int) -> dict:
    """An application's own token (client credentials, managed identity): `roles` = its app
    roles on the resource (none for Azure resources: those authorize by Azure RBAC)."""
    claims = {**_common(version, issuer, tenant_id, audience, now, lifetime), "oid": oid, "sub": oid,
              "idtyp": "app"}
    if roles:
        claims["roles"] = list(roles)
    if version == "1.0":
        return {**claims, "appid": client_id, "appidacr": "1", "idp": issuer}
    return {**claims, "azp": client_id, "azpacr": "1"}


def signing_headers(version: str, kid: str) -> dict:
    """v1.0 tokens repeat the key id as the legacy `x5t`."""
    return {"kid": kid, "typ": "JWT", **({"x5t": kid} if version == "1.0" else {})}
