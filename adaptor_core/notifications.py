"""Incoming call → CIF 2.0 calls → acknowledgement (docs/cif.md), as pure functions.

The glue calls `searchAndOpenRecords` with `lookup_query(...)`, `notifyEvent` with
`notify_input(...)`, then `createSession` or `createRecord` from `plan_outcome(...)`,
and sends `ack(...)` back through the hub."""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import quote

from . import template_parameters as tp
from .config import WidgetConfig
from .errors import NotificationError
from .hub_methods import message_object

MAX_FIELD = 4096


@dataclass(frozen=True)
class Notification:
    phone: str
    comments: str
    message_id: str | None
    interaction_id: str | None
    media_type: str
    subject: str | None = None  # optional; the case title (else "Phone call from …")

    @property
    def key(self) -> str | None:
        """Identity for de-duplication: the message id, else the interaction id."""
        return self.message_id or self.interaction_id


@dataclass(frozen=True)
class Contact:
    contact_id: str
    full_name: str


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


def odata_string(value: str) -> str:
    """An OData string literal's content: quotes doubled, then URL-encoded."""
    return quote(value.replace("'", "''"), safe="")


def lookup_query(phone: str) -> str:
    return ("?$select=contactid,fullname,mobilephone"
            f"&$filter=mobilephone eq '{odata_string(phone)}'")


def parse_json_result(value: Any) -> Any:
    """CIF returns many results as JSON text; some wrap them in {"value": …}."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NotificationError(f"CIF returned text that is not JSON: {value[:80]!r}") from None
    if isinstance(value, dict) and set(value) == {"value"}:
        return parse_json_result(value["value"])
    return value


def first_contact(search_result: Any) -> Contact | None:
    """searchAndOpenRecords resolves to records keyed "0", "1", …; take the first."""
    records = parse_json_result(search_result)
    if isinstance(records, list):
        records = {str(i): r for i, r in enumerate(records)}
    if not isinstance(records, dict) or not records:
        return None
    first = records.get("0", next(iter(records.values())))
    if not isinstance(first, dict) or not first.get("contactid"):
        return None
    return Contact(str(first["contactid"]), str(first.get("fullname") or ""))


def template_parameters(n: Notification, contact: Contact | None) -> dict:
    """The templateParameters of notifyEvent and createSession (names: template_parameters.py)."""
    return tp.build(phone=n.phone, comment=n.comments, subject=n.subject, media_type=n.media_type,
                    interaction_id=n.interaction_id or n.message_id or "",
                    contact_id=contact.contact_id if contact else None,
                    contact_name=contact.full_name if contact else None)


def session_template(contact: Contact | None, config: WidgetConfig) -> str:
    """The known-caller session template when the lookup found a contact, else the default."""
    return config.SessionTemplate if contact else config.DefaultSessionTemplate


def notify_input(n: Notification, contact: Contact | None, config: WidgetConfig,
                 cancellation_token: str | None = None) -> dict:
    """notifyEvent's input. The cancellation token also goes in the input, as Microsoft's
    example and CIF 2.0 clients pass it; the widget passes it as the third argument too
    (docs/cif.md, "Withdraw")."""
    body = {"templateName": config.NotificationTemplate, "templateParameters": template_parameters(n, contact)}
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


def plan_outcome(result: NotifyResult, n: Notification, contact: Contact | None, config: WidgetConfig):
    """Accept → a session; Reject/Timeout → a task recording why."""
    if result.action == "Accept":
        return CreateSession({"templateName": session_template(contact, config),
                              "templateParameters": template_parameters(n, contact)})
    if result.action in ("Reject", "Timeout"):
        who = contact.full_name if contact else n.phone
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
