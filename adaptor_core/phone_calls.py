"""Call logging (docs/cif.md, "Call logging"): an accepted call becomes a Dataverse
phone call activity — `createRecord("phonecall", …)` right after its session opens,
incoming, the caller's number, a subject from the call, regarding the matched record —
and is completed with its duration when that session closes (`onSessionClosed` →
`updateRecord("phonecall", id, …)`). Pure: the glue passes the clock in.

    data = phonecall_record(n, ("contact", contact_id), now)     # createRecord's JSON text
    log.opened(session_id, activity_id, now)
    activity_id, data = log.closed(session_id, now)              # updateRecord, or None
"""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from . import template_parameters as tp
from .errors import NotificationError
from .notifications import Notification, parse_json_result

PHONECALL = "phonecall"
# phonecall's single-valued navigation properties for Regarding, and the entity sets they bind to
REGARDING = {"contact": ("regardingobjectid_contact_phonecall", "contacts"),
             "account": ("regardingobjectid_account_phonecall", "accounts")}
INCOMING = False  # phonecall.directioncode: false = Incoming, true = Outgoing
STATE_COMPLETED = 1  # phonecall.statecode: 0 Open, 1 Completed, 2 Canceled
STATUS_RECEIVED = 4  # phonecall.statuscode: 1 Open, 2 Made, 3 Canceled, 4 Received (a Completed state's reasons: 2, 4)
MAX_TEXT = 200  # activity subject and phonecall.phonenumber: at most 200 characters


def iso(ts: float) -> str:
    """A Dataverse DateTimeOffset in UTC: `2024-05-01T09:30:00Z` (`ts`: seconds since the epoch)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration_minutes(seconds: float) -> int:
    """actualdurationminutes: whole minutes, a started minute counting as one (as phone
    bills count); 0 only for no time at all."""
    return max(0, math.ceil(seconds / 60 - 1e-9))


def phonecall_record(n: Notification, regarding: tuple[str, str] | None, who: str | None, started: float) -> str:
    """createRecord's data (JSON text) for the accepted call `n`: regarding `(entity,
    id)` — a contact or an account — or nothing for an unknown caller; `who` names the
    caller in the subject (else the number)."""
    record: dict[str, object] = {
        "subject": tp.case_title(n.subject, who or n.phone)[:MAX_TEXT],
        "phonenumber": n.phone[:MAX_TEXT],
        "directioncode": INCOMING,
        "actualstart": iso(started),
    }
    if n.comments:
        record["description"] = n.comments
    if regarding is not None and regarding[0] in REGARDING:
        prop, entity_set = REGARDING[regarding[0]]
        record[f"{prop}@odata.bind"] = f"/{entity_set}({regarding[1]})"
    return json.dumps(record)


def phonecall_completion(started: float, ended: float) -> str:
    """updateRecord's data (JSON text) when the call's session closes: Completed/Received,
    the duration and the end."""
    return json.dumps({"statecode": STATE_COMPLETED, "statuscode": STATUS_RECEIVED,
                       "actualdurationminutes": duration_minutes(ended - started), "actualend": iso(ended)})


def created_id(result: object) -> str:
    """createRecord's answer — JSON text `{"id": "<guid>", …}` — as the new record's id;
    NotificationError when it has none."""
    record = parse_json_result(result)
    record_id = record.get("id") if isinstance(record, dict) else None
    if not isinstance(record_id, str) or not record_id:
        raise NotificationError("createRecord answered without an id")
    return record_id


def closed_session_id(payload: object) -> str | None:
    """onSessionClosed's event data — `{"sessionId": "<id>"}`, as an object or JSON text —
    as the session id; None when it names none."""
    try:
        data = parse_json_result(payload)
    except NotificationError:
        return None
    session_id = data.get("sessionId") if isinstance(data, dict) else None
    return session_id if isinstance(session_id, str) and session_id else None


class CallLog:
    """Open phone call activities of this tab, by the session they belong to."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, float]] = {}

    def opened(self, session_id: str, activity_id: str, started: float) -> None:
        self._open[session_id] = (activity_id, started)

    def closed(self, session_id: str, ended: float) -> tuple[str, str] | None:
        """(activity id, updateRecord data) for the session's activity; None when the
        session has none (call logging off, its creation failed, or another session)."""
        found = self._open.pop(session_id, None)
        if found is None:
            return None
        activity_id, started = found
        return activity_id, phonecall_completion(started, ended)

    def __len__(self) -> int:
        return len(self._open)
