"""Unit tests for adaptor_core.withdrawal: the CancelNotification argument, what the tab
shows, cancellation tokens and correlation ids, and the calls ringing in a tab
(docs/cif.md, "Withdraw")."""
from __future__ import annotations

import json
import re

import pytest

from adaptor_core.errors import NotificationError
from adaptor_core.hub_methods import CANCEL_NOTIFICATION
from adaptor_core.withdrawal import Ringing, Withdrawal, correlation_id, parse_withdrawal, withdrawn_outcome

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_target_name():
    assert CANCEL_NOTIFICATION == "CancelNotification"


def test_parse_a_withdrawal():
    assert parse_withdrawal({"messageId": "m-1", "status": "cancelled", "reason": "caller_abandoned"}) == \
        Withdrawal("m-1", "cancelled", "caller_abandoned")
    assert parse_withdrawal(json.dumps({"messageId": "m-1", "status": "accepted"})) == Withdrawal("m-1", "accepted")
    assert parse_withdrawal({"messageId": "m-1", "status": "missed", "reason": "x" * 2000}).reason == "x" * 1024
    assert parse_withdrawal({"messageId": "m-1", "status": "failed", "reason": 7}).reason is None


@pytest.mark.parametrize("argument,text", [
    ({"status": "cancelled"}, "the withdrawal has no messageId"),
    ({"messageId": "", "status": "cancelled"}, "the withdrawal has no messageId"),
    ({"messageId": "m", "status": "sent"}, "the withdrawal's status must be one of cancelled, accepted, rejected, "
                                           "missed, failed"),
    ("[1]", "the withdrawal must be an object"),
])
def test_a_bad_withdrawal_is_named(argument, text):
    with pytest.raises(NotificationError, match=f"^{re.escape(text)}$"):
        parse_withdrawal(argument)


def test_what_the_tab_shows():
    assert withdrawn_outcome(Withdrawal("m", "cancelled", "caller_abandoned")) == "Withdrawn: caller_abandoned"
    assert withdrawn_outcome(Withdrawal("m", "cancelled")) == "Withdrawn"
    assert withdrawn_outcome(Withdrawal("m", "accepted")) == "Answered in another tab (accepted)"


def test_correlation_id_is_a_guid_stable_per_token():
    assert GUID.match(correlation_id("m-1")) and correlation_id("m-1") == correlation_id("m-1")
    assert correlation_id("m-1") != correlation_id("m-2")


def test_a_ringing_call_is_withdrawn_once_and_then_not_answered():
    ringing = Ringing()
    assert ringing.start("m-1", "fresh") == "m-1"
    assert ringing.withdraw("m-1") == "m-1"
    assert ringing.withdraw("m-1") is None  # not ringing any more
    assert ringing.finish("m-1") is False  # the answer that raced the withdrawal does not count


def test_an_answered_call_is_not_withdrawn():
    ringing = Ringing()
    assert ringing.start("m-2", "fresh") == "m-2"
    assert ringing.finish("m-2") is True
    assert ringing.withdraw("m-2") is None


def test_a_call_withdrawn_before_it_arrived_never_rings():
    ringing = Ringing()
    assert ringing.withdraw("m-3") is None
    assert ringing.start("m-3", "fresh") is None


def test_a_call_without_a_key_gets_the_fresh_token_and_always_finishes():
    ringing = Ringing()
    assert ringing.start(None, "f-1") == "f-1"
    assert ringing.finish(None) is True


def test_withdrawn_keys_are_remembered_up_to_capacity():
    ringing = Ringing(capacity=2)
    for key in ("a", "b", "c"):
        ringing.withdraw(key)
    assert ringing.start("a", "fresh") == "a"  # forgotten: the oldest went first
    assert ringing.start("c", "fresh") is None
