"""The sample's functions as framework-free handlers: the contract they keep is in
docs/functions-api.md, the upstream events they take in docs/upstream.md."""
from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from adaptor_core.errors import NotificationError
from adaptor_core.hub_methods import (
    CANCEL_NOTIFICATION,
    RECEIVE_NOTIFICATION,
    REPORT_PRESENCE,
    REQUEST_DIAL,
    SEND_MESSAGE,
    message_object,
)
from adaptor_core.presence import UNAVAILABLE, base_status

from .. import upstream
from ..auth import Principal, TokenValidator, bearer_token, forbidden, require_agent, require_sender
from ..config import Config
from ..errors import ApiError, StoreConflict
from ..jsonbody import require_sendable
from ..log import log_event
from ..phone import caller_number
from ..store import Connection, Message, MessageStatus, Presence, Store
from .admission import RateLimit, too_many_requests
from .dialer import Dialer
from .http import FunctionRequest, FunctionResponse, field_ci, iso, want_str
from .signalr_rest import SignalRRest, SignalRUnavailable

log = logging.getLogger("functions")
# The API's contract, served as GET /api/openapi.json (docs/functions-api.md; the suite runs it against the stack)
OPENAPI = Path(__file__).with_name("openapi.json")

DEFAULT_TTL = 30
MAX_TTL = 24 * 3600
MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
MAX_USER_ID = 1024  # Azure SignalR's user ids: 1 to 1024 characters
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
OUTCOMES = {"accepted": MessageStatus.ACCEPTED, "rejected": MessageStatus.REJECTED,
            "missed": MessageStatus.MISSED, "failed": MessageStatus.FAILED}
MAX_CANCEL_REASON = 256


def event(name: str, **fields: Any) -> None:
    log_event(log, name, **fields)


@cache
def openapi_document() -> dict:
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


class Functions:
    """The handlers, built from the one Config (server/config.py) by server/functions/factory.py."""

    def __init__(self, config: Config, validator: TokenValidator, store: Store, signalr: SignalRRest,
                 admission: RateLimit | None = None, clock: Callable[[], float] = time.time,
                 webhook_http: httpx.Client | None = None):
        """`admission`: SendMessageToUser's rate limit (None: every authenticated call is taken)."""
        self.config, self.validator, self.store, self.signalr, self.clock = config, validator, store, signalr, clock
        self.admission = admission
        # click-to-dial's webhook calls (the handlers' own client unless one is given)
        self.dialer = Dialer(config, store, signalr, webhook_http or httpx.Client(trust_env=False), clock)

    # --- identity -------------------------------------------------------------------
    def _agent(self, req: FunctionRequest) -> Principal:
        return require_agent(self.validator.validate(bearer_token(req.headers)), self.config.api_scope)

    def _sender(self, req: FunctionRequest) -> Principal:
        return require_sender(self.validator.validate(bearer_token(req.headers)))

    @staticmethod
    def _no_impersonation(body: dict, principal: Principal) -> None:
        claimed = field_ci(body, "userId")
        if claimed is not None and claimed != principal.user_id:
            raise forbidden("user_mismatch", "The body names another user than the access token.")

    # --- negotiate ------------------------------------------------------------------
    def negotiate(self, req: FunctionRequest) -> FunctionResponse:
        user = self._agent(req)
        hub = self.config.hub
        event("negotiate", user=user.user_id, hub=hub)
        return FunctionResponse(200, self.signalr.negotiate(hub, user.user_id))

    # --- userclient (registerClient) -------------------------------------------------
    def userclient(self, req: FunctionRequest) -> FunctionResponse:
        user = self._agent(req)
        body = req.json_object()
        self._no_impersonation(body, user)
        connection_id = want_str(field_ci(body, "connectionId"), "connectionId", max_len=128)
        status = field_ci(body, "connectionStatus", "ConnctionStatus")
        if status is None:
            status = 1
        if status not in (0, 1) or isinstance(status, bool):
            raise ApiError(422, "invalid_field", "'connectionStatus' must be 1 (connected) or 0 (disconnected).")
        known = self.store.get_connection(connection_id)
        # Another user's connection gets the answer an unknown id gets (and is left alone):
        # neither status nor message tells whether the id exists.
        foreign = known is not None and known.user_id != user.user_id
        if status == 1 and (known is None or foreign):
            # Not announced by the service yet (asked for a foreign id too: same work, same time).
            exists = self.signalr.connection_exists(self.config.hub, connection_id)
            if foreign or not exists:
                raise ApiError(404, "unknown_connection",
                               f"The SignalR service has no connection '{connection_id}' of yours.")
        if status == 0:
            removed = not foreign and self.store.remove_connection(connection_id)
            event("userclient.removed", user=user.user_id, connection=connection_id, removed=removed)
            return FunctionResponse(200, {"connectionId": connection_id, "connectionStatus": 0})
        created = self.store.upsert_connection(Connection(user.user_id, connection_id, self.config.hub, 1, self.clock()))
        event("userclient.stored", user=user.user_id, connection=connection_id, new=created)
        if created:
            self._deliver_open_messages(user.user_id)
        return FunctionResponse(200, {"connectionId": connection_id, "connectionStatus": 1})

    # --- SendMessageToUser ------------------------------------------------------------
    def SendMessageToUser(self, req: FunctionRequest) -> FunctionResponse:
        self._sender(req)  # first: only an authenticated sender uses up the rate
        if self.admission is not None:
            wait = self.admission.admit()
            if wait:
                raise too_many_requests(self.admission.per_second, wait)
        body = req.json_object()
        user_id = self._user_id(field_ci(body, "userId"))
        payload = self._parse_payload(field_ci(body, "message"))
        message_id = field_ci(body, "messageId")
        if message_id is None:
            message_id = uuid.uuid4().hex
        elif not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
            raise ApiError(422, "invalid_field", "'messageId' must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        ttl = field_ci(body, "ttlSeconds")
        ttl = DEFAULT_TTL if ttl is None else ttl
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_TTL:
            raise ApiError(422, "invalid_field", f"'ttlSeconds' must be an integer from 0 to {MAX_TTL}.")

        payload["messageId"] = message_id
        # What the widget searches Dataverse's phone fields for (docs/cif.md, "Caller matching");
        # a number libphonenumber can't read is still delivered, matched as sent.
        caller = caller_number(field_ci(payload, "PhoneNumber"), self.config.phone_region)
        for key in [k for k in payload if k.lower() in ("phonenumbere164", "phonenumberforms")]:
            del payload[key]  # ours, not a sender's
        payload["PhoneNumberE164"], payload["PhoneNumberForms"] = caller.e164, list(caller.forms)
        now = self.clock()
        message = Message(message_id, user_id, self.config.hub, json.dumps(payload, separators=(",", ":")),
                          MessageStatus.QUEUED, created=now, expires=now + ttl)
        unavailable = self._unavailable(user_id)
        if unavailable is not None and (self.config.unavailable_agent_calls == "refuse" or ttl == 0):
            raise ApiError(409, "agent_unavailable", f"User '{user_id}' is {unavailable.presence_text!r} "
                                                     f"({unavailable.status}) since {iso(unavailable.updated)}: "
                                                     + ("UnavailableAgentCalls is 'refuse'." if ttl
                                                        else "a call with ttlSeconds 0 cannot wait."))
        # Presence comes from the service, not the store: a disconnected event that never
        # arrived (webhook down, crash) must not turn a queued call into a lost "sent" one.
        online = self.signalr.user_exists(self.config.hub, user_id)
        if not online and ttl == 0:
            raise ApiError(404, "user_not_connected", f"User '{user_id}' has no live connection and ttlSeconds is 0.")
        try:
            self.store.add_message(message)
        except StoreConflict:
            raise ApiError(409, "duplicate_message_id", f"A message with id '{message_id}' exists already.") from None
        # An agent who is offline or do-not-disturb in CIF gets the call when available again.
        status = self._send(message, payload=payload) if online and unavailable is None else MessageStatus.QUEUED
        rows = self.store.user_connections(user_id, self.config.hub)
        if rows and not online:
            rows = self._forget_dead_connections(user_id, rows, checked_at=now)
        connections = len(rows)
        event("SendMessageToUser", message=message_id, user=user_id, status=status, connections=connections)
        return FunctionResponse(202, {"messageId": message_id, "status": status, "connections": connections})

    def _forget_dead_connections(self, user_id: str, rows: list[Connection], checked_at: float) -> list[Connection]:
        """The service said the user has no connection: rows written before it said so
        are left by lost 'disconnected' events (a row written since may be a new one).
        Returns the rows kept."""
        dead = [c for c in rows if c.updated < checked_at]
        removed = sum(self.store.remove_connection(c.connection_id) for c in dead)
        if removed:
            event("connections.forgotten", user=user_id, removed=removed)
        return [c for c in rows if c.updated >= checked_at]

    # --- ReconcileConnections (timer) --------------------------------------------------
    def ReconcileConnections(self) -> dict:
        """Remove the rows of connections the service no longer has (their 'disconnected'
        event was lost: webhook down, store locked, a crash). Run by a timer: the Azure
        timer trigger, or the local stack's loop (ADAPTOR_RECONCILE_SECONDS)."""
        started = self.clock()
        kept = removed = 0
        for conn in self.store.all_connections(self.config.hub):
            if conn.updated >= started:
                continue  # written during this sweep: the service knew it then
            if self.signalr.connection_exists(conn.hub, conn.connection_id):
                kept += 1
            elif self.store.remove_connection(conn.connection_id):
                removed += 1
        if removed:
            event("connections.reconciled", kept=kept, removed=removed)
        return {"kept": kept, "removed": removed}

    @staticmethod
    def _user_id(value: Any) -> str:
        """A SignalR user id as Azure SignalR takes it: 1 to 1024 characters; none of them
        a control character (the service hands user ids on in HTTP headers); not a URL
        dot-segment. Every other character is escaped in the REST URL (docs/signalr-protocol.md)."""
        if value is None:
            raise ApiError(400, "missing_field", "'userId' is required.")
        if not isinstance(value, str):
            raise ApiError(422, "invalid_field", "'userId' must be a string.")
        if not 1 <= len(value) <= MAX_USER_ID or not value.strip():
            raise ApiError(400, "invalid_user_id", f"'userId' must be 1 to {MAX_USER_ID} characters, not all blank"
                                                   f" (a SignalR user id); this one has {len(value)}.")
        if value in (".", ".."):  # a URL path resolves these away: no REST call could name this user
            raise ApiError(400, "invalid_user_id", "'userId' cannot be '.' or '..': the REST API names a user in the"
                                                   " URL path, where these are dot-segments.")
        bad = CONTROL.search(value)
        if bad:
            raise ApiError(400, "invalid_user_id", f"'userId' must not contain control characters (U+0000-U+001F, "
                                                   f"U+007F-U+009F); it has U+{ord(bad.group()):04X} at {bad.start()}.")
        return value

    @staticmethod
    def _parse_payload(value: Any) -> dict:
        if value is None:
            raise ApiError(400, "missing_field", "'message' is required.")
        try:
            parsed = message_object(value, "'message'")  # the object, or its JSON text as the seed sent it
        except NotificationError as exc:
            raise ApiError(422, "invalid_field", f"{exc} (an object, or its JSON text).") from None
        if parsed is not value:
            require_sendable(parsed, "message")
        value = parsed
        phone = want_str(field_ci(value, "PhoneNumber"), "message.PhoneNumber", max_len=64)
        if phone is not None and CONTROL.search(phone):
            raise ApiError(422, "invalid_field", "'message.PhoneNumber' must be one line of text (no control "
                                                 "characters).")
        for name in ("comments", "interactionId", "mediaType", "subject"):
            want_str(field_ci(value, name), f"message.{name}", required=False, max_len=4096, allow_empty=True)
        return dict(value)

    def _send(self, message: Message, connection_id: str | None = None, payload: dict | None = None) -> str:
        """Push one message (`payload`: its parsed payload, when the caller has it); on a
        service failure it stays queued for the next connect."""
        payload = json.loads(message.payload) if payload is None else payload
        try:
            if connection_id:
                self.signalr.send_to_connection(message.hub, connection_id, RECEIVE_NOTIFICATION, [payload])
            else:
                self.signalr.send_to_user(message.hub, message.user_id, RECEIVE_NOTIFICATION, [payload])
        except SignalRUnavailable as exc:
            event("send.failed", message=message.message_id, error=exc.message)
            return message.status
        self.store.mark_sent(message.message_id, self.clock())
        return MessageStatus.SENT if message.status == MessageStatus.QUEUED else message.status

    def _expire_if_due(self, message: Message) -> Message:
        """Queued past its TTL → expired; sent and unacknowledged past the ack window →
        unacknowledged. Both final: a late acknowledgement no longer changes them."""
        now = self.clock()
        if message.status == MessageStatus.QUEUED and now > message.expires:
            final, reason = MessageStatus.EXPIRED, "ttl elapsed"
        elif message.status == MessageStatus.SENT and now > (message.sent or message.created) + self.config.ack_window:
            final, reason = MessageStatus.UNACKNOWLEDGED, \
                f"no acknowledgement within {self.config.ack_window:g} s of delivery"
        else:
            return message
        if self.store.complete_message(message.message_id, final, reason, now):
            event(f"message.{final}", message=message.message_id, user=message.user_id)
        return self.store.get_message(message.message_id) or message

    def _deliver_open_messages(self, user_id: str) -> None:
        """Queued (and sent but unanswered) messages within their TTL go to the user's
        connections again; the widget drops ids it has seen, so a tab never shows one twice.
        Sent to the user, not to a connection id, so the service's signed identity routes it.
        Nothing goes to an agent whose presence is offline or do-not-disturb."""
        if self._unavailable(user_id) is not None:
            return
        for message in self.store.open_messages(user_id, self.config.hub):
            message = self._expire_if_due(message)
            if message.status in MessageStatus.OPEN and self.clock() <= message.expires:
                self._send(message)

    # --- messages/<id> ------------------------------------------------------------------
    def GetMessage(self, req: FunctionRequest) -> FunctionResponse:
        self._sender(req)
        message_id = req.route.get("messageId", "")
        message = self.store.get_message(message_id)
        if message is None:
            raise ApiError(404, "unknown_message", f"No message with id '{message_id}'.")
        return FunctionResponse(200, self._status_body(self._expire_if_due(message)))

    @staticmethod
    def _status_body(message: Message) -> dict:
        body = {"messageId": message.message_id, "userId": message.user_id, "status": message.status,
                "createdAt": iso(message.created), "sentAt": iso(message.sent),
                "completedAt": iso(message.completed), "expiresAt": iso(message.expires),
                "deliveries": message.deliveries}
        if message.reason:
            body["reason"] = message.reason
        return body

    # --- messages/<id>/cancel (withdraw) ----------------------------------------------------
    def CancelMessage(self, req: FunctionRequest) -> FunctionResponse:
        """The caller hung up: the message ends `cancelled` (with the optional reason) and
        every connection of the agent is told to withdraw it (CANCEL_NOTIFICATION); a
        queued one is never delivered. Cancelling a cancelled message again answers the same."""
        self._sender(req)
        message_id = req.route.get("messageId", "")
        body = req.json_object() if req.body.strip() else {}
        reason = want_str(field_ci(body, "reason"), "reason", required=False, max_len=MAX_CANCEL_REASON)
        if reason is not None and CONTROL.search(reason):
            raise ApiError(422, "invalid_field", "'reason' must be one line of text (no control characters).")
        message = self.store.get_message(message_id)
        if message is None:
            raise ApiError(404, "unknown_message", f"No message with id '{message_id}'.")
        message = self._expire_if_due(message)
        if message.status in MessageStatus.OPEN \
                and self.store.complete_message(message_id, MessageStatus.CANCELLED, reason, self.clock()):
            event("message.cancelled", message=message_id, user=message.user_id, reason=reason)
            self._withdraw(message, MessageStatus.CANCELLED, reason)
        message = self.store.get_message(message_id) or message  # an acknowledgement may have won the race
        if message.status != MessageStatus.CANCELLED:
            raise ApiError(409, "message_final", f"Message '{message_id}' is {message.status} already; only a queued "
                                                 "or sent call can be cancelled.")
        return FunctionResponse(200, self._status_body(message))

    def _withdraw(self, message: Message, status: str, reason: str | None) -> None:
        """Tell every connection of the message's user to take its toast down
        (CANCEL_NOTIFICATION); a tab that answered it ignores this. Best effort: a service
        failure is logged, the outcome stays recorded."""
        withdrawal = {"messageId": message.message_id, "status": status}
        if reason:
            withdrawal["reason"] = reason
        try:
            self.signalr.send_to_user(message.hub, message.user_id, CANCEL_NOTIFICATION, [withdrawal])
        except SignalRUnavailable as exc:
            event("withdraw.failed", message=message.message_id, error=exc.message)

    # --- agents' presence ------------------------------------------------------------------
    def _unavailable(self, user_id: str) -> Presence | None:
        """The user's presence when it is offline or do-not-disturb, else None."""
        presence = self.store.get_presence(user_id)
        return presence if presence is not None and presence.status in UNAVAILABLE else None

    @staticmethod
    def _presence_body(presence: Presence, connections: int) -> dict:
        return {"userId": presence.user_id, "status": presence.status, "presenceText": presence.presence_text,
                "basePresenceStatus": presence.base_presence_status, "presenceId": presence.presence_id,
                "updatedAt": iso(presence.updated), "connections": connections}

    def GetAgentPresence(self, req: FunctionRequest) -> FunctionResponse:
        self._sender(req)
        user_id = self._user_id(req.route.get("userId"))
        presence = self.store.get_presence(user_id)
        if presence is None:
            raise ApiError(404, "unknown_agent", f"No presence has been reported for user '{user_id}'.")
        connections = len(self.store.user_connections(user_id, self.config.hub))
        return FunctionResponse(200, self._presence_body(presence, connections))

    def ListAgentPresence(self, req: FunctionRequest) -> FunctionResponse:
        self._sender(req)
        counts: dict[str, int] = {}
        for conn in self.store.all_connections(self.config.hub):
            if conn.status == 1:
                counts[conn.user_id] = counts.get(conn.user_id, 0) + 1
        return FunctionResponse(200, {"agents": [self._presence_body(p, counts.get(p.user_id, 0))
                                                 for p in self.store.all_presence()]})

    # --- openapi.json --------------------------------------------------------------------
    def OpenApi(self, req: FunctionRequest) -> FunctionResponse:
        """The OpenAPI 3 document of this API (anyone may read it)."""
        return FunctionResponse(200, openapi_document())

    # --- dials/<id> (click-to-dial: server/functions/dialer.py) ------------------------------
    def GetDial(self, req: FunctionRequest) -> FunctionResponse:
        self._sender(req)
        return FunctionResponse(200, self.dialer.describe(req.route.get("dialId", "")))

    def DeliverDials(self) -> dict:
        """Timer: the next webhook attempt of every dial whose retry is due."""
        return self.dialer.deliver_due()

    # --- upstream webhook and triggers ----------------------------------------------------
    def SignalRWebhook(self, req: FunctionRequest) -> FunctionResponse:
        """The upstream endpoint of the local stack (on Azure the SignalR trigger takes its
        place and the host checks the key): the functions key, then the event as
        server/upstream.py decodes it, answered with a Completion when one is awaited."""
        if self.config.functions_key is not None and not hmac.compare_digest(
                (req.query.get("code") or "").encode(), self.config.functions_key.encode()):
            raise ApiError(401, "invalid_code", "The webhook needs the functions key as ?code=.")
        event = upstream.decode(req.headers, req.body, self.config.upstream_keys, self.config.hub)
        return FunctionResponse(200, upstream.completion_body(event, self.on_upstream(event)))

    def on_upstream(self, event: upstream.Event) -> Any:
        """The one place an upstream event reaches a handler (webhook and Azure triggers);
        returns an invocation's result."""
        ctx = event.context
        if isinstance(event, upstream.Connected):
            return self.OnClientConnected(ctx.connection_id, ctx.user_id)
        if isinstance(event, upstream.Disconnected):
            return self.OnClientDisconnect(ctx.connection_id, ctx.user_id, event.error)
        if event.target == REPORT_PRESENCE:
            return self.ReportPresence(ctx.connection_id, ctx.user_id, event.arguments)
        if event.target == REQUEST_DIAL:
            return self.dialer.request_dial(ctx.connection_id, ctx.user_id, event.arguments)
        if event.target != SEND_MESSAGE:
            raise ApiError(400, "unknown_target", f"No function handles the hub method '{event.target}'.")
        return self.SendMessageAcknowlegement(ctx.connection_id, ctx.user_id, event.arguments)

    # The upstream signature proves only that the service once signed this connection id
    # (docs/security.md): its events may be replayed with any X-ASRS-User-Id. So an event
    # never changes a recorded owner, records only connections the service has, and drops
    # only connections the service no longer has; an ack counts only from a connection
    # recorded for the message's user.
    def OnClientConnected(self, connection_id: str, user_id: str) -> None:
        if not user_id:
            raise ApiError(400, "missing_user_id", "X-ASRS-User-Id is required for a connected event.")
        known = self.store.get_connection(connection_id)
        if known is not None and known.user_id != user_id:
            event("OnClientConnected.refused", user=user_id, owner=known.user_id, connection=connection_id)
            raise ApiError(409, "connection_owned", f"Connection '{connection_id}' is recorded for another user.")
        if known is None and not self.signalr.connection_exists(self.config.hub, connection_id):
            event("OnClientConnected.ignored", user=user_id, connection=connection_id, reason="not at the service")
            return None
        created = self.store.upsert_connection(Connection(user_id, connection_id, self.config.hub, 1, self.clock()))
        event("OnClientConnected", user=user_id, connection=connection_id, new=created)
        if created:
            self._deliver_open_messages(user_id)
        return None

    def OnClientDisconnect(self, connection_id: str, user_id: str, error: Any) -> None:
        if self.store.get_connection(connection_id) is not None \
                and self.signalr.connection_exists(self.config.hub, connection_id):
            event("OnClientDisconnect.ignored", user=user_id, connection=connection_id, reason="still at the service")
            return None
        removed = self.store.remove_connection(connection_id)
        event("OnClientDisconnect", user=user_id, connection=connection_id, removed=removed, error=error)
        return None

    def _own_connection(self, connection_id: str, user_id: str) -> None:
        conn = self.store.get_connection(connection_id)
        if conn is None or conn.user_id != user_id:
            raise forbidden("connection_not_yours", f"Connection '{connection_id}' is not recorded for this user.")

    def SendMessageAcknowlegement(self, connection_id: str, user_id: str, arguments: list) -> dict:
        ack = arguments[0] if arguments else None
        if isinstance(ack, str):  # the seed's bare "Accepted"/"Rejected"
            event("ack.uncorrelated", user=user_id, connection=connection_id, outcome=ack)
            return {"recorded": False, "reason": "uncorrelated"}
        if not isinstance(ack, dict):
            raise ApiError(400, "invalid_ack", "The acknowledgement must be an object or the seed's outcome string.")
        message_id = want_str(field_ci(ack, "messageId"), "messageId", max_len=128)
        outcome = want_str(field_ci(ack, "outcome"), "outcome", max_len=32)
        reason = want_str(field_ci(ack, "reason"), "reason", required=False, max_len=1024)
        status = OUTCOMES.get(outcome.lower())
        if status is None:
            raise ApiError(422, "invalid_field", "'outcome' must be Accepted, Rejected, Missed or Failed.")
        message = self.store.get_message(message_id)
        if message is None:
            raise ApiError(404, "unknown_message", f"No message with id '{message_id}'.")
        self._own_connection(connection_id, user_id)
        if message.user_id != user_id:
            raise forbidden("message_not_yours", "That message was sent to another user.")
        message = self._expire_if_due(message)  # an ack after the window finds the message final
        recorded = self.store.complete_message(message_id, status, reason, self.clock())
        event("SendMessageAcknowlegement", message=message_id, user=user_id, connection=connection_id,
              outcome=status, recorded=recorded)
        if recorded:  # the agent's other tabs stop ringing
            self._withdraw(message, status, None)
        return {"recorded": recorded, "status": status if recorded else message.status}

    def ReportPresence(self, connection_id: str, user_id: str, arguments: list) -> dict:
        """The agent's CIF presence from their widget (REPORT_PRESENCE), kept per user with
        the time it arrived; an agent who becomes available gets the calls held for them."""
        report = arguments[0] if arguments else None
        if not isinstance(report, dict):
            raise ApiError(400, "invalid_presence", "The presence report must be an object {presenceText, "
                                                    "basePresenceStatus?, presenceId?}.")
        text = want_str(field_ci(report, "presenceText"), "presenceText", max_len=100)
        base = field_ci(report, "basePresenceStatus")
        if isinstance(base, int) and not isinstance(base, bool):
            base = str(base)
        base = want_str(base, "basePresenceStatus", required=False, max_len=32)
        presence_id = want_str(field_ci(report, "presenceId"), "presenceId", required=False, max_len=64)
        self._own_connection(connection_id, user_id)
        was_unavailable = self._unavailable(user_id) is not None
        presence = Presence(user_id, base_status(base, text), text, base, presence_id, self.clock())
        self.store.set_presence(presence)
        event("ReportPresence", user=user_id, connection=connection_id, status=presence.status)
        if was_unavailable and presence.status not in UNAVAILABLE:
            self._deliver_open_messages(user_id)
        return {"recorded": True, "status": presence.status}
