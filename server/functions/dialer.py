"""Click-to-dial on the functions' side (docs/functions-api.md, "Click-to-dial"): a widget's
`requestDial` is checked and stored, then POSTed, signed, to the telephony system's webhook
(server/dial_webhook.py) — once at once, then again by the DeliverDials timer with a
bounded backoff — and every change is pushed to the agent's tabs as `ReceiveDialStatus`."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from adaptor_core.hub_methods import RECEIVE_DIAL_STATUS

from .. import dial_webhook as webhook
from ..config import Config
from ..errors import ApiError, StoreConflict
from ..log import log_event
from ..phone import dial_number
from ..store import Dial, DialStatus, Store
from .http import field_ci, iso, want_str
from .signalr_rest import SignalRRest, SignalRUnavailable

log = logging.getLogger("functions")

DIAL_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")  # the message id rule
LOGICAL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")  # a Dataverse table or column logical name
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_NAME = 4096
DUE_BATCH = 50  # dials one DeliverDials run attempts at most


def _record(value: Any) -> dict:
    """The clicked record `{"entityLogicalName"?, "field"?, "entityId"?, "name"?}`; 422
    `invalid_field` naming the part that breaks its rule."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_field", "'record' must be an object.")
    record: dict[str, str] = {}
    part: Any
    for name, rule, text in (("entityLogicalName", LOGICAL_NAME, "a Dataverse logical name"),
                             ("field", LOGICAL_NAME, "a Dataverse logical name"),
                             ("entityId", GUID, "a GUID")):
        part = field_ci(value, name)
        if part is None:
            continue
        if not isinstance(part, str) or not rule.match(part):
            raise ApiError(422, "invalid_field", f"'record.{name}' must be {text}.")
        record[name] = part
    label = want_str(field_ci(value, "name"), "record.name", required=False, max_len=MAX_NAME, allow_empty=True)
    if label:
        record["name"] = label
    return record


class Dialer:
    """requestDial, GET /api/dials/<id> and the DeliverDials timer, over the functions' store."""

    def __init__(self, config: Config, store: Store, signalr: SignalRRest, http: httpx.Client,
                 clock: Callable[[], float]):
        self.config, self.store, self.signalr, self.http, self.clock = config, store, signalr, http, clock

    # --- the hub method -------------------------------------------------------------------
    def request_dial(self, connection_id: str, user_id: str, arguments: list) -> dict:
        """`requestDial([{"dialId", "number", "record"?}])` from a connection recorded for
        `user_id`: the dial's status (the invocation's result). The same dial id again from
        its user answers the stored dial (a retry after a reconnect dials once)."""
        argument = arguments[0] if arguments else None
        if not isinstance(argument, dict):
            raise ApiError(400, "invalid_dial", "requestDial takes one object: {dialId, number, record?}.")
        dial_id = field_ci(argument, "dialId")
        if not isinstance(dial_id, str) or not DIAL_ID.match(dial_id):
            raise ApiError(422, "invalid_field", "'dialId' must be 1-128 characters of A-Z a-z 0-9 . _ : -")
        raw = want_str(field_ci(argument, "number"), "number", max_len=64)
        if CONTROL.search(raw):
            raise ApiError(422, "invalid_field", "'number' must be one line of text (no control characters).")
        record = _record(field_ci(argument, "record"))
        conn = self.store.get_connection(connection_id)
        if conn is None or conn.user_id != user_id:
            raise ApiError(403, "connection_not_yours", f"Connection '{connection_id}' is not recorded for this user.")
        known = self.store.get_dial(dial_id)
        if known is not None:
            if known.user_id != user_id:
                raise ApiError(409, "duplicate_dial_id", f"A dial with id '{dial_id}' exists already.")
            return self.widget_status(known)
        number = dial_number(raw, self.config.phone_region)
        if self.config.dial_webhook is None:
            raise ApiError(503, "dialing_off", "Click-to-dial is off: the functions have no DialWebhookUrl.")
        request = {"number": number.e164, "extension": number.extension, "requestedNumber": raw, "record": record}
        now = self.clock()
        dial = Dial(dial_id, user_id, self.config.hub, json.dumps(request, separators=(",", ":")),
                    DialStatus.PENDING, now, next_attempt=now)
        try:
            self.store.add_dial(dial)
        except StoreConflict:
            raise ApiError(409, "duplicate_dial_id", f"A dial with id '{dial_id}' exists already.") from None
        log_event(log, "requestDial", dial=dial_id, user=user_id, connection=connection_id, number=number.e164)
        return self.widget_status(self.attempt(dial))

    # --- delivery ---------------------------------------------------------------------------
    def attempt(self, dial: Dial) -> Dial:
        """One webhook call for a pending dial, claimed first so that two workers never make
        the same attempt; the dial as stored afterwards."""
        now = self.clock()
        attempts = dial.attempts + 1
        if dial.attempts >= webhook.MAX_ATTEMPTS or self.config.dial_webhook is None:
            why = "no DialWebhookUrl" if self.config.dial_webhook is None else dial.error
            return self._record(replace(dial, status=DialStatus.FAILED, next_attempt=None, completed=now,
                                        error=f"gave up after {dial.attempts} attempts: {why}"), dial.attempts)
        # The claim: a crash before the answer leaves the dial due again after the timeout.
        claim = replace(dial, attempts=attempts, next_attempt=now + webhook.ATTEMPT_TIMEOUT + 1)
        if not self.store.record_dial_attempt(claim, dial.attempts):
            return self.store.get_dial(dial.dial_id) or dial
        url, secret = self.config.dial_webhook
        content = webhook.body(dial.dial_id, dial.user_id, json.loads(dial.request), iso(dial.created) or "")
        headers = webhook.signed_headers(secret, content, int(now), dial.dial_id)
        status: int | None = None
        try:
            answer = self.http.post(url, content=content, headers=headers, timeout=webhook.ATTEMPT_TIMEOUT)
            status, error = answer.status_code, f"the webhook answered {answer.status_code}"
        except httpx.HTTPError as exc:
            error = f"the webhook was not reached ({exc.__class__.__name__}: {str(exc)[:160]})"
        outcome = webhook.attempt_outcome(status)
        done = self.clock()
        if outcome == "delivered":
            result = replace(claim, status=DialStatus.DELIVERED, next_attempt=None, completed=done, error=None)
        elif outcome == "refused":
            result = replace(claim, status=DialStatus.REFUSED, next_attempt=None, completed=done, error=error)
        elif attempts >= webhook.MAX_ATTEMPTS:
            result = replace(claim, status=DialStatus.FAILED, next_attempt=None, completed=done,
                             error=f"gave up after {attempts} attempts: {error}")
        else:
            result = replace(claim, next_attempt=done + webhook.BACKOFF[attempts - 1], error=error)
        log_event(log, "dial.attempt", dial=dial.dial_id, user=dial.user_id, attempt=attempts, answer=status,
                  status=result.status)
        return self._record(result, attempts)

    def _record(self, result: Dial, attempts_before: int) -> Dial:
        if self.store.record_dial_attempt(result, attempts_before):
            self._push(result)
            return result
        return self.store.get_dial(result.dial_id) or result

    def _push(self, dial: Dial) -> None:
        """Every tab of the agent follows the dial; a service outage only costs the update."""
        try:
            self.signalr.send_to_user(dial.hub, dial.user_id, RECEIVE_DIAL_STATUS, [self.widget_status(dial)])
        except SignalRUnavailable as exc:
            log_event(log, "dial.push_failed", dial=dial.dial_id, error=exc.message)

    def deliver_due(self) -> dict:
        """The DeliverDials timer: the next attempt of every due dial (at most DUE_BATCH)."""
        due = self.store.due_dials(self.clock(), DUE_BATCH)
        results = [self.attempt(d).status for d in due]
        return {"attempted": len(due), **{s: results.count(s) for s in set(results)}}

    # --- reading ----------------------------------------------------------------------------
    @staticmethod
    def widget_status(dial: Dial) -> dict:
        """ReceiveDialStatus's argument (adaptor_core/dialing.py reads it)."""
        body = {"dialId": dial.dial_id, "status": dial.status, "number": json.loads(dial.request)["number"],
                "attempts": dial.attempts}
        if dial.error:
            body["error"] = dial.error
        return body

    def describe(self, dial_id: str) -> dict:
        """GET /api/dials/<id>'s body; 404 `unknown_dial`."""
        dial = self.store.get_dial(dial_id)
        if dial is None:
            raise ApiError(404, "unknown_dial", f"No dial with id '{dial_id}'.")
        return {"dialId": dial.dial_id, "userId": dial.user_id, "status": dial.status, **json.loads(dial.request),
                "attempts": dial.attempts, "error": dial.error, "createdAt": iso(dial.created),
                "nextAttemptAt": iso(dial.next_attempt), "completedAt": iso(dial.completed)}
