"""Routes of the local OpenID Connect provider, laid out like Entra ID v2.0:
`/<tenant>/v2.0/.well-known/openid-configuration`, `/<tenant>/oauth2/v2.0/authorize`,
`/<tenant>/oauth2/v2.0/token`, `/<tenant>/discovery/v2.0/keys`; plus the v1.0 metadata
(`/<tenant>/.well-known/openid-configuration`, `/<tenant>/discovery/keys`) that resource
servers read to validate v1.0 access tokens. Access tokens for our API are v1.0 or v2.0
as ADAPTOR_IDP_ACCESS_TOKEN_VERSION says (server/idp/tokens.py has the claim shapes)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from urllib.parse import urlencode, urlsplit

import jwt
from flask import Blueprint, Response, current_app, jsonify, render_template, request

from ..errors import ApiError
from ..local_only import require_local_peer
from . import tokens
from .directory import API_SCOPE_NAME, Directory, User
from .grants import CODE_LIFETIME, CodeGrant, GrantStore, RefreshGrant

bp = Blueprint("idp", __name__, template_folder="../templates")
bp.before_request(require_local_peer)  # it signs anyone in: this machine only (server/local_only.py)

RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Paths a redirect URI may have (any loopback port, as Entra allows for localhost).
REDIRECT_PATHS = {"/widget/auth-redirect.html", "/", ""}
SIGNIN_FORM_LIFETIME = 600  # seconds a sign-in page's form may be posted


class OAuthError(ApiError):
    """An OAuth 2.0 error: its body is `{"error", "error_description"}` (RFC 6749 §5.2)."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(status, error, description)
        self.error, self.description = error, description

    @property
    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _directory() -> Directory:
    return current_app.extensions["idp.directory"]


def _grants() -> GrantStore:
    return current_app.extensions["idp.grants"]


def _issuer(version: str = "2.0") -> str:
    tenant = _directory().tenant_id
    return tokens.v1_issuer(tenant) if version == "1.0" else \
        tokens.v2_issuer(current_app.extensions["config"].public_url, tenant)


def _api_token_version() -> str:
    return current_app.extensions["idp.access_token_version"]


def _token_lifetime() -> int:
    return int(os.environ.get("ADAPTOR_IDP_TOKEN_LIFETIME", "3600"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(claims: dict) -> str:
    d = _directory()
    return jwt.encode(claims, d.private_key, algorithm="RS256", headers=tokens.signing_headers(claims["ver"], d.kid))


def _check_tenant(tenant: str) -> None:
    if tenant != _directory().tenant_id:
        raise OAuthError("invalid_tenant", f"Tenant '{tenant}' not found.", 404)


@bp.errorhandler(OAuthError)
def _oauth_error(exc: OAuthError):
    return _cors(jsonify(exc.body)), exc.status


def _cors(response: Response) -> Response:
    """The widget calls discovery, token and keys cross-origin (msal adds x-client-*
    headers, hence the preflight). Local provider: loopback https origins only."""
    origin = request.headers.get("Origin", "")
    parts = urlsplit(origin)
    if parts.scheme == "https" and parts.hostname in LOOPBACK_HOSTS:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers", "")
            response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.route("/<tenant>/v2.0/.well-known/openid-configuration", methods=["GET", "OPTIONS"])
def discovery(tenant: str):
    _check_tenant(tenant)
    base = f"{current_app.extensions['config'].public_url}/{tenant}"
    return _cors(jsonify({
        "issuer": _issuer(),
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": sorted(RESERVED_SCOPES),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "tenant_region_scope": "local",
    }))


@bp.route("/<tenant>/.well-known/openid-configuration", methods=["GET", "OPTIONS"])
def discovery_v1(tenant: str):
    """The v1.0 metadata, for validating v1.0 tokens (issuer `https://sts.windows.net/<tid>/`).
    The v1.0 sign-in and token endpoints are not served: clients here use v2.0 (msal)."""
    _check_tenant(tenant)
    base = f"{current_app.extensions['config'].public_url}/{tenant}"
    return _cors(jsonify({
        "issuer": _issuer("1.0"),
        "jwks_uri": f"{base}/discovery/keys",
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "local",
    }))


@bp.route("/<tenant>/discovery/v2.0/keys", methods=["GET", "OPTIONS"])
@bp.route("/<tenant>/discovery/keys", methods=["GET", "OPTIONS"])
def keys(tenant: str):
    """One key set for both versions, as Entra signs v1.0 and v2.0 tokens with the same keys."""
    _check_tenant(tenant)
    return _cors(jsonify(_directory().jwks()))


# --- authorize: a real sign-in page -------------------------------------------------

AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
                    "code_challenge", "code_challenge_method", "response_mode", "prompt", "login_hint")


def _validate_authorize(params: dict[str, str]) -> None:
    """Errors that must not redirect (unknown client or redirect URI) raise OAuthError."""
    if params.get("client_id") != _directory().api_client_id:
        raise OAuthError("unauthorized_client", "Unknown client_id for this tenant.")
    redirect = urlsplit(params.get("redirect_uri", ""))
    if redirect.hostname not in LOOPBACK_HOSTS or redirect.path not in REDIRECT_PATHS \
            or redirect.scheme not in ("https", "http") or redirect.query or redirect.fragment:
        raise OAuthError("invalid_request", "redirect_uri is not registered for this application.")


def _authorize_error(params: dict[str, str]) -> str | None:
    """Errors reported back to the client on its redirect URI, as OAuth specifies."""
    if params.get("response_type") != "code":
        return "unsupported_response_type"
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        return "invalid_request"  # PKCE S256 is required for the public client
    try:
        _resolve_scope(params.get("scope", ""))
    except OAuthError:
        return "invalid_scope"
    return None


def _redirect(uri: str, params: dict[str, str]) -> Response:
    response = Response(status=302)
    response.headers["Location"] = f"{uri}?{urlencode(params)}"
    return response


def _page(template: str, status: int = 200, **context) -> Response:
    """A page of the sign-in flow: never framed (clickjacking a sign-in), as Entra ID's."""
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_token(params: dict[str, str], issued: int | None = None) -> str:
    """`<issued>.<HMAC(key, issued + params)>`: what only our own sign-in page (GET, not
    readable by other sites) carries into its form, bound to that page's parameters."""
    issued = int(time.time()) if issued is None else issued
    message = f"{issued}\n{urlencode(sorted(params.items()))}".encode()
    return f"{issued}.{_b64url(hmac.new(current_app.extensions['idp.form_key'], message, hashlib.sha256).digest())}"


def _form_token_ok(token: str, params: dict[str, str]) -> bool:
    issued = token.partition(".")[0]
    if not (issued.isascii() and issued.isdigit()) or not 0 <= time.time() - int(issued) <= SIGNIN_FORM_LIFETIME:
        return False
    return hmac.compare_digest(token.encode(), _form_token(params, int(issued)).encode())


def _sign_in_page(params: dict[str, str], status: int = 200, **context) -> Response:
    return _page("signin.html", status, params={**params, "csrf_token": _form_token(params)},
                 users=_directory().listed_users, **context)


@bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str):
    _check_tenant(tenant)
    source = request.args if request.method == "GET" else request.form
    params = {k: source[k] for k in AUTHORIZE_PARAMS if source.get(k)}
    try:
        _validate_authorize(params)
    except OAuthError as exc:
        return _page("signin_error.html", 400, error=exc.error, description=exc.description)
    error = _authorize_error(params)
    if error:
        return _redirect(params["redirect_uri"], {"error": error, "state": params.get("state", ""),
                                                  "error_description": f"{error} in the authorize request"})
    if request.method == "GET":
        return _sign_in_page(params, hint=params.get("login_hint", "").split("@")[0])
    if not _form_token_ok(request.form.get("csrf_token", ""), params):
        return _page("signin_error.html", 403, error="invalid_request",
                     description="This sign-in form did not come from this sign-in page, or is older than "
                                 f"{SIGNIN_FORM_LIFETIME // 60} minutes: start the sign-in again.")
    user = _directory().users.get(request.form.get("user", ""))
    if user is None:
        return _sign_in_page(params, 400, hint="", message="Choose one of the test users.")
    code = _grants().new_code(CodeGrant(
        client_id=params["client_id"], redirect_uri=params["redirect_uri"], username=user.username,
        scope=params.get("scope", ""), nonce=params.get("nonce"), code_challenge=params["code_challenge"],
        code_challenge_method="S256", expires=time.time() + CODE_LIFETIME))
    return _redirect(params["redirect_uri"], {"code": code, "state": params.get("state", ""),
                                              "client_info": _client_info(user)})


# --- token endpoint ---------------------------------------------------------------

def _resolve_scope(scope: str) -> list[str]:
    """Return the resource scopes asked for; reserved OIDC scopes ride along."""
    d = _directory()
    asked = [s for s in scope.split() if s not in RESERVED_SCOPES]
    for s in asked:
        if s not in (d.api_scope, f"{d.api_client_id}/{API_SCOPE_NAME}"):
            raise OAuthError("invalid_scope", f"The scope '{s}' is not exposed by any application in this tenant.")
    return asked


def _client_info(user: User) -> str:
    return _b64url(json.dumps({"uid": user.oid, "utid": _directory().tenant_id}).encode())


def _user_tokens(user: User, client_id: str, scope: str, nonce: str | None, family: str | None = None) -> dict:
    d, now, lifetime = _directory(), int(time.time()), _token_lifetime()
    resource_scopes = _resolve_scope(scope)
    body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
            "scope": " ".join(resource_scopes) or "openid profile", "client_info": _client_info(user)}
    if resource_scopes:
        version = _api_token_version()
        # v1.0: the resource as the client named it (api://<id> or <id>); v2.0: the client id
        audience = resource_scopes[0].rsplit("/", 1)[0] if version == "1.0" else d.api_client_id
        body["access_token"] = _sign(tokens.user_access_claims(
            version, _issuer(version), d.tenant_id, audience, client_id, oid=user.oid, name=user.name,
            username=user.email, scopes=API_SCOPE_NAME, now=now, lifetime=lifetime))
    if "openid" in scope.split() or not resource_scopes:
        # id tokens come from the v2.0 endpoint: always v2.0, aud = the client, no azp
        id_claims = {"aud": client_id, "iss": _issuer(), "iat": now, "nbf": now, "exp": now + lifetime,
                     "tid": d.tenant_id, "oid": user.oid, "sub": user.oid, "name": user.name,
                     "preferred_username": user.email, "ver": "2.0"}
        if nonce:
            id_claims["nonce"] = nonce
        body["id_token"] = _sign(id_claims)
    if "offline_access" in scope.split():
        body["refresh_token"] = _grants().new_refresh_token(RefreshGrant(client_id, user.username, scope, family))
    return body


def app_token(client_id: str, oid: str, roles: tuple[str, ...], resource: str) -> tuple[str, int]:
    """(access token, expiry) of an application for `resource`: our API (version as
    configured, with the app's roles) or Azure SignalR (v1.0, no roles: Azure RBAC)."""
    d, now, lifetime = _directory(), int(time.time()), _token_lifetime()
    version = "1.0" if resource == tokens.SIGNALR_RESOURCE else _api_token_version()
    audience = d.api_client_id if version == "2.0" else resource
    claims = tokens.app_access_claims(version, _issuer(version), d.tenant_id, audience, client_id, oid=oid,
                                      roles=roles if resource != tokens.SIGNALR_RESOURCE else (), now=now,
                                      lifetime=lifetime)
    return _sign(claims), now + lifetime


def token_resource(scope_or_resource: str) -> str | None:
    """The resource an app may get a token for: `<resource>/.default` (client credentials)
    or a bare resource (managed identity); None when the tenant has no such resource."""
    d = _directory()
    resource = scope_or_resource.removesuffix("/.default").rstrip("/")
    return resource if resource in (*d.api_audiences, tokens.SIGNALR_RESOURCE) else None


def _form(name: str) -> str:
    value = request.form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"The request body must contain the parameter '{name}'.")
    return value


def _pkce_ok(verifier: str, challenge: str) -> bool:
    computed = _b64url(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(computed, challenge)


def _grant_authorization_code() -> dict:
    grant = _grants().take_code(_form("code"))
    if grant is None:
        raise OAuthError("invalid_grant", "The authorization code is invalid, expired or already used.")
    if request.form.get("client_id") != grant.client_id:
        raise OAuthError("invalid_grant", "The code was issued to another client.")
    if request.form.get("redirect_uri") != grant.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorize request.")
    if not _pkce_ok(_form("code_verifier"), grant.code_challenge or ""):
        raise OAuthError("invalid_grant", "PKCE verification failed: code_verifier does not match the code_challenge.")
    return _user_tokens(_directory().users[grant.username], grant.client_id, grant.scope, grant.nonce)


def _grant_refresh_token() -> dict:
    grant = _grants().redeem_refresh_token(_form("refresh_token"))
    if grant is None or grant.client_id != request.form.get("client_id"):
        raise OAuthError("invalid_grant", "The refresh token is invalid, expired, revoked or already used.")
    scope = request.form.get("scope") or grant.scope
    if not set(_resolve_scope(scope)) <= set(_resolve_scope(grant.scope)):
        raise OAuthError("invalid_scope", "A refresh token cannot widen the granted scopes.")
    # keep offline_access so the rotated refresh token is issued
    scope = " ".join(dict.fromkeys(scope.split() + ["offline_access"]))
    return _user_tokens(_directory().users[grant.username], grant.client_id, scope, None, grant.family)


def _client_credentials() -> tuple[str, str]:
    auth = request.authorization
    if auth and auth.type == "basic":
        return auth.username or "", auth.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _grant_client_credentials() -> dict:
    client_id, secret = _client_credentials()
    client = _directory().confidential_client(client_id)
    if client is None or not hmac.compare_digest(secret.encode(), client[0].encode()):
        raise OAuthError("invalid_client", "Client authentication failed: unknown client or wrong secret.", 401)
    scope = _form("scope")
    resource = token_resource(scope) if scope.endswith("/.default") else None
    if resource is None:
        raise OAuthError("invalid_scope", "client_credentials needs the scope '<resource>/.default' of a resource "
                                          "in this tenant (the API, or https://signalr.azure.com).")
    token, _ = app_token(client_id, client[1], client[2], resource)
    lifetime = _token_lifetime()
    return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}


GRANTS = {"authorization_code": _grant_authorization_code, "refresh_token": _grant_refresh_token,
          "client_credentials": _grant_client_credentials}


@bp.route("/<tenant>/oauth2/v2.0/token", methods=["POST", "OPTIONS"])
def token(tenant: str):
    _check_tenant(tenant)
    if request.method == "OPTIONS":
        return _cors(Response(status=204))
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The token request must be application/x-www-form-urlencoded.")
    grant_type = request.form.get("grant_type", "")
    if grant_type not in GRANTS:
        raise OAuthError("unsupported_grant_type", f"grant_type '{grant_type}' is not supported.")
    response = jsonify(GRANTS[grant_type]())
    response.headers["Cache-Control"] = "no-store"
    return _cors(response)


def init_app(app, directory: Directory, grants: GrantStore, identity_header: str) -> None:
    """Register the provider and the managed identity endpoint; ConfigError for a bad
    ADAPTOR_IDP_ACCESS_TOKEN_VERSION."""
    from . import managed_identity

    app.extensions["idp.directory"] = directory
    app.extensions["idp.grants"] = grants
    app.extensions["idp.form_key"] = secrets.token_bytes(32)  # a restart voids open sign-in pages
    app.extensions["idp.access_token_version"] = tokens.access_token_version()
    app.register_blueprint(bp)
    managed_identity.init_app(app, identity_header)
