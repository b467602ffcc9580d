"""Flask adapter for the function handlers: HTTP in, FunctionRequest out, and back.
The Azure Functions entry points are the other adapter around the same handlers."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from ..functions.http import FunctionRequest, Headers, dispatch

bp = Blueprint("functions", __name__)


def _call(handler_name: str, **route: str) -> Response:
    req = FunctionRequest(method=request.method, url=request.url, headers=Headers(dict(request.headers)),
                          query=request.args.to_dict(), body=request.get_data(cache=False), route=route)
    result = dispatch(lambda: getattr(current_app.extensions["functions"], handler_name)(req))
    response = jsonify(result.body) if result.body is not None else Response(status=result.status)
    response.status_code = result.status
    response.headers.update(result.headers)
    return response


@bp.route("/api/negotiate", methods=["GET", "POST"])
def negotiate():
    return _call("negotiate")


@bp.post("/api/userclient")
def userclient():
    return _call("userclient")


@bp.post("/api/SendMessageToUser")
def send_message_to_user():
    return _call("SendMessageToUser")


@bp.get("/api/messages/<messageId>")
def get_message(messageId: str):
    return _call("GetMessage", messageId=messageId)


@bp.post("/api/messages/<messageId>/cancel")
def cancel_message(messageId: str):
    return _call("CancelMessage", messageId=messageId)


@bp.get("/api/agents/presence")
def list_agent_presence():
    return _call("ListAgentPresence")


@bp.get("/api/agents/<userId>/presence")
def get_agent_presence(userId: str):
    return _call("GetAgentPresence", userId=userId)


@bp.get("/api/openapi.json")
def openapi():
    return _call("OpenApi")


@bp.get("/api/dials/<dialId>")
def get_dial(dialId: str):
    return _call("GetDial", dialId=dialId)


@bp.post("/runtime/webhooks/signalr")
def signalr_webhook():
    return _call("SignalRWebhook")
