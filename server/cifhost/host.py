"""The local CIF host (stand-in for the Dynamics 365 agent workspace that embeds the
widget, SPEC §8) and the dev console (live connections/messages, "place a test call")."""
from __future__ import annotations

import hmac
import json
import math
import secrets
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, send_from_directory

from ..errors import ApiError
from ..local_only import require_local_peer
from . import dataverse

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONSOLE_STATIC_DIR = Path(__file__).resolve().parent.parent / "console" / "static"
LIBRARY = "msdyn_ciLibrary.js"
LIBRARY_PATH = f"/webresources/Widget/{LIBRARY}"  # where Dynamics serves its web resource

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
MAX_TIMEOUT = 3600.0

# Console form limits: generous for testing odd input, bounded so nothing grows unchecked.
MAX_PHONE, MAX_COMMENTS, MAX_TTL = 64, 2000, 86400

bp = Blueprint("cifhost", __name__, template_folder="templates")
console_bp = Blueprint("console", __name__, url_prefix="/console", template_folder="../console/templates")
console_bp.before_request(require_local_peer)
# The console's write calls carry this token from its own page (X-CSRF-Token): a page of
# another site can make the browser send a request, but can't read ours to learn it.
console_bp.record_once(lambda state: state.app.extensions.setdefault("console.csrf", secrets.token_urlsafe(32)))
bp.register_blueprint(dataverse.bp)  # the solution's web resources and Web API, on the host's origin


# --- helpers --------------------------------------------------------------------------------

def _origin(url: str) -> str | None:
    """scheme://host[:port] of an absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]  # browsers leave default ports out of origins
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _is_loopback(url: str) -> bool:
    if _origin(url) is None:
        return False
    return urlsplit(url).hostname in LOOPBACK_HOSTS


def _host_origin() -> str:
    """The origin this page was opened on (what the library's data-crmurl must name)."""
    return request.host_url.rstrip("/")


def _timeout_param() -> float | None:
    """?timeout=<seconds> overrides the notification templates' msdyn_timeout (tests, demos)."""
    raw = request.args.get("timeout")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_TIMEOUT):  # also rejects NaN and inf
        raise ApiError(400, "bad_timeout", f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}]")
    return value


def _static(path: str, folder: Path = STATIC_DIR) -> Response:
    suffix = Path(path).suffix
    if suffix not in STATIC_TYPES:
        abort(404)
    response = send_from_directory(folder, path, mimetype=STATIC_TYPES[suffix])
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- the host page ----------------------------------------------------------------------------

@bp.get("/")
def host_page():
    stack = current_app.extensions["stack"]
    host_origin = _host_origin()
    override = request.args.get("widget")
    if override is not None:
        if not _is_loopback(override):
            raise ApiError(400, "bad_widget_url", "widget must be an http(s) URL on a loopback host "
                                                  "(localhost, 127.0.0.1 or [::1])")
        widget_url = override
        widget_origin = _origin(widget_url)
    else:
        # As Dynamics: frame the channel provider's landing URL (the solution's web resource,
        # on this origin); it opens the widget on the provider's trusted domain.
        provider = dataverse.local_solution()[1].provider
        widget_url = urljoin(host_origin + "/", provider.channel_url)
        widget_origin = _origin(provider.trusted_domain or "")
    if widget_origin is None:  # a misconfigured public_url; never frame something unknown
        raise ApiError(500, "bad_widget_origin", "the widget origin could not be determined")
    timeout = _timeout_param()
    html = render_template("host.html", widget_url=widget_url, widget_origin=widget_origin,
                           host_origin=host_origin, timeout=f"{timeout:g}" if timeout else "",
                           org_id=stack.directory.tenant_id, templates=dataverse.templates_json())
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; frame-src 'self' {widget_origin}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get(LIBRARY_PATH)
def ci_library():
    """The widget loads this cross-origin with a plain <script src>, as from Dynamics."""
    response = _static(LIBRARY)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/cifhost/static/<path:path>")
def host_static(path: str):
    return _static(path)


# --- the dev console -----------------------------------------------------------------------

def _phone_of(payload: str) -> str | None:
    try:
        message = json.loads(payload)
    except ValueError:
        return None
    if isinstance(message, str):  # the seed sent the message as a JSON string
        try:
            message = json.loads(message)
        except ValueError:
            return None
    if not isinstance(message, dict):
        return None
    value = next((v for k, v in message.items() if k.lower() == "phonenumber"), None)
    return value if isinstance(value, str) else None


@console_bp.get("")
def console_page():
    stack = current_app.extensions["stack"]
    agents = [{"name": u.name, "username": u.username, "oid": u.oid}
              for u in sorted(stack.directory.users.values(), key=lambda u: u.username)]
    html = render_template("console.html", agents=agents, csrf_token=current_app.extensions["console.csrf"],
                           hub=current_app.config["SETTINGS"].HubName, widget_origin=stack.widget_origin)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@console_bp.get("/static/<path:path>")
def console_static(path: str):
    return _static(path, CONSOLE_STATIC_DIR)


@console_bp.get("/api/state")
def console_state():
    store = current_app.extensions["store"]
    hub = current_app.config["SETTINGS"].HubName
    connections = [{"userId": c.user_id, "connectionId": c.connection_id, "hub": c.hub, "status": c.status,
                    "updated": c.updated} for c in store.all_connections(hub)]
    messages = [{"messageId": m.message_id, "userId": m.user_id, "status": m.status, "reason": m.reason,
                 "created": m.created, "sent": m.sent, "completed": m.completed, "deliveries": m.deliveries,
                 "phone": _phone_of(m.payload)} for m in store.recent_messages(50)]
    response = jsonify(connections=connections, messages=messages)
    response.headers["Cache-Control"] = "no-store"
    return response


def _call_request() -> dict:
    """Validate the "place a test call" form: {userId, phone, comments?, ttl?}."""
    stack = current_app.extensions["stack"]
    origin = request.headers.get("Origin")
    if origin is not None and origin != _host_origin():
        raise ApiError(403, "cross_origin", "the console only accepts calls from its own page")
    if not hmac.compare_digest(request.headers.get("X-CSRF-Token", "").encode(),
                               current_app.extensions["console.csrf"].encode()):
        raise ApiError(403, "csrf_token", "send the X-CSRF-Token of the console's own page (reload /console)")
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the form as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")

    user = body.get("userId")
    users = stack.directory.users
    if not isinstance(user, str) or not user.strip():
        raise ApiError(400, "missing_user", "choose an agent (userId)")
    oid = users[user].oid if user in users else user
    if stack.directory.user_by_oid(oid) is None:
        raise ApiError(400, "unknown_user", "userId must be one of the local test agents")

    phone = body.get("phone")
    if not isinstance(phone, str) or not phone.strip():
        raise ApiError(400, "missing_phone", "enter the caller's phone number")
    phone = phone.strip()
    if len(phone) > MAX_PHONE or any(ord(ch) < 32 for ch in phone):
        raise ApiError(400, "bad_phone", f"the phone number must be one line of at most {MAX_PHONE} characters")

    comments = body.get("comments", "")
    if comments is None:
        comments = ""
    if not isinstance(comments, str) or len(comments) > MAX_COMMENTS:
        raise ApiError(400, "bad_comments", f"comments must be text of at most {MAX_COMMENTS} characters")

    ttl = body.get("ttl")
    if isinstance(ttl, str):
        ttl = ttl.strip()
        if ttl == "":
            ttl = None
        elif ttl.isdigit():
            ttl = int(ttl)
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL):
        raise ApiError(400, "bad_ttl", f"ttl must be a whole number of seconds from 0 to {MAX_TTL}")

    message = {"PhoneNumber": phone, "mediaType": "voice"}
    if comments.strip():  # the functions reject an empty comments string; leave it out
        message["comments"] = comments
    send = {"userId": oid, "message": message}
    if ttl is not None:
        send["ttlSeconds"] = ttl
    return send


def _telephony_config():
    """The telephony CLI's Config for the local stack's seeded sender app."""
    from telephony.client import Config

    stack = current_app.extensions["stack"]
    settings = stack.settings
    bundle = settings.certs_dir / "bundle.pem"
    ca = bundle if bundle.exists() else settings.certs_dir / "ca.pem"
    return Config(functions_url=stack.functions_url, authority=stack.authority,
                  client_id=stack.directory.sender.client_id, client_secret=stack.directory.sender.client_secret,
                  api=f"api://{stack.directory.api_client_id}", ca_bundle=str(ca), state_dir=settings.state_dir)


@console_bp.post("/api/call")
def console_call():
    """Act as the telephony app: msal client credentials, then POST /api/SendMessageToUser."""
    send = _call_request()
    import requests
    from telephony.client import api_call, sender_token

    cfg = _telephony_config()
    try:
        token = sender_token(cfg)
        result = api_call(cfg, "POST", "SendMessageToUser", token, send)
    # The CLI reports failures as SystemExit("telephony: …"); msal raises ValueError when
    # discovery fails; requests raises on transport errors.
    except (SystemExit, requests.RequestException, ValueError) as exc:
        current_app.logger.warning(json.dumps({"event": "console_call_failed", "userId": send["userId"],
                                               "error": str(exc)}))
        raise ApiError(502, "send_failed", str(exc)) from None
    current_app.logger.info(json.dumps({"event": "console_call", "userId": send["userId"],
                                        "messageId": result.get("messageId"), "status": result.get("status")}))
    return jsonify(result), 202
