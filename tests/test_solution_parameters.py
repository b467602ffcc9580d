"""One source of truth: the template parameters the widget sends (adaptor_core/
template_parameters.py, through adaptor_core.notifications) are exactly the
{placeholders} the solution's notification, session and tab templates use."""
from __future__ import annotations

from adaptor_core import template_parameters as tp
from adaptor_core.config import OPTIONAL
from adaptor_core.notifications import Caller, Lookup, parse_notification, template_parameters
from tools.solution import read_sources
from tools.solution.components import load, template_placeholders
from tools.solution.packager import fill

SOLUTION = load(fill(read_sources(), "https://example.test/widget/"))
CALL = parse_notification({"PhoneNumber": "+15551234567", "comments": "Billing question", "messageId": "m-1"})
ANN = Lookup((Caller("contact", "c0ffee00-0000-0000-0000-000000000001", "Ann Lee", "+15551234567"),))


def test_widget_sends_exactly_the_declared_parameters():
    assert set(template_parameters(CALL, ANN)) == set(tp.PARAMETERS) == set(template_parameters(CALL, Lookup()))


def test_every_placeholder_is_a_parameter_the_widget_sends_and_every_parameter_is_used():
    used = template_placeholders(SOLUTION)
    sent = set(tp.PARAMETERS)
    for template, names in used.items():
        assert names <= sent, f"{template} uses {names - sent}, which the widget never sends"
    assert set().union(*used.values()) == sent, f"sent but used by no template: {sent - set().union(*used.values())}"


def test_the_toast_shows_the_comment_and_the_case_takes_title_and_origin():
    note = SOLUTION.notifications[OPTIONAL["NotificationTemplate"]]
    assert f"{{{tp.COMMENT}}}" in [f.value for f in note.fields]
    case = SOLUTION.tabs[SOLUTION.sessions[OPTIONAL["SessionTemplate"]].tabs[0]]
    assert case.parameters["entityName"] == "incident"
    assert f'"caseorigincode":"{{{tp.CASE_ORIGIN}}}"' in case.parameters["data"]
    assert f'"title":"{{{tp.SUBJECT}}}"' in case.parameters["data"]
    assert template_parameters(CALL, ANN)[tp.CASE_ORIGIN] == tp.CASE_ORIGIN_PHONE == 1


def test_the_widgets_default_templates_are_the_solutions():
    assert OPTIONAL["NotificationTemplate"] in SOLUTION.notifications
    assert {OPTIONAL["SessionTemplate"], OPTIONAL["DefaultSessionTemplate"]} <= set(SOLUTION.sessions)
