"""Unit tests for adaptor_core.caller_match: the lookup query the widget hands
searchAndOpenRecords, which returned records are the caller, and what the search page is
pre-filled with (docs/cif.md, "Caller matching"). Literal inputs, exact outputs."""
from __future__ import annotations

from urllib.parse import unquote

import pytest

from adaptor_core.caller_match import (
    TABLES,
    Caller,
    caller_tables,
    like_literal,
    lookup_query,
    matching_records,
    odata_string,
    parse_json_result,
    records,
    same_number,
    search_text,
    several,
)
from adaptor_core.errors import NotificationError
from server.phone import caller_number

US = caller_number("+15551234567").forms
GB = caller_number("+442079460123").forms
CONTACT, ACCOUNT = TABLES["contact"], TABLES["account"]


# --- the query -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("+15551234567", "%2B15551234567"),
    ("555 1234", "555%201234"),
    ("O'Brien", "O%27%27Brien"),
    ("''", "%27%27%27%27"),
    ("a&b=c/d?e#f", "a%26b%3Dc%2Fd%3Fe%23f"),
    ("Zoë", "Zo%C3%AB"),
    ("%27", "%2527"),  # an already-encoded quote is data, not a quote
    ("", ""),
])
def test_odata_string(value, expected):
    assert odata_string(value) == expected


def test_odata_doubles_quotes_before_encoding():
    # encoding first would hide the quote from the doubling (one %27 instead of two)
    assert odata_string("x'y").count("%27") == 2


@pytest.mark.parametrize("value, expected", [("100%", "100[%]"), ("a_b", "a[_]b"), ("[x]", "[[]x]"),
                                             ("+1 (555) 123-4567", "+1 (555) 123-4567")])
def test_like_wildcards_are_taken_literally(value, expected):
    assert like_literal(value) == expected


def test_lookup_query_searches_every_phone_field_for_every_form():
    query = lookup_query(CONTACT, ["+15551234567", "(555) 123-4567"])
    assert query == (
        "?$select=contactid,fullname,mobilephone,telephone1,telephone2&$filter="
        "startswith(mobilephone,'%2B15551234567')%20or%20startswith(mobilephone,'%28555%29%20123-4567')%20or%20"
        "startswith(telephone1,'%2B15551234567')%20or%20startswith(telephone1,'%28555%29%20123-4567')%20or%20"
        "startswith(telephone2,'%2B15551234567')%20or%20startswith(telephone2,'%28555%29%20123-4567')&$top=50")
    assert lookup_query(ACCOUNT, ["1"]) == ("?$select=accountid,name,telephone1,telephone2&$filter="
                                            "startswith(telephone1,'1')%20or%20startswith(telephone2,'1')&$top=50")


def test_lookup_query_cannot_be_broken_out_of():
    q = lookup_query(CONTACT, ["1') or contains(fullname,'"])
    assert q.count("'") == 6 and q.count("&") == 2  # three literals, each opened and closed once
    literal = unquote(q.split("startswith(mobilephone,'", 1)[1].split("')", 1)[0])
    assert literal == "1'') or contains(fullname,''"


def test_lookup_query_of_the_forms_the_functions_send_stays_small():
    assert len(lookup_query(CONTACT, US)) < 4096  # well within a GET URL


# --- the records -------------------------------------------------------------------------------------

def test_parse_json_result_shapes():
    assert parse_json_result('{"a":1}') == {"a": 1}
    assert parse_json_result({"value": '{"0":{}}'}) == {"0": {}}
    assert parse_json_result({"value": 1, "other": 2}) == {"value": 1, "other": 2}
    with pytest.raises(NotificationError, match="not JSON: '<html>'"):
        parse_json_result("<html>")


@pytest.mark.parametrize("result, ids", [
    ('{"1":{"contactid":"b"},"0":{"contactid":"a"},"10":{"contactid":"k"},"2":{"contactid":"c"}}', ["a", "b", "c", "k"]),
    ([{"contactid": "a"}, "junk", {"contactid": "b"}], ["a", "b"]),
    ({"value": [{"contactid": "a"}]}, ["a"]),
    ({"x": {"contactid": "late"}, "0": {"contactid": "a"}}, ["a", "late"]),
    ({"0": "not a record"}, []), ("{}", []), ("5", []), (None, []),
])
def test_records_in_key_order(result, ids):
    assert [r["contactid"] for r in records(result)] == ids


@pytest.mark.parametrize("saved", [
    "+15551234567", "+1 (555) 123-4567", "(555) 123-4567", "555.123.4567", "555-123-4567", "1-555-123-4567",
    "(555) 123-4567 ext. 12", "555-123-4567x12", "555-123-4567 #12", "+1 555 123 4567", "  5551234567 ",
    "+1 555‑123‑4567",  # non-breaking hyphens
])
def test_the_same_number_in_the_formats_people_save(saved):
    assert same_number(saved, US)


@pytest.mark.parametrize("saved", ["555-123-45678", "+1 (555) 123-456", "+44 555 123 4567", "5551234568", "", "ext. 5551234567"])
def test_other_numbers_are_not_the_same(saved):
    assert not same_number(saved, US)


def test_national_and_international_forms_with_a_trunk_prefix():
    for saved in ("020 7946 0123", "+44 (0)20 7946 0123", "+44 20 7946 0123", "02079460123"):
        assert same_number(saved, GB), saved


def test_a_number_without_digits_is_compared_as_text():
    assert same_number(" Anonymous ", ("anonymous",))
    assert not same_number("anonymous caller", ("anonymous",))


def test_matching_records_keeps_the_callers_and_where_they_saved_the_number():
    result = {"0": {"contactid": "c1", "fullname": "Maria", "mobilephone": "+1 (555) 123-4567"},
              "1": {"contactid": "c2", "fullname": "Longer", "mobilephone": "+1 (555) 123-45678"},
              "2": {"contactid": "c3", "fullname": None, "mobilephone": None, "telephone2": "555.123.4567 ext. 9"},
              "3": {"fullname": "No id", "mobilephone": "+15551234567"},
              "4": {"contactid": 7, "fullname": "Numeric id", "telephone1": 5551234567}}
    assert matching_records(CONTACT, result, US) == [
        Caller("contact", "c1", "Maria", "+1 (555) 123-4567"), Caller("contact", "c3", "", "555.123.4567 ext. 9")]
    accounts = {"0": {"accountid": "a1", "name": "Contoso", "telephone1": "x", "telephone2": "+1 555-123-4567"}}
    assert matching_records(ACCOUNT, accounts, US) == [Caller("account", "a1", "Contoso", "+1 555-123-4567")]


# --- several callers ------------------------------------------------------------------------------------

LEE = [Caller("contact", "c1", "Chris Lee", "(555) 010-0300"), Caller("contact", "c2", "Pat Lee", " (555) 010-0300")]


def test_the_search_text_is_the_value_the_records_share_else_the_number():
    assert search_text(LEE, "+15550100300") == "(555) 010-0300"
    assert search_text([*LEE, Caller("account", "a", "Lee Ltd", "+1 555-010-0300")], "+15550100300") == "+15550100300"
    assert search_text([], "+15550100300") == "+15550100300"


def test_several_says_how_many_of_what():
    assert several(LEE) == "2 matching contacts"
    assert several([*LEE, Caller("account", "a", "Lee Ltd", "x")]) == "3 matching records"
    assert several([Caller("account", "a", "A", "x"), Caller("account", "b", "B", "x")]) == "2 matching accounts"


# --- the setting ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("setting, tables", [(None, ("contact",)), ("  ", ("contact",)), ("account", ("account",)),
                                             ("Contact, ACCOUNT,contact", ("contact", "account")),
                                             ("contact account", ("contact", "account"))])
def test_caller_tables(setting, tables):
    assert caller_tables(setting) == tables


def test_caller_tables_names_an_unknown_table():
    with pytest.raises(ValueError, match="lead"):
        caller_tables("contact,lead")
