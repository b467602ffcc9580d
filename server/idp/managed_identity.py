"""A stand-in for the managed identity endpoint Azure App Service and Azure Functions give
an app (environment IDENTITY_ENDPOINT + IDENTITY_HEADER), issuing the local tenant's tokens.

`GET /msi/token?api-version=2019-08-01&resource=<resource>[&client_id=<id>|&object_id=<id>]`
with header `X-IDENTITY-HEADER: <IDENTITY_HEADER>` answers `{"access_token", "expires_on"
(epoch seconds, a string), "resource", "token_type": "Bearer", "client_id"}`; no client id
means the system-assigned identity. Errors are `{"statusCode", "message"}`. azure-identity's
ManagedIdentityCredential (through msal) speaks exactly this when both variables are set,
so pointing them here exercises the real library (tests, `AuthType=azure.msi` locally)."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request

from ..local_only import require_local_peer
from .directory import Directory, ServicePrincipal
from .provider import app_token, token_resource

bp = Blueprint("managed_identity", __name__)
bp.before_request(require_local_peer)  # as on App Service: reachable from this machine only
API_VERSION = "2019-08-01"


def _error(status: int, message: str):
    return jsonify(statusCode=status, message=message), status


def _identity(directory: Directory) -> ServicePrincipal | None:
    client_id, object_id = request.args.get("client_id"), request.args.get("object_id")
    if client_id is None and object_id is None:
        return directory.system_identity
    for candidate in (directory.system_identity, directory.user_identity):
        if candidate and (client_id == candidate.client_id or object_id == candidate.oid):
            return candidate
    return None


@bp.get("/msi/token")
def msi_token():
    expected = current_app.extensions["idp.identity_header"]
    if not hmac.compare_digest(request.headers.get("X-IDENTITY-HEADER", "").encode(), expected.encode()):
        return _error(401, "X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER.")
    if request.args.get("api-version") != API_VERSION:
        return _error(400, f"api-version must be {API_VERSION}.")
    resource = token_resource(request.args.get("resource", ""))
    if resource is None:
        return _error(400, f"No resource {request.args.get('resource', '')!r} in this tenant "
                           "(the API's App ID URI or client id, or https://signalr.azure.com).")
    directory: Directory = current_app.extensions["idp.directory"]
    identity = _identity(directory)
    if identity is None:
        return _error(400, "No managed identity with that client_id/object_id is assigned to this app.")
    token, expires = app_token(identity.client_id, identity.oid, (), resource)
    return jsonify(access_token=token, expires_on=str(expires), resource=request.args["resource"],
                   token_type="Bearer", client_id=identity.client_id)


def init_app(app, identity_header: str) -> None:
    app.extensions["idp.identity_header"] = identity_header
    app.register_blueprint(bp)
