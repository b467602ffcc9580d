"""Azure Functions host (Python v2 programming model) for the same handlers the Flask
stack runs: thin adapters from azure.functions types to server.functions.http and back.

Sending uses the SignalR REST API (the handlers' SignalRRest), connection events arrive
through the SignalR trigger (the extension checks the upstream signature on Azure), and
the store is Azure Table Storage (AzureWebJobsStorage)."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import azure.functions as func

# Packaged next to this file by tools/package_functionapp.sh; in the repo, one level up.
for candidate in (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent):
    if (candidate / "server").is_dir() and str(candidate) not in sys.path:
        sys.path.insert(0, str(candidate))
        break

from adaptor_core.hub_methods import REPORT_PRESENCE, REQUEST_DIAL, SEND_MESSAGE  # noqa: E402
from server import upstream  # noqa: E402
from server.config import azure_setup  # noqa: E402
from server.errors import ApiError  # noqa: E402
from server.functions.factory import build_functions  # noqa: E402
from server.functions.handlers import Functions  # noqa: E402
from server.functions.http import FunctionRequest, Headers, dispatch  # noqa: E402
from server.log import log_event  # noqa: E402
from server.settings import Settings  # noqa: E402

log = logging.getLogger("functionapp")
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)  # the handlers check bearer tokens
HUB = Settings.from_environment().HubName
_functions: Functions | None = None


def functions() -> Functions:
    """Built on first use from the app settings (the sample's key names)."""
    global _functions
    if _functions is None:
        _functions = build_functions(azure_setup(Settings.from_environment()))
    return _functions


def _http(handler_name: str, req: func.HttpRequest) -> func.HttpResponse:
    request = FunctionRequest(method=req.method, url=req.url, headers=Headers(dict(req.headers)),
                              query=dict(req.params), body=req.get_body() or b"", route=dict(req.route_params))
    result = dispatch(lambda: getattr(functions(), handler_name)(request))
    if result.body is None:
        return func.HttpResponse(status_code=result.status, headers=result.headers)
    return func.HttpResponse(json.dumps(result.body), status_code=result.status, headers=result.headers,
                             mimetype="application/json")


@app.route(route="negotiate", methods=["GET", "POST"])
def negotiate(req: func.HttpRequest) -> func.HttpResponse:
    return _http("negotiate", req)


@app.route(route="userclient", methods=["POST"])
def userclient(req: func.HttpRequest) -> func.HttpResponse:
    return _http("userclient", req)


@app.route(route="SendMessageToUser", methods=["POST"])
def SendMessageToUser(req: func.HttpRequest) -> func.HttpResponse:
    return _http("SendMessageToUser", req)


@app.route(route="messages/{messageId}", methods=["GET"])
def messages(req: func.HttpRequest) -> func.HttpResponse:
    return _http("GetMessage", req)


@app.route(route="messages/{messageId}/cancel", methods=["POST"])
def CancelMessage(req: func.HttpRequest) -> func.HttpResponse:
    return _http("CancelMessage", req)


@app.route(route="agents/presence", methods=["GET"])
def ListAgentPresence(req: func.HttpRequest) -> func.HttpResponse:
    return _http("ListAgentPresence", req)


@app.route(route="agents/{userId}/presence", methods=["GET"])
def GetAgentPresence(req: func.HttpRequest) -> func.HttpResponse:
    return _http("GetAgentPresence", req)


@app.route(route="openapi.json", methods=["GET"])
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return _http("OpenApi", req)


@app.route(route="dials/{dialId}", methods=["GET"])
def dials(req: func.HttpRequest) -> func.HttpResponse:
    return _http("GetDial", req)


# --- SignalR triggers (serverless upstream, validated by the SignalR extension) ----------

def _trigger(invocation: str) -> None:
    """The trigger's InvocationContext (ConnectionId, UserId, Hub, Category, Event,
    Arguments…) as the same upstream event the webhook decodes (server/upstream.py), to the
    same handler; a refused event or ack is the client's doing: logged, not raised."""
    event = upstream.from_trigger(json.loads(invocation))
    try:
        functions().on_upstream(event)
    except ApiError as exc:
        name = event.target if isinstance(event, upstream.Invocation) else type(event).__name__.lower()
        log_event(log, f"{name}.rejected", logging.WARNING, connection=event.context.connection_id,
                  error=exc.code, detail=exc.message)


@app.generic_trigger(arg_name="invocation", type="signalRTrigger", hubName=HUB, category="connections",
                     event="connected", connectionStringSetting="AzureSignalRConnectionString")
def OnClientConnected(invocation: str) -> None:
    _trigger(invocation)


@app.generic_trigger(arg_name="invocation", type="signalRTrigger", hubName=HUB, category="connections",
                     event="disconnected", connectionStringSetting="AzureSignalRConnectionString")
def OnClientDisconnect(invocation: str) -> None:
    _trigger(invocation)


@app.generic_trigger(arg_name="invocation", type="signalRTrigger", hubName=HUB, category="messages",
                     event=SEND_MESSAGE, connectionStringSetting="AzureSignalRConnectionString")
def SendMessageAcknowlegement(invocation: str) -> None:
    _trigger(invocation)


@app.generic_trigger(arg_name="invocation", type="signalRTrigger", hubName=HUB, category="messages",
                     event=REPORT_PRESENCE, connectionStringSetting="AzureSignalRConnectionString")
def ReportPresence(invocation: str) -> None:
    _trigger(invocation)


@app.generic_trigger(arg_name="invocation", type="signalRTrigger", hubName=HUB, category="messages",
                     event=REQUEST_DIAL, connectionStringSetting="AzureSignalRConnectionString")
def RequestDial(invocation: str) -> None:
    _trigger(invocation)


# --- timer: rows whose 'disconnected' event was lost -------------------------------------

@app.timer_trigger(arg_name="timer", schedule="%ReconcileSchedule%", run_on_startup=False)
def ReconcileConnections(timer: func.TimerRequest) -> None:
    """App setting ReconcileSchedule (NCRONTAB), e.g. `0 */5 * * * *` (every 5 minutes)."""
    log_event(log, "reconcile", **functions().ReconcileConnections())


@app.timer_trigger(arg_name="timer", schedule="%DialRetrySchedule%", run_on_startup=False)
def DeliverDials(timer: func.TimerRequest) -> None:
    """App setting DialRetrySchedule (NCRONTAB), e.g. `*/5 * * * * *`: click-to-dial webhook retries."""
    log_event(log, "dials", **functions().DeliverDials())
