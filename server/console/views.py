"""The dev console's page and API: `GET /console`, `GET /console/api/state` (connections
and the latest messages, polled by console.js) and `POST /console/api/call`, which turns
the form into a SendMessageToUser body and sends it as the telephony app (msal client
credentials, telephony/client.py). The functions judge the call: their 4xx comes back
as it is; the console itself checks only what is its own — the page's CSRF token and
origin, a JSON object, and an agent of this stack."""
from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request

from adaptor_core.errors import NotificationError
from adaptor_core.hub_methods import message_object

from ..cifhost.pages import page, static_file
from ..errors import ApiError
from ..local_only import require_local_peer
from ..log import log_event

STATIC_DIR = Path(__file__).resolve().parent / "static"

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
bp.before_request(require_local_peer)
# The console's write calls carry this token from its own page (X-CSRF-Token): a page of
# another site can make the browser send a request, but can't read ours to learn it.
bp.record_once(lambda state: state.app.extensions.setdefault("console.csrf", secrets.token_urlsafe(32)))


def _config():
    return current_app.extensions["config"]


def _phone_of(payload: str) -> str | None:
    """The PhoneNumber of a stored message (its JSON text), for the table."""
    try:
        message = message_object(payload)
    except NotificationError:
        return None
    value = next((v for k, v in message.items() if k.lower() == "phonenumber"), None)
    return value if isinstance(value, str) else None


@bp.get("")
def console_page():
    config = _config()
    agents = [{"name": u.name, "username": u.username, "oid": u.oid}
              for u in sorted(config.local_directory.users.values(), key=lambda u: u.username)]
    html = render_template("console.html", agents=agents, csrf_token=current_app.extensions["console.csrf"],
                           hub=config.hub, widget_origin=config.widget_origin)
    return page(html, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                      "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@bp.get("/static/<path:path>")
def console_static(path: str):
    return static_file(path, STATIC_DIR)


@bp.get("/api/state")
def console_state():
    store = current_app.extensions["functions"].store
    hub = _config().hub
    connections = [{"userId": c.user_id, "connectionId": c.connection_id, "hub": c.hub, "status": c.status,
                    "updated": c.updated} for c in store.all_connections(hub)]
    messages = [{"messageId": m.message_id, "userId": m.user_id, "status": m.status, "reason": m.reason,
                 "created": m.created, "sent": m.sent, "completed": m.completed, "deliveries": m.deliveries,
                 "phone": _phone_of(m.payload)} for m in store.recent_messages(50)]
    response = jsonify(connections=connections, messages=messages)
    response.headers["Cache-Control"] = "no-store"
    return response


def _form() -> dict[str, Any]:
    """The "place a test call" form {userId, phone, comments?, ttl?} from the console's own
    page: its origin, its CSRF token, a JSON object, an agent of this stack."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        raise ApiError(403, "cross_origin", "the console only accepts calls from its own page")
    if not hmac.compare_digest(request.headers.get("X-CSRF-Token", "").encode(),
                               current_app.extensions["console.csrf"].encode()):
        raise ApiError(403, "csrf_token", "send the X-CSRF-Token of the console's own page (reload /console)")
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the form as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body


def send_body(form: dict[str, Any]) -> dict[str, Any]:
    """The SendMessageToUser body for the form: the agent by username or oid (one of this
    stack's test agents), the other fields as typed — a form's number arrives as text, a
    blank one means "not given" — for the functions to judge."""
    directory = _config().local_directory
    user = form.get("userId")
    if not isinstance(user, str) or not user.strip():
        raise ApiError(400, "missing_user", "choose an agent (userId)")
    oid = directory.users[user].oid if user in directory.users else user
    if directory.user_by_oid(oid) is None:
        raise ApiError(400, "unknown_user", "userId must be one of the local test agents")
    phone = form.get("phone")
    message: dict[str, Any] = {"PhoneNumber": phone.strip() if isinstance(phone, str) else phone, "mediaType": "voice"}
    comments = form.get("comments")
    if comments not in (None, "") and not (isinstance(comments, str) and not comments.strip()):
        message["comments"] = comments
    send: dict[str, Any] = {"userId": oid, "message": message}
    ttl = form.get("ttl")
    if isinstance(ttl, str):
        ttl = ttl.strip()
        ttl = int(ttl) if ttl.isascii() and ttl.isdigit() else ttl or None
    if ttl is not None:
        send["ttlSeconds"] = ttl
    return send


def _sender():
    """The telephony client's Config for this stack's seeded sender app."""
    from telephony.client import Config

    config = _config()
    directory, certs = config.local_directory, config.settings.certs_dir
    bundle = certs / "bundle.pem"
    return Config(functions_url=config.functions_url, authority=config.authority,
                  client_id=directory.sender.client_id, client_secret=directory.sender.client_secret,
                  api=f"api://{directory.api_client_id}", ca_bundle=str(bundle if bundle.exists() else certs / "ca.pem"),
                  state_dir=config.settings.state_dir)


@bp.post("/api/call")
def console_call():
    """Act as the telephony app: msal client credentials, then POST /api/SendMessageToUser.
    The functions' 4xx is the answer; a failure to reach them (or their 5xx) is 502."""
    import requests

    from telephony.client import CallFailed, TelephonyError, api_call, sender_token

    send = send_body(_form())
    sender = _sender()
    try:
        result = api_call(sender, "POST", "SendMessageToUser", sender_token(sender), send)
    except CallFailed as exc:
        if 400 <= exc.status < 500 and isinstance(exc.body.get("error"), str):
            return jsonify(exc.body), exc.status
        raise ApiError(502, "send_failed", str(exc)) from None
    # msal raises ValueError when discovery fails; requests raises on transport errors.
    except (TelephonyError, requests.RequestException, ValueError) as exc:
        log_event(current_app.logger, "console.call_failed", user=send["userId"], error=str(exc))
        raise ApiError(502, "send_failed", str(exc)) from None
    log_event(current_app.logger, "console.call", user=send["userId"], message=result.get("messageId"),
              status=result.get("status"))
    return jsonify(result), 202
