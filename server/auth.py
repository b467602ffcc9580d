"""Bearer-token validation for the functions (the resource-server side of identity).

Entra ID issues an API **v1.0 or v2.0 access tokens**, chosen by the API's app manifest
(`accessTokenAcceptedVersion`: unset or 1 → v1.0, 2 → v2.0), whatever endpoint the client
used. Each version is checked against its own OpenID metadata, as Entra documents:

| `ver` | metadata | `iss` | client claim |
|---|---|---|---|
| 1.0 | `<authority>/.well-known/openid-configuration` | `https://sts.windows.net/<tid>/` | `appid` |
| 2.0 | `<authority>/v2.0/.well-known/openid-configuration` | `https://login.microsoftonline.com/<tid>/v2.0` | `azp` |

Then: RS256 signature against that metadata's JWKS (cached; refetched when a `kid` is
unknown), `iss` exactly the metadata's issuer, `aud` one of the API's audiences (client id
or App ID URI: v1.0 carries what the client asked for, v2.0 always the client id), `exp`/
`nbf` with leeway for clock skew, `tid` the configured tenant, and `appid`/`azp` present
(an id token has neither: it proves a sign-in to the client, not access to us). Every
refusal is a 401 whose message names the claim. Scope (agents) or app role (senders) are
checked after, as 403s. Identity is the token's `oid` (fallback `sub`) — never a header
or body field.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import httpx
import jwt

from .errors import ApiError

CLOCK_SKEW_LEEWAY = 120  # seconds; issuer and validator clocks may differ by ±2 min
JWKS_MIN_REFRESH = 10  # seconds between refetches forced by unknown kids (no fetch storms)
# Longer Authorization headers never reach a handler behind Azure's front ends (Azure
# SignalR: 16 KB a header; our own server bounds headers the same way, server/front_end.py).
MAX_TOKEN_LENGTH = 16 * 1024
VALIDATED_TOKENS = 1024  # tokens remembered as valid (least recently used dropped first)
JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
TIME_CLAIMS = ("exp", "nbf", "iat")  # NumericDate: seconds since the epoch
STRING_CLAIMS = ("iss", "oid", "sub", "tid", "scp", "azp", "appid", "idtyp", "ver")
CLIENT_CLAIM = {"1.0": "appid", "2.0": "azp"}  # who the token was issued to, by version


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


def discovery_url(authority: str, version: str = "2.0") -> str:
    """OpenID metadata of an Entra-style authority `https://host/<tenant>` (or one ending
    in /v2.0) for tokens of `version` "1.0" or "2.0"."""
    authority = authority.rstrip("/").removesuffix("/v2.0")
    return f"{authority}/.well-known/openid-configuration" if version == "1.0" else \
        f"{authority}/v2.0/.well-known/openid-configuration"


class TokenValidator:
    """Validates Entra ID access tokens (v1.0 and v2.0) of one tenant for one API.

    `authority` is `https://<host>/<tenant>`; `audiences` the accepted `aud` values;
    `tenant_id`, when given, the only accepted `tid`. `validate(token)` returns the
    Principal or raises ApiError 401 naming the failed claim (503 `authority_unavailable`
    when the metadata or keys can't be read)."""

    def __init__(self, authority: str, audiences: tuple[str, ...], http: httpx.Client,
                 leeway: int = CLOCK_SKEW_LEEWAY, tenant_id: str | None = None):
        self.authority, self.audiences, self.http, self.leeway = authority, audiences, http, leeway
        self.tenant_id = tenant_id
        self._lock = threading.RLock()
        self._metadata: dict[str, dict] = {}  # by token version
        self._keys: dict[str, dict[str, jwt.PyJWK]] = {}  # by jwks_uri, then kid
        self._keys_fetched: dict[str, float] = {}
        # token → (Principal, exp) of tokens that passed every check: a sender or agent uses one
        # token for up to an hour, and the RS256 check was a third of a notification's CPU.
        self._valid: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def _fetch_json(self, url: str) -> dict:
        try:
            response = self.http.get(url, timeout=10)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ApiError(503, "authority_unavailable", f"Cannot read {url}: {exc}") from exc

    def metadata(self, version: str = "2.0") -> dict:
        """The authority's OpenID metadata for tokens of `version` (fetched once)."""
        with self._lock:
            if version not in self._metadata:
                self._metadata[version] = self._fetch_json(discovery_url(self.authority, version))
            return self._metadata[version]

    def _signing_key(self, version: str, kid: str) -> jwt.PyJWK:
        with self._lock:
            jwks_uri = self.metadata(version)["jwks_uri"]
            keys = self._keys.get(jwks_uri, {})
            key = keys.get(kid)
            if key is None and time.monotonic() - self._keys_fetched.get(jwks_uri, -JWKS_MIN_REFRESH) > JWKS_MIN_REFRESH:
                jwks = self._fetch_json(jwks_uri)
                keys = {k["kid"]: jwt.PyJWK(k) for k in jwks.get("keys", []) if isinstance(k.get("kid"), str)}
                self._keys[jwks_uri], self._keys_fetched[jwks_uri] = keys, time.monotonic()
                key = keys.get(kid)
        if key is None:
            raise unauthorized("invalid_token", "The token's 'kid' names an unknown key (none of the authority's "
                                                "signing keys).")
        return key

    def validate(self, token: str) -> Principal:
        """The token's Principal, or a 401 ApiError naming what is wrong (any header or
        claim a client can craft ends here, never in another exception). A token that
        passed is remembered until its `exp` (+ leeway): the same answer, without the work."""
        with self._lock:
            known = self._valid.get(token)
            if known is not None:
                if time.time() < known[1] + self.leeway:  # PyJWT's own test: expired once exp <= now - leeway
                    self._valid.move_to_end(token)
                    return known[0]
                del self._valid[token]  # expired since: the full check below names it
        principal = self._check(token)
        with self._lock:
            self._valid[token] = (principal, float(principal.claims["exp"]))
            while len(self._valid) > VALIDATED_TOKENS:
                self._valid.popitem(last=False)
        return principal

    def _check(self, token: str) -> Principal:
        header = unverified_header(token)
        try:  # types first, so that e.g. exp "9999999999" is named, not read as a number by PyJWT
            unverified = jwt.decode(token, options={"verify_signature": False})
            check_claim_types(unverified)
        except jwt.InvalidTokenError as exc:
            raise unauthorized("invalid_token", f"The token is not valid: {exc}.") from None
        except RecursionError:  # thousands of nested arrays: valid JSON, not claims
            raise unauthorized("invalid_token", "The token's payload is nested too deeply.") from None
        version = unverified.get("ver")
        if version not in CLIENT_CLAIM:
            raise unauthorized("invalid_token", "The token's 'ver' must be 1.0 or 2.0 (an Entra ID access token).")
        key = self._signing_key(version, header["kid"])
        issuer = self.metadata(version)["issuer"]
        try:
            claims = jwt.decode(token, key=key.key, algorithms=["RS256"], audience=list(self.audiences),
                                issuer=issuer, leeway=self.leeway, options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token_expired", "The token's 'exp' has passed; acquire a new token.") from None
        except jwt.ImmatureSignatureError:
            raise unauthorized("invalid_token", "The token's 'nbf' is in the future.") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("invalid_audience", f"The token's 'aud' {_shown(unverified.get('aud'))} is another API; "
                                                   f"this one accepts {', '.join(self.audiences)}.") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("invalid_issuer", f"The token's 'iss' {_shown(unverified.get('iss'))} is not this tenant's "
                                                 f"v{version} issuer {issuer!r}.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise unauthorized("invalid_token", f"The token has no '{exc.claim}' claim.") from None
        except jwt.InvalidSignatureError:
            raise unauthorized("invalid_token", "The token's signature does not verify with the authority's key.") from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized("invalid_token", f"The token is not valid: {exc}.") from None
        if self.tenant_id and claims.get("tid") != self.tenant_id:
            raise unauthorized("invalid_tenant", f"The token's 'tid' {_shown(claims.get('tid'))} is another tenant.")
        if not claims.get(CLIENT_CLAIM[version]):
            raise unauthorized("not_an_access_token", f"The token has no '{CLIENT_CLAIM[version]}' claim: it is not an "
                                                      "access token (an id token?). Request a token for this API's scope.")
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


def _shown(value) -> str:
    """A claim value for an error message: quoted, at most 120 characters."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


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
