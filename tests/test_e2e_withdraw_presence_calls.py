"""End-to-end flows of issue 17, part A (real server, real Chromium, the widget in the
local CIF host): a call withdrawn while it rings, the agent's presence reaching the
sender API, and an accepted call logged as a phone call activity completed when its
session closes. The fixtures are test_e2e_flows' (a stack of this module's own)."""
import json
import time
from urllib.parse import urlencode

import pytest

from tests import test_e2e_flows as flows
from tests.conftest import Api, Identity, wait_status
from tests.test_e2e_flows import MARIA, call, cif_calls, open_host, pending, shot, widget_frame

# the flows' fixtures: a stack of this module's own (module scope), a browser context per test
e2e, context = flows.e2e, flows.context

pytestmark = pytest.mark.browser
MARIA_ID = "4b1c6f2e-8d3a-4f5e-9a71-2c0d5e8b1a01"  # server/cifhost/static/contacts.json


def outcome_row(page, message_id: str):
    return widget_frame(page).locator(f'#recent li[data-message-id="{message_id}"]')


def wait_outcome(page, message_id: str, text: str) -> None:
    widget_frame(page).wait_for_function(
        "([id, text]) => { const li = document.querySelector(`#recent li[data-message-id=\"${id}\"]`);"
        " return li && li.dataset.outcome === text; }", arg=[message_id, text], timeout=15_000)


def presence_of(sender: Api, identity: Identity, user: str) -> dict:
    r = sender.call("GET", f"/api/agents/{identity.oid(user)}/presence")
    return r.json() if r.status_code == 200 else {"http": r.status_code}


def wait_presence(sender: Api, identity: Identity, user: str, text: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = presence_of(sender, identity, user)
        if body.get("presenceText") == text:
            return body
        time.sleep(0.05)
    raise AssertionError(f"presence stayed {body}, wanted {text!r}")


def test_caller_hangs_up_while_ringing(context, e2e):
    stack, identity, sender = e2e
    page, _ = open_host(context, stack)
    message_id = call(sender, identity)
    pending(page)
    r = sender.call("POST", f"/api/messages/{message_id}/cancel", {"reason": "caller_abandoned"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["reason"] == "caller_abandoned"
    page.wait_for_function("() => window.cifHost.pendingNotifications().length === 0", timeout=15_000)
    # withdrawn with the token the widget gave notifyEvent (third argument and in the input)
    (notified,) = cif_calls(page, "notifyEvent")
    token = notified["args"][2]
    assert token == message_id and notified["args"][0]["cancellationToken"] == token
    (cancelled,) = cif_calls(page, "cancelEvent")
    assert cancelled["args"] == [token, notified["args"][1]]  # the same correlation id
    assert [w["token"] for w in page.evaluate("() => window.cifHost.withdrawn()")] == [token]
    wait_outcome(page, message_id, "Withdrawn: caller_abandoned")
    time.sleep(0.5)
    assert page.evaluate("() => window.cifHost.tasks()") == [] and cif_calls(page, "createRecord") == []
    assert wait_status(sender, message_id, "cancelled")["reason"] == "caller_abandoned"
    shot(page, "17a-caller-hung-up")


def test_two_tabs_accept_in_one_withdraws_the_other(context, e2e):
    stack, identity, sender = e2e
    first, _ = open_host(context, stack)
    second, _ = open_host(context, stack)
    message_id = call(sender, identity)
    pending(first)
    pending(second)
    first.get_by_role("button", name="Accept").first.click()
    second.wait_for_function("() => window.cifHost.pendingNotifications().length === 0", timeout=15_000)
    (cancelled,) = cif_calls(second, "cancelEvent")
    assert cancelled["args"][0] == cif_calls(second, "notifyEvent")[0]["args"][2]
    wait_outcome(second, message_id, "Answered in another tab (accepted)")
    wait_outcome(first, message_id, "Accepted")
    time.sleep(0.5)
    assert second.evaluate("() => window.cifHost.tasks()") == [] and cif_calls(second, "createRecord") == []
    assert cif_calls(first, "cancelEvent") == []  # the tab that answered keeps its session
    body = wait_status(sender, message_id, "accepted")
    assert body["reason"] == "Accept/Accept"
    shot(second, "17a-withdrawn-in-second-tab")


def test_presence_changes_reach_the_sender_api_and_hold_calls(context, e2e):
    stack, identity, sender = e2e
    page, _ = open_host(context, stack)
    # read at start (getPresence) and reported once the connection is registered
    body = wait_presence(sender, identity, "alice", "Available")
    assert body["status"] == "available" and body["connections"] >= 1
    page.select_option("#presence", label="Busy - DND")  # the agent picks it in the top bar
    body = wait_presence(sender, identity, "alice", "Busy - DND")
    assert body["status"] == "do_not_disturb" and body["basePresenceStatus"] == "BUSY_DND"
    listed = sender.call("GET", "/api/agents/presence").json()["agents"]
    assert any(a["userId"] == identity.oid("alice") and a["status"] == "do_not_disturb" for a in listed)
    # do-not-disturb: the call waits (UnavailableAgentCalls = queue) …
    message_id = call(sender, identity)
    assert wait_status(sender, message_id, "queued")
    time.sleep(0.5)
    assert cif_calls(page, "notifyEvent") == []
    # … and rings once the agent is available again
    page.select_option("#presence", label="Available")
    wait_presence(sender, identity, "alice", "Available")
    pending(page)
    page.get_by_role("button", name="Reject").first.click()
    wait_status(sender, message_id, "rejected")
    shot(page, "17a-presence")


def test_accepted_call_is_logged_and_completed_when_the_session_closes(context, e2e):
    stack, identity, sender = e2e
    page, _ = open_host(context, stack)
    message_id = call(sender, identity, subject="Upgrade the plan")
    pending(page)
    page.get_by_role("button", name="Accept").first.click()
    wait_status(sender, message_id, "accepted")
    page.wait_for_function("() => window.cifHost.phoneCalls().length === 1", timeout=15_000)
    (activity,) = page.evaluate("() => window.cifHost.phoneCalls()")
    assert activity["subject"] == "Upgrade the plan" and activity["phonenumber"] == MARIA[0]
    assert activity["directioncode"] is False and activity["statecode"] == 0
    assert activity["regarding"] == {"entity": "contact", "id": MARIA_ID, "name": MARIA[1]}
    assert outcome_row(page, message_id).get_attribute("data-phonecall-id") == activity["id"]
    (session,) = page.evaluate("() => window.cifHost.sessions()")
    shot(page, "17a-phone-call-open")
    page.locator(f'.tab[data-session-id="{session["sessionId"]}"] .tab-close').click()
    page.wait_for_function("() => window.cifHost.phoneCalls()[0].statecode === 1", timeout=15_000)
    (activity,) = page.evaluate("() => window.cifHost.phoneCalls()")
    assert activity["statuscode"] == 4 and activity["actualdurationminutes"] >= 1  # a started minute counts
    assert activity["actualend"] >= activity["actualstart"]
    (update,) = cif_calls(page, "updateRecord")
    assert update["args"][:2] == ["phonecall", activity["id"]]
    shot(page, "17a-phone-call-completed")


def test_call_logging_off_creates_no_phone_call(context, e2e):
    stack, identity, sender = e2e
    # the widget framed directly (as the landing page opens it) with CallLogging=off in its URL
    widget = f"{stack.widget_url}?" + urlencode({"ucilib": f"{stack.url}/webresources/Widget/msdyn_ciLibrary.js",
                                                  "CallLogging": "off"})
    page, _ = open_host(context, stack, query="?" + urlencode({"widget": widget}))
    message_id = call(sender, identity)
    pending(page)
    page.get_by_role("button", name="Accept").first.click()
    wait_status(sender, message_id, "accepted")
    wait_outcome(page, message_id, "Accepted")
    (session,) = page.evaluate("() => window.cifHost.sessions()")
    page.evaluate(f"() => window.cifHost.closeSession({json.dumps(session['sessionId'])})")
    time.sleep(0.5)
    assert page.evaluate("() => window.cifHost.phoneCalls()") == []
    assert cif_calls(page, "createRecord") == [] and cif_calls(page, "updateRecord") == []
