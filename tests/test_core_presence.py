"""Unit tests for adaptor_core.presence: CIF's presence (getPresence's text, the
onPresenceChange event data) → the report the widget sends, and the base status the
functions derive from it (docs/cif.md, "Presence")."""
from __future__ import annotations

import json

import pytest

from adaptor_core.hub_methods import REPORT_PRESENCE
from adaptor_core.presence import (
    AVAILABLE,
    AWAY,
    BUSY,
    DO_NOT_DISTURB,
    OFFLINE,
    STATUSES,
    UNAVAILABLE,
    UNKNOWN,
    PresenceReport,
    base_status,
    from_get_presence,
    from_presence_change,
)

BUSY_INFO = {"presenceInfo": {"basePresenceStatus": "BUSY", "presenceColor": "#ff0000",
                              "presenceId": "efdeb843-c07a-e811-8162-000d3aa11f50", "presenceText": "Busy"}}


def test_names():
    assert REPORT_PRESENCE == "reportPresence"
    assert STATUSES == ("available", "busy", "do_not_disturb", "away", "offline", "unknown")
    assert UNAVAILABLE == (DO_NOT_DISTURB, OFFLINE)


@pytest.mark.parametrize("base,status", [
    ("AVAILABLE", AVAILABLE), ("BUSY", BUSY), ("BUSY_DND", DO_NOT_DISTURB), ("Busy-DND", DO_NOT_DISTURB),
    ("BUSY_DO_NOT_DISTURB", DO_NOT_DISTURB), ("away", AWAY), ("OFFLINE", OFFLINE),
    (192360000, AVAILABLE), (192360001, BUSY), (192360002, DO_NOT_DISTURB), (192360003, AWAY), (192360004, OFFLINE),
    ("192360004", OFFLINE), (192360009, UNKNOWN), ("SOMETHING", UNKNOWN)])
def test_base_status_from_cifs_base_status(base, status):
    assert base_status(base, "Custom text") == status


@pytest.mark.parametrize("text,status", [
    ("Available", AVAILABLE), ("Busy", BUSY), ("Busy - DND", DO_NOT_DISTURB), ("Don't disturb", DO_NOT_DISTURB),
    ("Appear away", AWAY), ("Away", AWAY), ("Offline", OFFLINE), ("Away – In Training", UNKNOWN), (None, UNKNOWN)])
def test_base_status_from_an_out_of_the_box_text_when_there_is_no_base(text, status):
    assert base_status(None, text) == status
    assert base_status(True, text) == status  # a boolean is not an option value


def test_get_presence_gives_the_text():
    assert from_get_presence("Available") == PresenceReport("Available")
    assert from_get_presence("  Busy - DND ") == PresenceReport("Busy - DND")
    assert from_get_presence("x" * 150) == PresenceReport("x" * 100)
    for nothing in ("FAILED", "", "   ", None, {"presenceText": "Available"}, True):
        assert from_get_presence(nothing) is None


def test_presence_change_from_its_json_text_or_the_object():
    expected = PresenceReport("Busy", "BUSY", "efdeb843-c07a-e811-8162-000d3aa11f50")
    assert from_presence_change(json.dumps(BUSY_INFO)) == expected
    assert from_presence_change(BUSY_INFO) == expected
    # the event's outer presenceId stands in for a missing inner one; option values become text
    assert from_presence_change({"presenceId": "p-9", "presenceInfo": {"presenceText": "Offline",
                                                                       "basePresenceStatus": 192360004}}) == \
        PresenceReport("Offline", "192360004", "p-9")


@pytest.mark.parametrize("payload", ["not json", '{"presenceId": "efdeb843"}', "[1]", {"presenceInfo": "Busy"},
                                     {"presenceInfo": {"presenceText": ""}}, None])
def test_presence_change_without_a_text_is_none(payload):
    assert from_presence_change(payload) is None


def test_report_argument_leaves_out_what_cif_did_not_give():
    assert PresenceReport("Available").argument() == {"presenceText": "Available"}
    assert PresenceReport("Busy", "BUSY", "p-1").argument() == {"presenceText": "Busy", "basePresenceStatus": "BUSY",
                                                                "presenceId": "p-1"}
