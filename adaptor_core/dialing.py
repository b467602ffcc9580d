"""Click-to-dial on the widget's side, as pure functions (docs/cif.md, "Click-to-dial";
docs/functions-api.md, "Click-to-dial"):

    request = dial_request(event_data, dial_id)             # CIF's onclicktoact eventData → requestDial's argument
    query = record_query(request)                            # optional: which record was clicked
    request = with_record(request, searchAndOpenRecords result)
    status = parse_dial_status(argument)                     # a ReceiveDialStatus argument → the row's text

The widget makes the dial id (any text of the message id rules) so that a request sent
again after a reconnect is the same dial: the functions store each id once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .caller_match import TABLES, odata_string, records
from .errors import AdaptorError

MAX_NUMBER = 64  # the functions' limit for a number (docs/functions-api.md)
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")  # a Dataverse logical name
STATUSES = ("pending", "delivered", "failed", "refused")


class DialError(AdaptorError):
    """A click the widget does not turn into a dial (not a phone field, no number), or a
    dial status it cannot read."""

    code = "dial_refused"


def _text(data: dict, name: str) -> str | None:
    value = data.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def dial_request(event_data: Any, dial_id: str) -> dict:
    """requestDial's argument for CIF's onclicktoact eventData `{"value", "name",
    "format", "entityLogicalName"}`: `{"dialId", "number", "record": {"entityLogicalName",
    "field"}}` (the record's parts only when CIF named them as logical names). DialError
    for a field that is not a phone number or holds none."""
    if not isinstance(event_data, dict):
        raise DialError("the click-to-act event carries no field")
    kind = _text(event_data, "format")
    if kind is None or kind.lower() != "phone":
        raise DialError(f"the clicked field is not a phone number (format {kind or 'missing'})")
    number = _text(event_data, "value")
    if number is None:
        raise DialError("the clicked phone field is empty")
    if len(number) > MAX_NUMBER:
        raise DialError(f"the clicked number is longer than {MAX_NUMBER} characters")
    record = {}
    for key, name in (("entityLogicalName", "entityLogicalName"), ("field", "name")):
        value = _text(event_data, name)
        if value is not None and IDENTIFIER.match(value):
            record[key] = value
    return {"dialId": dial_id, "number": number, "record": record}


def record_query(request: dict) -> tuple[str, str] | None:
    """(table, searchAndOpenRecords query) asking which record holds the clicked number:
    its key and name where the clicked field equals it (at most two, enough to know the
    record is the only one); None for a table or field the widget doesn't know."""
    record = request["record"]
    table = TABLES.get(record.get("entityLogicalName", ""))
    field = record.get("field")
    if table is None or field not in table.phone_fields:
        return None
    return table.name, (f"?$select={table.key},{table.primary_name}"
                        f"&$filter={field} eq '{odata_string(request['number'])}'&$top=2")


def with_record(request: dict, search_result: Any) -> dict:
    """The request naming the clicked record (`entityId`, `name`) when exactly one record
    holds the number; unchanged otherwise."""
    table = TABLES[request["record"]["entityLogicalName"]]
    found = [r for r in records(search_result) if r.get(table.key)]
    if len(found) != 1:
        return request
    record = {**request["record"], "entityId": str(found[0][table.key])}
    if isinstance(found[0].get(table.primary_name), str):
        record["name"] = found[0][table.primary_name]
    return {**request, "record": record}


@dataclass(frozen=True)
class DialStatus:
    dial_id: str
    status: str  # pending | delivered | failed | refused
    number: str
    attempts: int = 0
    error: str | None = None

    @property
    def text(self) -> str:
        """The widget row's text for this status."""
        if self.status == "pending":
            return "dialling…" if self.attempts <= 1 else f"dialling… (attempt {self.attempts})"
        if self.status == "delivered":
            return "sent to the phone system"
        return f"{self.status}: {self.error}" if self.error else self.status


def parse_dial_status(argument: Any) -> DialStatus:
    """A ReceiveDialStatus argument `{"dialId", "status", "number", "attempts"?, "error"?}`."""
    if not isinstance(argument, dict):
        raise DialError("a dial status must be an object")
    dial_id, status, number = _text(argument, "dialId"), _text(argument, "status"), _text(argument, "number")
    if dial_id is None or status not in STATUSES or number is None:
        raise DialError("a dial status needs dialId, number and a status of " + ", ".join(STATUSES))
    attempts = argument.get("attempts")
    return DialStatus(dial_id, status, number, attempts if isinstance(attempts, int) and not isinstance(attempts, bool)
                      else 0, _text(argument, "error"))
