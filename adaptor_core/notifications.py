"""Incoming call → CIF 2.0 calls → acknowledgement (docs/cif.md), as pure functions.

The glue looks the caller up (caller_match.py: `searchAndOpenRecords` per table), calls
`notifyEvent` with `notify_input(...)`, then `createSession` or `createRecord` from
`plan_outcome(...)`, and sends `ack(...)` back through the hub."""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, overload

from . import template_parameters as tp
from .caller_match import Caller, parse_json_result, search_text, several
from .config import WidgetConfig
from .errors import NotificationError
from .hub_methods import message_object

MAX_FIELD = 4096
MAX_FORMS = 32  # PhoneNumberForms read at most (the functions send at most 16)


@dataclass(frozen=True)
class Notification:
    phone: str
    comments: str
    message_id: str | None
    interaction_id: str | None
    media_type: str
    subject: str | None = None  # optional; the case title (else "Phone call from …")
    e164: str | None = None  # the functions' reading of the number (PhoneNumberE164)
    forms: tuple[str, ...] = ()  # the forms to search the phone fields for (PhoneNumberForms)

    @property
    def key(self) -> str | None:
        """Identity for de-duplication: the message id, else the interaction id."""
        return self.message_id or self.interaction_id

    @property
    def search_forms(self) -> tuple[str, ...]:
        """PhoneNumberForms, else the number as sent (a sender that bypassed the functions)."""
        return self.forms or (self.phone,)


def _field(obj: dict, name: str) -> Any:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    return lowered.get(name.lower())


@overload
def _text(obj: dict, name: str, required: Literal[True]) -> str: ...
@overload
def _text(obj: dict, name: str, required: bool = False) -> str | None: ...
def _text(obj: dict, name: str, required: bool = False) -> str | None:
    value = _field(obj, name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise NotificationError(f"the notification has no {name}")
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise NotificationError(f"{name} must be text")
    return str(value)[:MAX_FIELD]


def _forms(value: Any) -> tuple[str, ...]:
    """PhoneNumberForms as the functions send it (a list of strings); anything else is none."""
    if not isinstance(value, list):
        return ()
    return tuple(f[:MAX_FIELD] for f in value[:MAX_FORMS] if isinstance(f, str) and f.strip())


def parse_notification(argument: Any) -> Notification:
    """Accept the message object, or its JSON text as the seed sent it."""
    argument = message_object(argument)
    return Notification(
        phone=_text(argument, "PhoneNumber", required=True),
        comments=_text(argument, "comments") or "",
        message_id=_text(argument, "messageId"),
        interaction_id=_text(argument, "interactionId"),
        media_type=_text(argument, "mediaType") or "voice",
        subject=_text(argument, "subject"),
        e164=_text(argument, "PhoneNumberE164"),
        forms=_forms(_field(argument, "PhoneNumberForms")),
    )


class Deduper:
    """Remembers the last `capacity` notification keys (a tab sees each call once even
    when the server redelivers it after a reconnect)."""

    def __init__(self, capacity: int = 1000):
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.capacity = capacity

    def first_time(self, key: str | None) -> bool:
        if key is None:
            return True
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True


@dataclass(frozen=True)
class Lookup:
    """The records an incoming number belongs to (caller_match.py): none, one (the caller)
    or several (the agent chooses on the search page)."""
    callers: tuple[Caller, ...] = ()

    @property
    def caller(self) -> Caller | None:
        return self.callers[0] if len(self.callers) == 1 else None


def caller_name(n: Notification, lookup: Lookup) -> str:
    """The toast's and session's name for the caller: the record's name, else the number
    — with how many records match when several do."""
    if lookup.caller is not None:
        return lookup.caller.name or n.phone
    if lookup.callers:
        return f"{n.phone} ({several(lookup.callers)})"
    return n.phone


def template_parameters(n: Notification, lookup: Lookup) -> dict:
    """The templateParameters of notifyEvent and createSession (names: template_parameters.py):
    the caller's record when one matches; the search text is the number as the matching
    records save it when several do, else the number as E.164 (or as sent)."""
    caller = lookup.caller
    return tp.build(phone=n.phone, comment=n.comments, subject=n.subject, media_type=n.media_type,
                    interaction_id=n.interaction_id or n.message_id or "", who=caller_name(n, lookup),
                    entity=caller.entity if caller else None, record_id=caller.record_id if caller else None,
                    search=search_text(lookup.callers, n.e164 or n.phone) if lookup.callers else n.e164 or n.phone)


def session_template(lookup: Lookup, config: WidgetConfig) -> str:
    """The known-caller session template when one record matched, else the default one
    (its anchor tab is the search page)."""
    return config.SessionTemplate if lookup.caller else config.DefaultSessionTemplate


def notify_input(n: Notification, lookup: Lookup, config: WidgetConfig,
                 cancellation_token: str | None = None) -> dict:
    """notifyEvent's input. The cancellation token also goes in the input, as Microsoft's
    example and CIF 2.0 clients pass it; the widget passes it as the third argument too
    (docs/cif.md, "Withdraw")."""
    body = {"templateName": config.NotificationTemplate, "templateParameters": template_parameters(n, lookup)}
    if cancellation_token is not None:
        body["cancellationToken"] = cancellation_token
    return body


@dataclass(frozen=True)
class NotifyResult:
    action: str  # Accept | Reject | Timeout
    reason: str


def parse_notify_result(value: Any) -> NotifyResult:
    result = parse_json_result(value)
    if not isinstance(result, dict) or not isinstance(result.get("actionName"), str):
        raise NotificationError("notifyEvent returned no actionName")
    return NotifyResult(result["actionName"], str(result.get("responseReason") or ""))


@dataclass(frozen=True)
class CreateSession:
    input: dict
    outcome: str = "Accepted"


@dataclass(frozen=True)
class CreateTask:
    entity: str
    data: str  # createRecord takes the record as JSON text
    outcome: str


def plan_outcome(result: NotifyResult, n: Notification, lookup: Lookup, config: WidgetConfig):
    """Accept → a session; Reject/Timeout → a task recording why."""
    if result.action == "Accept":
        return CreateSession({"templateName": session_template(lookup, config),
                              "templateParameters": template_parameters(n, lookup)})
    if result.action in ("Reject", "Timeout"):
        who = caller_name(n, lookup)
        description = f"Call from {who} ({n.phone}). {n.comments}".strip()
        task = {"subject": f"{result.action} - {result.reason}", "description": description}
        return CreateTask("task", json.dumps(task), "Rejected" if result.action == "Reject" else "Missed")
    raise NotificationError(f"unknown notifyEvent action '{result.action}'")


def ack(n: Notification, outcome: str, reason: str | None = None) -> dict:
    """The sendMessage argument for the functions (docs/functions-api.md, acknowledgements)."""
    body = {"messageId": n.message_id or n.interaction_id or "", "outcome": outcome}
    if reason:
        body["reason"] = reason[:1024]
    return body
