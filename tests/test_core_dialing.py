"""Unit tests for adaptor_core.dialing: CIF's onclicktoact eventData → the requestDial
argument, the clicked record, and the ReceiveDialStatus the widget shows."""
from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from adaptor_core.dialing import DialError, DialStatus, dial_request, parse_dial_status, record_query, with_record
from adaptor_core.hub_methods import RECEIVE_DIAL_STATUS, REQUEST_DIAL

# CIF 2.0's documented eventData of onclicktoact
CLICK = {"value": "+1 (555) 123-4567", "name": "mobilephone", "format": "phone", "entityLogicalName": "contact"}


def test_target_names():
    assert (REQUEST_DIAL, RECEIVE_DIAL_STATUS) == ("requestDial", "ReceiveDialStatus")


def test_a_click_on_a_phone_field_is_a_dial_request():
    assert dial_request(CLICK, "d-1") == {"dialId": "d-1", "number": "+1 (555) 123-4567",
                                         "record": {"entityLogicalName": "contact", "field": "mobilephone"}}
    assert dial_request({**CLICK, "format": "Phone", "value": "  555  "}, "d-2")["number"] == "555"


def test_names_that_are_no_logical_names_are_left_out():
    assert dial_request({**CLICK, "name": "Maria <b>", "entityLogicalName": 5}, "d")["record"] == {}
    assert dial_request({"value": "1", "format": "phone"}, "d")["record"] == {}


@pytest.mark.parametrize("data, text", [
    ({**CLICK, "format": "email"}, "not a phone number (format email)"),
    ({k: v for k, v in CLICK.items() if k != "format"}, "not a phone number (format missing)"),
    ({**CLICK, "value": "  "}, "the clicked phone field is empty"),
    ({**CLICK, "value": 5551234567}, "the clicked phone field is empty"),
    ({**CLICK, "value": "1" * 65}, "longer than 64 characters"),
    ("a string", "carries no field"),
])
def test_other_clicks_are_no_dial(data, text):
    with pytest.raises(DialError, match=re.escape(text)):
        dial_request(data, "d")


def test_the_clicked_record_is_asked_for_by_its_field():
    table, query = record_query(dial_request({**CLICK, "value": "O'Neil +1"}, "d"))
    assert table == "contact"
    assert query.startswith("?$select=contactid,fullname&$filter=mobilephone eq '") and query.endswith("'&$top=2")
    assert unquote(query.split("eq '", 1)[1][:-len("'&$top=2")]) == "O''Neil +1"
    assert record_query(dial_request({**CLICK, "entityLogicalName": "account", "name": "telephone1"}, "d"))[0] == "account"


@pytest.mark.parametrize("change", [{"entityLogicalName": "lead"}, {"name": "fax"}, {"name": None}])
def test_no_record_query_for_tables_or_fields_the_widget_does_not_know(change):
    assert record_query(dial_request({**CLICK, **change}, "d")) is None


def test_with_record_names_the_one_record_holding_the_number():
    request = dial_request(CLICK, "d")
    one = with_record(request, '{"0":{"contactid":"c1","fullname":"Maria Campbell"}}')
    assert one["record"] == {"entityLogicalName": "contact", "field": "mobilephone", "entityId": "c1",
                             "name": "Maria Campbell"}
    assert with_record(request, {"0": {"contactid": 7, "fullname": None}})["record"]["entityId"] == "7"
    assert "name" not in with_record(request, {"0": {"contactid": 7, "fullname": None}})["record"]
    two = '{"0":{"contactid":"c1"},"1":{"contactid":"c2"}}'
    assert with_record(request, two) == request and with_record(request, "{}") == request


@pytest.mark.parametrize("argument, status, text", [
    ({"dialId": "d", "status": "pending", "number": "+1", "attempts": 1}, DialStatus("d", "pending", "+1", 1), "dialling…"),
    ({"dialId": "d", "status": "pending", "number": "+1", "attempts": 3}, DialStatus("d", "pending", "+1", 3),
     "dialling… (attempt 3)"),
    ({"dialId": "d", "status": "delivered", "number": "+1", "attempts": True}, DialStatus("d", "delivered", "+1"),
     "sent to the phone system"),
    ({"dialId": "d", "status": "failed", "number": "+1", "error": "503 from the phone system"},
     DialStatus("d", "failed", "+1", 0, "503 from the phone system"), "failed: 503 from the phone system"),
    ({"dialId": "d", "status": "refused", "number": "+1"}, DialStatus("d", "refused", "+1"), "refused"),
])
def test_dial_statuses(argument, status, text):
    assert parse_dial_status(argument) == status and status.text == text


@pytest.mark.parametrize("argument", [None, [], {"dialId": "d", "status": "ringing", "number": "+1"},
                                      {"status": "pending", "number": "+1"}, {"dialId": "d", "status": "pending"}])
def test_unreadable_dial_statuses(argument):
    with pytest.raises(DialError):
        parse_dial_status(argument)
