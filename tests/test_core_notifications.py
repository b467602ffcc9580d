"""Unit tests for adaptor_core.notifications: ReceiveNotification parsing, de-duplication,
the caller as the lookup found it (none, one, several; the lookup itself:
test_core_caller_match.py), the CIF notifyEvent/createSession/createRecord inputs and the
ack sent back (docs/cif.md, docs/functions-api.md). Pure functions: literal inputs, exact outputs."""
from __future__ import annotations

import json
import re

import pytest

from adaptor_core.caller_match import TABLES as CALLER_TABLES
from adaptor_core.caller_match import Caller, lookup_query, matching_records, parse_json_result
from adaptor_core.config import WidgetConfig
from adaptor_core.notifications import (
    MAX_FIELD,
    CreateSession,
    CreateTask,
    Deduper,
    Lookup,
    Notification,
    NotificationError,
    NotifyResult,
    ack,
    caller_name,
    notify_input,
    parse_notification,
    parse_notify_result,
    plan_outcome,
    template_parameters,
)

CONFIG = WidgetConfig("https://functions.example", "client-id", "https://login.example/tenant", "api://x/.default")
CUSTOM = WidgetConfig("https://functions.example", "client-id", "https://login.example/tenant", "api://x/.default",
                      NotificationTemplate="my_notification", SessionTemplate="my_known", DefaultSessionTemplate="my_unknown")
CALL = Notification("+15551234567", "VIP caller", "m-1", "i-1", "voice")
ANN = Lookup((Caller("contact", "c0ffee00-0000-0000-0000-000000000001", "Ann Lee", "+1 (555) 123-4567"),))
NOBODY = Lookup()
LEES = Lookup((Caller("contact", "c1", "Chris Lee", "(555) 123-4567"), Caller("contact", "c2", "Pat Lee", "(555) 123-4567")))


def error(message: str):
    return pytest.raises(NotificationError, match=f"^{re.escape(message)}$")


# --- parse_notification --------------------------------------------------------------------

def test_parse_the_seed_payload():
    assert parse_notification({"PhoneNumber": "+15551234567", "comments": "hello"}) == \
        Notification("+15551234567", "hello", None, None, "voice")


def test_parse_all_fields():
    assert parse_notification({"PhoneNumber": "+1", "comments": "c", "messageId": "m", "interactionId": "i",
                               "mediaType": "chat"}) == Notification("+1", "c", "m", "i", "chat")


def test_parse_a_json_string_as_the_seed_sent_it():
    assert parse_notification('{"PhoneNumber":"+15551234567","comments":"hi","messageId":"m-9"}') == \
        Notification("+15551234567", "hi", "m-9", None, "voice")


def test_parse_field_names_case_insensitively():
    assert parse_notification({"phonenumber": "+1", "Comments": "c", "MESSAGEID": "m", "InteractionID": "i",
                               "mediatype": "sms"}) == Notification("+1", "c", "m", "i", "sms")


def test_parse_defaults():
    n = parse_notification({"PhoneNumber": "+1"})
    assert (n.comments, n.message_id, n.interaction_id, n.media_type) == ("", None, None, "voice")


def test_parse_empty_optional_fields_are_absent():
    assert parse_notification({"PhoneNumber": "+1", "comments": "", "messageId": "", "mediaType": "",
                               "interactionId": None}) == Notification("+1", "", None, None, "voice")


def test_parse_numbers_become_text():
    assert parse_notification({"PhoneNumber": 15551234567, "messageId": 7}) == \
        Notification("15551234567", "", "7", None, "voice")


def test_parse_ignores_unknown_fields():
    assert parse_notification({"PhoneNumber": "+1", "extra": {"x": 1}}) == Notification("+1", "", None, None, "voice")


def test_parse_truncates_long_fields():
    n = parse_notification({"PhoneNumber": "+1", "comments": "x" * (MAX_FIELD + 10)})
    assert n.comments == "x" * MAX_FIELD
    assert MAX_FIELD == 4096


@pytest.mark.parametrize("payload", [{}, {"comments": "x"}, {"PhoneNumber": ""}, {"PhoneNumber": None}, "{}"])
def test_parse_requires_a_phone_number(payload):
    with error("the notification has no PhoneNumber"):
        parse_notification(payload)


@pytest.mark.parametrize("value", [True, False, ["+1"], {"n": "+1"}])
def test_parse_phone_must_be_text(value):
    with error("PhoneNumber must be text"):
        parse_notification({"PhoneNumber": value})


def test_parse_optional_field_must_be_text():
    with error("messageId must be text"):
        parse_notification({"PhoneNumber": "+1", "messageId": ["m"]})


def test_parse_text_that_is_not_json():
    with error("the notification is text but not JSON"):
        parse_notification("PhoneNumber=+1")


@pytest.mark.parametrize("argument", [None, 5, ["+1"], '["+1"]', '"+1"', "null"])
def test_parse_needs_an_object(argument):
    with error("the notification must be an object"):
        parse_notification(argument)


def test_key_prefers_message_id():
    assert CALL.key == "m-1"
    assert Notification("+1", "", None, "i-1", "voice").key == "i-1"
    assert Notification("+1", "", None, None, "voice").key is None


# --- Deduper ---------------------------------------------------------------------------------

def test_dedupe_second_sighting_is_a_duplicate():
    d = Deduper()
    assert d.first_time("m-1") is True
    assert d.first_time("m-1") is False
    assert d.first_time("m-1") is False
    assert d.first_time("m-2") is True


def test_dedupe_without_a_key_always_passes():
    d = Deduper(capacity=1)
    assert d.first_time(None) is True
    assert d.first_time(None) is True
    assert d.first_time("a") is True
    assert d.first_time(None) is True
    assert d.first_time("a") is False  # None did not take a slot


def test_dedupe_default_capacity_is_1000():
    d = Deduper()
    assert d.capacity == 1000
    for i in range(1000):
        assert d.first_time(str(i))
    assert d.first_time("0") is False  # still remembered (and now most recent)
    assert d.first_time("new") is True  # evicts the oldest: "1"
    assert d.first_time("1") is True
    assert d.first_time("0") is False


def test_dedupe_forgets_the_oldest_beyond_capacity():
    d = Deduper(capacity=2)
    assert [d.first_time(k) for k in ("a", "b", "c")] == [True, True, True]
    assert d.first_time("b") is False
    assert d.first_time("c") is False
    assert d.first_time("a") is True  # "a" was evicted by "c"


def test_dedupe_is_lru_a_hit_refreshes_the_key():
    d = Deduper(capacity=2)
    d.first_time("a")
    d.first_time("b")
    assert d.first_time("a") is False  # refresh "a": "b" is now the oldest
    assert d.first_time("c") is True  # evicts "b"
    assert d.first_time("a") is False
    assert d.first_time("b") is True


def test_dedupe_zero_capacity_remembers_nothing():
    d = Deduper(capacity=0)
    assert d.first_time("a") is True
    assert d.first_time("a") is True


# --- CIF results ------------------------------------------------------------------------------

def test_parse_json_result_text():
    assert parse_json_result('{"a":1}') == {"a": 1}


def test_parse_json_result_passes_objects_through():
    obj = {"a": 1}
    assert parse_json_result(obj) is obj
    assert parse_json_result([1]) == [1]
    assert parse_json_result(None) is None
    assert parse_json_result(3) == 3


def test_parse_json_result_unwraps_value():
    assert parse_json_result({"value": {"a": 1}}) == {"a": 1}
    assert parse_json_result('{"value":{"a":1}}') == {"a": 1}


def test_parse_json_result_unwraps_value_holding_json_text():
    assert parse_json_result({"value": '{"actionName":"Accept"}'}) == {"actionName": "Accept"}
    assert parse_json_result(json.dumps({"value": json.dumps({"value": "[1]"})})) == [1]


def test_parse_json_result_keeps_value_next_to_other_keys():
    assert parse_json_result({"value": 1, "other": 2}) == {"value": 1, "other": 2}


def test_parse_json_result_json_string_literal_is_not_parsed_twice():
    assert parse_json_result('"{}"') == "{}"


def test_parse_json_result_refuses_text_that_is_not_json():
    with error("CIF returned text that is not JSON: 'Not JSON at all'"):
        parse_json_result("Not JSON at all")


def test_parse_json_result_error_quotes_at_most_80_characters():
    with pytest.raises(NotificationError) as info:
        parse_json_result("x" * 200)
    assert str(info.value) == f"CIF returned text that is not JSON: {'x' * 80!r}"


def test_the_caller_is_the_one_matching_record_else_nobody():
    assert ANN.caller == ANN.callers[0] and NOBODY.caller is None and LEES.caller is None


def test_caller_name_is_the_record_else_the_number_and_how_many_match():
    assert caller_name(CALL, ANN) == "Ann Lee"
    assert caller_name(CALL, NOBODY) == "+15551234567"
    assert caller_name(CALL, LEES) == "+15551234567 (2 matching contacts)"
    nameless = Lookup((Caller("account", "a1", "", "+15551234567"),))
    assert caller_name(CALL, nameless) == "+15551234567"


def test_parse_reads_the_forms_the_functions_send():
    n = parse_notification({"PhoneNumber": "(555) 123-4567", "PhoneNumberE164": "+15551234567",
                            "PhoneNumberForms": ["+15551234567", 5, "", "(555) 123-4567"]})
    assert (n.e164, n.forms, n.search_forms) == ("+15551234567", ("+15551234567", "(555) 123-4567"),
                                                 ("+15551234567", "(555) 123-4567"))
    sent_as_is = parse_notification({"PhoneNumber": "555", "PhoneNumberForms": "not a list"})
    assert (sent_as_is.e164, sent_as_is.forms, sent_as_is.search_forms) == (None, (), ("555",))
    many = parse_notification({"PhoneNumber": "1", "PhoneNumberForms": [str(i) for i in range(100)]})
    assert len(many.forms) == 32


# --- notifyEvent input -------------------------------------------------------------------------

def test_template_parameters_known_caller():
    # The sample's template parameter names; the comment as {extn_comment} (the toast's
    # field), the case origin as incident.caseorigincode's option value 1 = Phone.
    assert template_parameters(CALL, ANN) == {
        "customerName": "Ann Lee",
        "customerEntityName": "contact",
        "customerRecordId": "c0ffee00-0000-0000-0000-000000000001",
        "extn_media_type": 1,
        "extn_phonenumber": "+15551234567",
        "extn_searchtext": "+1 (555) 123-4567",
        "extn_interactionid": "i-1",
        "extn_comment": "VIP caller",
        "extn_subject": "Phone call from Ann Lee",
    }


def test_template_parameters_unknown_caller():
    assert template_parameters(CALL, NOBODY) == {
        "customerName": "+15551234567",
        "customerEntityName": "contact",
        "customerRecordId": "",
        "extn_media_type": 1,
        "extn_phonenumber": "+15551234567",
        "extn_searchtext": "+15551234567",
        "extn_interactionid": "i-1",
        "extn_comment": "VIP caller",
        "extn_subject": "Phone call from +15551234567",
    }


def test_template_parameters_several_callers_search_for_the_number_as_they_save_it():
    params = template_parameters(CALL, LEES)
    assert params["customerName"] == "+15551234567 (2 matching contacts)"
    assert (params["customerRecordId"], params["extn_searchtext"]) == ("", "(555) 123-4567")
    account = Lookup((Caller("account", "a1", "Contoso", "+1 555-123-4567"),))
    assert template_parameters(CALL, account)["customerEntityName"] == "account"


def test_template_parameters_search_for_the_e164_number_when_the_functions_read_it():
    n = parse_notification({"PhoneNumber": "(555) 123-4567", "PhoneNumberE164": "+15551234567"})
    assert template_parameters(n, NOBODY)["extn_searchtext"] == "+15551234567"
    assert template_parameters(n, NOBODY)["extn_phonenumber"] == "(555) 123-4567"


def test_template_parameters_interaction_id_falls_back_to_message_id():
    assert template_parameters(Notification("+1", "", "m-1", None, "voice"), NOBODY)["extn_interactionid"] == "m-1"
    assert template_parameters(Notification("+1", "", None, None, "voice"), NOBODY)["extn_interactionid"] == ""


def test_case_title_is_the_messages_subject_on_one_line_within_200_characters():
    call = parse_notification({"PhoneNumber": "+1", "subject": "  Billing\n  dispute  "})
    assert template_parameters(call, ANN)["extn_subject"] == "Billing dispute"
    quoted = parse_notification({"PhoneNumber": "+1", "subject": 'Say "hi" \\ bye'})
    assert template_parameters(quoted, ANN)["extn_subject"] == "Say 'hi' bye"
    long = parse_notification({"PhoneNumber": "+1", "subject": "x" * 300})
    assert template_parameters(long, ANN)["extn_subject"] == "x" * 199 + "…"


@pytest.mark.parametrize("media, origin", [("voice", 1), ("Phone", 1), ("email", 2), ("web", 3), ("fax", 1)])
def test_case_origin_is_the_caseorigincode_option_value(media, origin):
    assert template_parameters(Notification("+1", "", "m", None, media), NOBODY)["extn_media_type"] == origin


def test_notify_input():
    assert notify_input(CALL, ANN, CONFIG) == {
        "templateName": "cifad_voice_notification",
        "templateParameters": template_parameters(CALL, ANN),
    }
    assert notify_input(CALL, NOBODY, CUSTOM)["templateName"] == "my_notification"
    assert "cancellationToken" not in notify_input(CALL, ANN, CONFIG)
    assert notify_input(CALL, ANN, CONFIG, "m-1") == dict(notify_input(CALL, ANN, CONFIG), cancellationToken="m-1")


# --- notifyEvent result --------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    {"actionName": "Accept", "responseReason": "AutoAccept"},
    '{"actionName":"Accept","responseReason":"AutoAccept"}',
    {"value": {"actionName": "Accept", "responseReason": "AutoAccept"}},
    {"value": '{"actionName":"Accept","responseReason":"AutoAccept"}'},
    '{"value":"{\\"actionName\\":\\"Accept\\",\\"responseReason\\":\\"AutoAccept\\"}"}',
])
def test_parse_notify_result_shapes(value):
    assert parse_notify_result(value) == NotifyResult("Accept", "AutoAccept")


def test_parse_notify_result_without_reason():
    assert parse_notify_result({"actionName": "Timeout"}) == NotifyResult("Timeout", "")
    assert parse_notify_result({"actionName": "Timeout", "responseReason": None}) == NotifyResult("Timeout", "")


@pytest.mark.parametrize("value", [{}, {"responseReason": "x"}, {"actionName": 1}, {"actionName": None}, [], "[]",
                                   None, "null", '"Accept"'])
def test_parse_notify_result_needs_an_action_name(value):
    with error("notifyEvent returned no actionName"):
        parse_notify_result(value)


def test_parse_notify_result_text_that_is_not_json():
    with error("CIF returned text that is not JSON: 'Accept'"):
        parse_notify_result("Accept")


# --- outcome: Accept → session, Reject/Timeout → task ----------------------------------------------

@pytest.mark.parametrize("reason", ["Accept", "AutoAccept"])
def test_accept_creates_a_session_for_a_known_caller(reason):
    plan = plan_outcome(NotifyResult("Accept", reason), CALL, ANN, CONFIG)
    assert plan == CreateSession({"templateName": "cifad_voice_identified_session",
                                  "templateParameters": template_parameters(CALL, ANN)}, "Accepted")
    assert plan.outcome == "Accepted"


def test_accept_creates_a_default_session_for_an_unknown_caller():
    assert plan_outcome(NotifyResult("Accept", "Accept"), CALL, NOBODY, CONFIG) == CreateSession(
        {"templateName": "cifad_voice_unknown_session", "templateParameters": template_parameters(CALL, NOBODY)})


def test_accept_with_several_callers_opens_the_search_page_session():
    plan = plan_outcome(NotifyResult("Accept", "Accept"), CALL, LEES, CONFIG)
    assert plan.input["templateName"] == "cifad_voice_unknown_session"
    assert plan.input["templateParameters"]["extn_searchtext"] == "(555) 123-4567"


def test_accept_uses_configured_session_templates():
    assert plan_outcome(NotifyResult("Accept", "Accept"), CALL, ANN, CUSTOM).input["templateName"] == "my_known"
    assert plan_outcome(NotifyResult("Accept", "Accept"), CALL, NOBODY, CUSTOM).input["templateName"] == "my_unknown"


def test_reject_declined_creates_a_task_and_acks_rejected():
    plan = plan_outcome(NotifyResult("Reject", "DeclinedByAgent"), CALL, ANN, CONFIG)
    assert isinstance(plan, CreateTask)
    assert (plan.entity, plan.outcome) == ("task", "Rejected")
    assert isinstance(plan.data, str)  # createRecord takes JSON text
    assert json.loads(plan.data) == {"subject": "Reject - DeclinedByAgent",
                                     "description": "Call from Ann Lee (+15551234567). VIP caller"}


@pytest.mark.parametrize("reason", ["NotificationQueueLimitExceeded", "NotificationQueueTimeLimitExceeded"])
def test_reject_by_the_queue_is_rejected_too(reason):
    plan = plan_outcome(NotifyResult("Reject", reason), CALL, NOBODY, CONFIG)
    assert plan.outcome == "Rejected"
    assert json.loads(plan.data)["subject"] == f"Reject - {reason}"


def test_timeout_creates_a_task_and_acks_missed():
    plan = plan_outcome(NotifyResult("Timeout", "DisplayTimeout"), CALL, NOBODY, CONFIG)
    assert plan == CreateTask("task", json.dumps({"subject": "Timeout - DisplayTimeout",
                                                  "description": "Call from +15551234567 (+15551234567). VIP caller"}),
                              "Missed")


def test_task_description_without_comments_has_no_trailing_space():
    n = Notification("+1", "", "m", None, "voice")
    plan = plan_outcome(NotifyResult("Timeout", "DisplayTimeout"), n, NOBODY, CONFIG)
    assert json.loads(plan.data)["description"] == "Call from +1 (+1)."


@pytest.mark.parametrize("action", ["Defer", "accept", "REJECT", ""])
def test_unknown_action_is_an_error(action):
    with error(f"unknown notifyEvent action '{action}'"):
        plan_outcome(NotifyResult(action, "x"), CALL, ANN, CONFIG)


# --- ack -------------------------------------------------------------------------------------------

def test_ack_with_message_id():
    assert ack(CALL, "Accepted") == {"messageId": "m-1", "outcome": "Accepted"}


def test_ack_falls_back_to_interaction_id_then_empty():
    assert ack(Notification("+1", "", None, "i-1", "voice"), "Missed") == {"messageId": "i-1", "outcome": "Missed"}
    assert ack(Notification("+1", "", None, None, "voice"), "Missed") == {"messageId": "", "outcome": "Missed"}


def test_ack_with_reason():
    assert ack(CALL, "Rejected", "Reject/DeclinedByAgent") == \
        {"messageId": "m-1", "outcome": "Rejected", "reason": "Reject/DeclinedByAgent"}


def test_ack_empty_reason_is_left_out():
    assert ack(CALL, "Failed", "") == {"messageId": "m-1", "outcome": "Failed"}
    assert ack(CALL, "Failed", None) == {"messageId": "m-1", "outcome": "Failed"}


def test_ack_reason_is_truncated_to_1024():
    assert ack(CALL, "Failed", "e" * 5000)["reason"] == "e" * 1024


def test_end_to_end_mapping_for_a_rejected_call():
    """ReceiveNotification argument → lookup → notify → plan → ack, as the widget glue chains them."""
    n = parse_notification('{"PhoneNumber":"+1 (555) O\'Neil","comments":"x","messageId":"m-7"}')
    assert "startswith(mobilephone,'%2B1%20%28555%29%20O%27%27Neil')" in lookup_query(CALLER_TABLES["contact"],
                                                                                        n.search_forms)
    contact = Lookup(tuple(matching_records(CALLER_TABLES["contact"],
                                            '{"0":{"contactid":"c-7","fullname":"Pat O\'Neil",'
                                            '"mobilephone":"+1 (555) O\'Neil"}}', n.search_forms)))
    assert notify_input(n, contact, CONFIG)["templateParameters"]["customerRecordId"] == "c-7"
    result = parse_notify_result('{"value":{"actionName":"Reject","responseReason":"DeclinedByAgent"}}')
    plan = plan_outcome(result, n, contact, CONFIG)
    assert ack(n, plan.outcome, f"{result.action}/{result.reason}") == \
        {"messageId": "m-7", "outcome": "Rejected", "reason": "Reject/DeclinedByAgent"}
