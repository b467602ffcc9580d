"""Unit tests for adaptor_core.phone_calls: the phone call activity of an accepted call
and its completion when the session closes (docs/cif.md, "Call logging"), as Dataverse's
phonecall table takes them."""
from __future__ import annotations

import json

import pytest

from adaptor_core.notifications import Notification
from adaptor_core.phone_calls import (
    PHONECALL,
    CallLog,
    duration_minutes,
    iso,
    phonecall_completion,
    phonecall_record,
)

CALL = Notification("+15551234567", "Billing question", "m-1", "i-1", "voice")
T0 = 1_714_555_800.0  # 2024-05-01T09:30:00Z
MARIA = "4b1c6f2e-8d3a-4f5e-9a71-2c0d5e8b1a01"


def test_iso_is_utc_with_a_z():
    assert iso(T0) == "2024-05-01T09:30:00Z"


@pytest.mark.parametrize("seconds,minutes", [(0, 0), (0.4, 1), (59.9, 1), (60, 1), (60.5, 2), (600, 10)])
def test_duration_counts_a_started_minute(seconds, minutes):
    assert duration_minutes(seconds) == minutes


def test_a_known_callers_phone_call_is_regarding_the_contact():
    assert PHONECALL == "phonecall"
    assert json.loads(phonecall_record(CALL, ("contact", MARIA), "Maria Campbell", T0)) == {
        "subject": "Phone call from Maria Campbell", "phonenumber": "+15551234567", "directioncode": False,
        "actualstart": "2024-05-01T09:30:00Z", "description": "Billing question",
        "regardingobjectid_contact_phonecall@odata.bind": f"/contacts({MARIA})"}


def test_an_account_is_bound_through_the_accounts_set():
    record = json.loads(phonecall_record(CALL, ("account", "a-1"), "Contoso", T0))
    assert record["regardingobjectid_account_phonecall@odata.bind"] == "/accounts(a-1)"
    assert not any(k.startswith("regardingobjectid_contact") for k in record)


def test_an_unknown_caller_has_no_regarding_and_the_number_as_name():
    call = Notification("+15550009999", "", "m-2", None, "voice", subject=None)
    assert json.loads(phonecall_record(call, None, None, T0)) == {
        "subject": "Phone call from +15550009999", "phonenumber": "+15550009999", "directioncode": False,
        "actualstart": "2024-05-01T09:30:00Z"}
    # a record of a table without a phonecall Regarding relationship here is left out too
    assert "@odata.bind" not in phonecall_record(call, ("lead", "l-1"), None, T0)


def test_the_subject_is_the_calls_and_fits_the_column():
    call = Notification("+1" * 150, "", "m-3", None, "voice", subject="Upgrade " * 40)
    record = json.loads(phonecall_record(call, None, None, T0))
    assert record["subject"].startswith("Upgrade Upgrade") and len(record["subject"]) == 200
    assert len(record["phonenumber"]) == 200


def test_completion_is_completed_received_with_duration_and_end():
    assert json.loads(phonecall_completion(T0, T0 + 125)) == {
        "statecode": 1, "statuscode": 4, "actualdurationminutes": 3, "actualend": "2024-05-01T09:32:05Z"}


def test_the_log_completes_a_sessions_activity_once():
    log = CallLog()
    log.opened("session-1", "act-1", T0)
    log.opened("session-2", "act-2", T0 + 5)
    assert len(log) == 2
    assert log.closed("session-3", T0 + 10) is None
    activity, data = log.closed("session-1", T0 + 30)
    assert activity == "act-1" and json.loads(data)["actualdurationminutes"] == 1
    assert log.closed("session-1", T0 + 40) is None
    assert len(log) == 1


def test_created_id_reads_create_records_answer():
    from adaptor_core.errors import NotificationError
    from adaptor_core.phone_calls import created_id

    assert created_id('{"id": "abc"}') == "abc"
    assert created_id({"value": '{"id": "abc"}'}) == "abc"
    for bad in ('{"id": ""}', "[]", '{"name": "x"}', "not json"):
        with pytest.raises(NotificationError):
            created_id(bad)


def test_closed_session_id_reads_on_session_closed():
    from adaptor_core.phone_calls import closed_session_id

    assert closed_session_id({"sessionId": "session-1"}) == "session-1"
    assert closed_session_id('{"sessionId": "session-2"}') == "session-2"
    for bad in ({}, {"sessionId": 3}, "nope", None, '{"sessionId": ""}'):
        assert closed_session_id(bad) is None
