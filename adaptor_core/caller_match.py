"""Caller matching: which Dataverse records an incoming number belongs to (docs/cif.md,
"Caller matching"), as pure functions.

Dataverse compares strings as stored: `eq` is an exact (case-insensitive) match and the
string functions are SQL LIKE patterns, so `+15551234567` never equals a contact saved as
`+1 (555) 123-4567`. The functions send the forms people save a number in
(`PhoneNumberForms`, made with libphonenumber: server/phone.py); the widget asks for
records whose phone fields start with any of them (`startswith` also finds a number
saved with an extension, `… ext. 12`), then keeps the records whose field, read up to an
extension, has the same digits as one of the forms — a prefix match such as
`555-123-45678` is dropped.

    query = lookup_query(TABLES["contact"], forms)        # searchAndOpenRecords("contact", query, true)
    callers = matching_records(TABLES["contact"], result, forms)
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import NotificationError

MAX_RECORDS = 50  # $top of a lookup: more than enough to tell one match from several


@dataclass(frozen=True)
class Table:
    """A Dataverse table searched for callers: its logical name, primary key, primary
    name column and the phone columns people save numbers in."""
    name: str
    key: str
    primary_name: str
    phone_fields: tuple[str, ...]
    plural: str


# Dataverse's phone columns: contact mobilephone (Mobile Phone), telephone1 (Business
# Phone), telephone2 (Home Phone); account telephone1 (Main Phone), telephone2 (Other Phone).
TABLES = {
    "contact": Table("contact", "contactid", "fullname", ("mobilephone", "telephone1", "telephone2"), "contacts"),
    "account": Table("account", "accountid", "name", ("telephone1", "telephone2"), "accounts"),
}
DEFAULT_TABLES = ("contact",)


@dataclass(frozen=True)
class Caller:
    """One record the number belongs to; `phone` is the value it is saved as there."""
    entity: str
    record_id: str
    name: str
    phone: str


def caller_tables(setting: str | None) -> tuple[str, ...]:
    """The widget's `CallerTables` setting (e.g. "contact,account") as table names; None
    or blank → contacts only. ValueError naming the unknown table otherwise."""
    if setting is None or not setting.strip():
        return DEFAULT_TABLES
    names = tuple(dict.fromkeys(n.strip().lower() for n in setting.replace(" ", ",").split(",") if n.strip()))
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"names no table the widget can search: {', '.join(unknown)} (contact, account)")
    return names


def odata_string(value: str) -> str:
    """An OData string literal's content: quotes doubled, then URL-encoded (a `+` left
    bare would reach Dataverse as a space)."""
    return quote(value.replace("'", "''"), safe="")


def like_literal(value: str) -> str:
    """`value` taken literally inside contains/startswith/endswith, which Dataverse runs
    as SQL LIKE: its wildcards %, _ and [ are bracketed."""
    return re.sub(r"[%_\[]", lambda m: f"[{m.group()}]", value)


def lookup_query(table: Table, forms: tuple[str, ...] | list[str]) -> str:
    """searchAndOpenRecords' query: the key, name and phone columns of records whose phone
    columns start with any of `forms`."""
    clauses = [f"startswith({field},'{odata_string(like_literal(form))}')"
               for field in table.phone_fields for form in forms]
    select = ",".join((table.key, table.primary_name, *table.phone_fields))
    return f"?$select={select}&$filter={'%20or%20'.join(clauses)}&$top={MAX_RECORDS}"


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


def records(search_result: Any) -> list[dict]:
    """searchAndOpenRecords resolves to records keyed "0", "1", … (a list, or a
    {"value": …} wrapper, is read too), in key order; anything else is no records."""
    found = parse_json_result(search_result)
    if isinstance(found, list):
        return [r for r in found if isinstance(r, dict)]
    if not isinstance(found, dict):
        return []
    ordered = sorted(found.items(), key=lambda kv: (not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0))
    return [r for _, r in ordered if isinstance(r, dict)]


# A saved number ends where its extension starts: the first character that is no digit
# and none of the separators people type (space, + ( ) . - / and the Unicode dashes).
NUMBER_PART = re.compile(r"[0-9\s+().\-/\u2010-\u2015]*")
DIGITS = re.compile(r"[0-9]")


def _digits(text: str) -> str:
    return "".join(DIGITS.findall(NUMBER_PART.match(text).group()))  # type: ignore[union-attr]  # always matches


def same_number(saved: str, forms: tuple[str, ...] | list[str]) -> bool:
    """Whether a saved phone value is the number `forms` stand for: the same digits up to
    its extension as one of them; forms without digits (a withheld number sent as text)
    are compared as text, ignoring case and surrounding spaces."""
    wanted = {_digits(f) for f in forms} - {""}
    if not wanted:
        return saved.strip().casefold() in {f.strip().casefold() for f in forms}
    return _digits(saved) in wanted


def matching_records(table: Table, search_result: Any, forms: tuple[str, ...] | list[str]) -> list[Caller]:
    """The records of a lookup whose phone columns hold the number (`same_number`)."""
    found = []
    for record in records(search_result):
        record_id = record.get(table.key)
        if not record_id:
            continue
        phone = next((str(record[f]) for f in table.phone_fields
                      if isinstance(record.get(f), str) and same_number(record[f], forms)), None)
        if phone is not None:
            found.append(Caller(table.name, str(record_id), str(record.get(table.primary_name) or ""), phone))
    return found


def search_text(callers: list[Caller] | tuple[Caller, ...], fallback: str) -> str:
    """What to pre-fill the search page with: the saved value the records share (a search
    that begins with it lists them all), else `fallback` (the number as E.164 or sent)."""
    saved = {c.phone.strip() for c in callers}
    return saved.pop() if len(saved) == 1 else fallback


def several(callers: list[Caller] | tuple[Caller, ...]) -> str:
    """'2 matching contacts' ('records' when the tables differ), for the toast."""
    kinds = {c.entity for c in callers}
    noun = TABLES[kinds.pop()].plural if len(kinds) == 1 else "records"
    return f"{len(callers)} matching {noun}"
