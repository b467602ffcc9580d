"""Bearer-token validation for the functions (the resource-server side of identity).

Signature against the authority's JWKS (cached; refetched when a `kid` is unknown),
issuer, audience, expiry with leeway for clock skew, then scope (agents) or app role
(senders). Identity is the token's `oid` (fallback `sub`) — never a header or body field.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field

import httpx
import jwt

from .errors import ApiError

CLOCK_SKEW_LEEWAY = 120  # seconds; issuer and validator clocks may differ by ±2 min
JWKS_MIN_REFRESH = 10  # seconds between refetches forced by unknown kids (no fetch storms)
# Longer Authorization headers never reach a handler behind Azure's front ends (Azure
# SignalR: 16 KB a header; our own server bounds headers the same way, server/front_end.py).
MAX_TOKEN_LENGTH = 16 * 1024
JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
TIME_CLAIMS = ("exp", "nbf", "iat")  # NumericDate: seconds since the epoch
STRING_CLAIMS = ("iss", "oid", "sub", "tid", "scp", "azp", "appid", "idtyp", "ver")


@dataclass(frozen=True)
class Principal:
    user_id: str
    claims: dict = field(repr=False)

    @property
    def roles(self) -> list[str]:
        return list(self.claims.get("roles") or [])

    @property
    def scopes(self) -> list[str]:
        return str(self.claims.get("scp", "")).split()


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


def forbidden(code: str, message: str) -> ApiError:
    return ApiError(403, code, message)


def bearer_token(headers) -> str:
    value = headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing_token", "Send an access token as 'Authorization: Bearer <token>'.")
    return token.strip()


def discovery_url(authority: str) -> str:
    """Entra-style authority `https://host/<tenant>` or an issuer ending in /v2.0."""
    authority = authority.rstrip("/")
    if authority.endswith("/v2.0"):
        return f"{authority}/.well-known/openid-configuration"
    return f"{authority}/v2.0/.well-known/openid-configuration"


class TokenValidator:
    def __init__(self, authority: str, audiences: tuple[str, ...], http: httpx.Client,
                 leeway: int = CLOCK_SKEW_LEEWAY):
        self.authority, self.audiences, self.http, self.leeway = authority, audiences, http, leeway
        self._lock = threading.RLock()
        self._metadata: dict | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched = 0.0

    def _fetch_json(self, url: str) -> dict:
        try:
            response = self.http.get(url, timeout=10)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ApiError(503, "authority_unavailable", f"Cannot read {url}: {exc}") from exc

    def metadata(self) -> dict:
        with self._lock:
            return self._metadata_unlocked()

    def _signing_key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._keys_fetched > JWKS_MIN_REFRESH:
                jwks = self._fetch_json(self._metadata_unlocked()["jwks_uri"])
                self._keys = {k["kid"]: jwt.PyJWK(k) for k in jwks.get("keys", []) if "kid" in k}
                self._keys_fetched = time.monotonic()
                key = self._keys.get(kid)
        if key is None:
            raise unauthorized("invalid_token", "The token is signed with an unknown key.")
        return key

    def _metadata_unlocked(self) -> dict:
        if self._metadata is None:
            self._metadata = self._fetch_json(discovery_url(self.authority))
        return self._metadata

    def validate(self, token: str) -> Principal:
        """The token's Principal, or a 401 ApiError naming what is wrong (any header or
        claim a client can craft ends here, never in another exception)."""
        header = unverified_header(token)
        try:  # types first, so that e.g. exp "9999999999" is named, not read as a number by PyJWT
            check_claim_types(jwt.decode(token, options={"verify_signature": False}))
        except jwt.InvalidTokenError as exc:
            raise unauthorized("invalid_token", f"The token is not valid: {exc}.") from None
        except RecursionError:  # thousands of nested arrays: valid JSON, not claims
            raise unauthorized("invalid_token", "The token's payload is nested too deeply.") from None
        key = self._signing_key(header["kid"])
        try:
            claims = jwt.decode(token, key=key.key, algorithms=["RS256"], audience=list(self.audiences),
                                issuer=self.metadata()["issuer"], leeway=self.leeway,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token_expired", "The access token has expired; acquire a new one.") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("invalid_audience", "The token was issued for another API.") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("invalid_issuer", "The token was issued by another authority.") from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized("invalid_token", f"The token is not valid: {exc}.") from None
        user_id = claims.get("oid") or claims.get("sub")
        if not user_id:
            raise unauthorized("invalid_token", "The token carries no 'oid' or 'sub'.")
        return Principal(str(user_id), claims)


def unverified_header(token: str) -> dict:
    """The JOSE header of a compact JWS, checked before anything else reads it: an RS256
    signature, a string `kid`, `typ` absent or JWT (what Entra ID issues). 401 otherwise."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthorized("invalid_token", f"The bearer token is longer than {MAX_TOKEN_LENGTH} characters.")
    if not JWS_COMPACT.fullmatch(token):
        raise unauthorized("invalid_token", "The bearer token is not a JWT (three base64url segments).")
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise unauthorized("invalid_token", "The token header is not base64url-encoded JSON.") from None
    if not isinstance(header, dict):
        raise unauthorized("invalid_token", "The token header must be a JSON object.")
    if header.get("alg") != "RS256":
        raise unauthorized("invalid_token", "The token header's 'alg' must be RS256.")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise unauthorized("invalid_token", "The token header's 'kid' (the signing key's id) must be a string.")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise unauthorized("invalid_token", "The token header's 'typ' must be JWT.")
    return header


def check_claim_types(claims: dict) -> None:
    """Claims we read have the types Entra ID issues them with; 401 naming the first that hasn't."""
    for name in TIME_CLAIMS:
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise unauthorized("invalid_token", f"The token's '{name}' claim must be a number of seconds.")
    for name in STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise unauthorized("invalid_token", f"The token's '{name}' claim must be a string.")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise unauthorized("invalid_token", "The token's 'roles' claim must be a list of strings.")


def scope_name(api_scope: str) -> str:
    """`api://<id>/access_as_user` → `access_as_user` (tokens carry the bare name in scp)."""
    return api_scope.rstrip("/").rsplit("/", 1)[-1]


def require_agent(principal: Principal, api_scope: str) -> Principal:
    if scope_name(api_scope) not in principal.scopes:
        raise forbidden("insufficient_scope", f"An agent token with the scope '{scope_name(api_scope)}' is required.")
    return principal


SENDER_ROLE = "Notifications.Send"


def require_sender(principal: Principal) -> Principal:
    if SENDER_ROLE not in principal.roles:
        raise forbidden("missing_role", f"This endpoint needs an app token with the role '{SENDER_ROLE}'.")
    return principal
