"""An agent's CIF presence, as the widget reads it and the functions keep it
(docs/cif.md, "Presence"; docs/functions-api.md, "Presence").

CIF gives the presence text at start (`getPresence()`: the text, or "FAILED") and on
every change (`onPresenceChange`: JSON text of `{"presenceInfo": {"basePresenceStatus",
"presenceColor", "presenceId", "presenceText"}}`, or only `{"presenceId"}`). Dynamics
knows five base statuses (Available, Busy, Busy-DND, Away, Offline) under any number of
custom presence texts; `base_status` maps what it was given to one of ours:

    report = from_presence_change(payload) or from_get_presence(text)
    hub argument: report.argument()          # widget → functions (REPORT_PRESENCE)
    status = base_status(base, text)          # the functions' word: available, offline, …
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

AVAILABLE, BUSY, DO_NOT_DISTURB, AWAY, OFFLINE, UNKNOWN = (
    "available", "busy", "do_not_disturb", "away", "offline", "unknown")
STATUSES = (AVAILABLE, BUSY, DO_NOT_DISTURB, AWAY, OFFLINE, UNKNOWN)
UNAVAILABLE = (DO_NOT_DISTURB, OFFLINE)  # calls to these are held or refused (UnavailableAgentCalls)
MAX_TEXT = 100  # msdyn_presence.msdyn_presencestatustext is at most 100 characters

# msdyn_presence.msdyn_basepresencestatus option values
BY_OPTION = {192360000: AVAILABLE, 192360001: BUSY, 192360002: DO_NOT_DISTURB, 192360003: AWAY, 192360004: OFFLINE}
# base status names as CIF's events spell them (e.g. "BUSY") and the out-of-the-box
# presence texts ("Busy - DND", "Appear away", "Don't disturb"), compared by their letters
BY_NAME = {"available": AVAILABLE, "busy": BUSY, "busydnd": DO_NOT_DISTURB, "busydonotdisturb": DO_NOT_DISTURB,
           "donotdisturb": DO_NOT_DISTURB, "dontdisturb": DO_NOT_DISTURB, "dnd": DO_NOT_DISTURB, "away": AWAY,
           "appearaway": AWAY, "offline": OFFLINE}


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalpha())


def base_status(base: Any, text: str | None = None) -> str:
    """One of STATUSES for CIF's base presence status — an option value (192360000…) or
    a name ("AVAILABLE", "BUSY_DND", …) — else for an out-of-the-box presence text;
    UNKNOWN for a custom text without a base status."""
    if isinstance(base, str) and base.strip().isdigit():
        base = int(base)
    if isinstance(base, int) and not isinstance(base, bool):
        return BY_OPTION.get(base, UNKNOWN)
    if isinstance(base, str) and _letters(base) in BY_NAME:
        return BY_NAME[_letters(base)]
    return BY_NAME.get(_letters(text or ""), UNKNOWN)


@dataclass(frozen=True)
class PresenceReport:
    presence_text: str
    base_presence_status: str | None = None
    presence_id: str | None = None

    def argument(self) -> dict:
        """The REPORT_PRESENCE argument: {"presenceText", "basePresenceStatus"?, "presenceId"?}."""
        body: dict[str, str] = {"presenceText": self.presence_text}
        if self.base_presence_status:
            body["basePresenceStatus"] = self.base_presence_status
        if self.presence_id:
            body["presenceId"] = self.presence_id
        return body


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def from_get_presence(value: Any) -> PresenceReport | None:
    """getPresence's answer: the presence text; None for "FAILED" or anything not text."""
    text = _text(value, MAX_TEXT)
    if text is None or text == "FAILED":
        return None
    return PresenceReport(text)


def from_presence_change(payload: Any) -> PresenceReport | None:
    """onPresenceChange's event data (the object, or its JSON text): a report from its
    presenceInfo; None when it carries no presence text (the `{"presenceId"}` form:
    ask getPresence)."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    info = payload.get("presenceInfo") if isinstance(payload, dict) else None
    if not isinstance(info, dict):
        return None
    text = _text(info.get("presenceText"), MAX_TEXT)
    if text is None:
        return None
    return PresenceReport(text, _text(info.get("basePresenceStatus"), 32),
                          _text(info.get("presenceId") or payload.get("presenceId"), 64))
