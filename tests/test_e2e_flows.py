"""End-to-end flows (issue 7): real server, real Chromium, the widget in the local CIF
host exactly as Dynamics frames it (host on 127.0.0.1, widget on localhost).

Each flow leaves a screenshot in test-artifacts/. The module runs on a stack of its own
so calls left open by other tests are not redelivered into these flows."""
import json
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.conftest import (
    ARTIFACTS,
    DIAL_SECRET,
    Api,
    Identity,
    call_payload,
    chromium_context,
    sign_in_popup,
    start_stack,
    status_of,
    stop_stack,
    wait_status,
)

pytestmark = pytest.mark.browser
MARIA = ("+15551234567", "Maria Campbell")
ANN = ("+15557654321", "Ann <b>O'Neil</b>")

WATCH_STATUS = """
(() => {
  window.__states = [];
  const watch = () => {
    const el = document.getElementById('status');
    if (!el) return setTimeout(watch, 5);
    window.__states.push(el.dataset.state);
    new MutationObserver(() => window.__states.push(el.dataset.state))
      .observe(el, {attributes: true, attributeFilter: ['data-state']});
  };
  watch();
})();
"""


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, dial_receiver):
    """The module's own stack; its dial webhook is the module's local receiver."""
    stack = start_stack(tmp_path_factory.mktemp("e2e-stack"),
                        env={"DialWebhookUrl": dial_receiver.url, "DialWebhookSecret": DIAL_SECRET})
    identity = Identity(stack, json.loads((stack.state_dir / "identity.json").read_text()))
    yield stack, identity, Api(stack, identity.sender_token())
    stop_stack(stack)


@pytest.fixture
def context(playwright_instance, e2e):
    with chromium_context(playwright_instance, e2e[0].certs) as ctx:
        ctx.add_init_script(WATCH_STATUS)
        yield ctx


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_host(context, stack, user="alice", query=""):
    page = context.new_page()
    sign_in_popup(context, page, f"{stack.url}/{query}", user)
    widget = page.frame_locator("#widget-frame")
    widget.locator("body[data-registered]").wait_for(timeout=60_000)
    return page, widget


def call(sender, identity, user="alice", phone=MARIA[0], **fields):
    body = {"userId": identity.oid(user), "message": call_payload(phone=phone, **fields)}
    for key in ("ttlSeconds", "messageId"):
        if key in fields:
            body[key] = body["message"].pop(key)
    r = sender.call("POST", "/api/SendMessageToUser", body)
    assert r.status_code == 202, r.text
    return r.json()["messageId"]


def widget_frame(page):
    return next(f for f in page.frames if "/widget/" in f.url)


def cif_calls(page, method: str) -> list:
    return [c for c in page.evaluate("() => window.cifLog") if c["method"] == method]


def pending(page, count: int = 1, timeout: float = 15_000):
    page.wait_for_function(f"() => window.cifHost.pendingNotifications().length >= {count}", timeout=timeout)
    return page.evaluate("() => window.cifHost.pendingNotifications()")


def accept_the_only_call(page) -> dict:
    """Accept on the toast; the session it opens (the page's only one)."""
    page.get_by_role("button", name="Accept").first.click()
    page.wait_for_function("() => window.cifHost.sessions().length === 1")
    (session,) = page.evaluate("() => window.cifHost.sessions()")
    return session


def test_01_sign_in_gray_to_green(context, e2e):
    stack, identity, _ = e2e
    page, widget = open_host(context, stack)
    states = widget_frame(page).evaluate("() => window.__states")
    assert states[0] == "disconnected" and states[-1] == "connected"
    assert "connecting" in states
    assert widget.locator("#user").text_content() == "Signed in as alice@contoso.test"
    page.wait_for_function("() => window.cifLog.some(c => c.method === 'setMode')")
    assert [c["args"] for c in cif_calls(page, "setClickToAct")] == [[True]]
    assert [c["args"] for c in cif_calls(page, "setMode")] == [[1]]
    shot(page, "01-sign-in-green")


def test_02_known_caller_accept_opens_session(context, e2e):
    stack, identity, sender = e2e
    page, widget = open_host(context, stack)
    # The widget got its settings from the landing web resource, which read them through
    # the (local) Dataverse Web API and passed them as URL parameters.
    url = urlsplit(widget_frame(page).url)
    settings = stack.session().get(stack.widget_url + "config.json").json()
    assert url.path == "/widget/" and {k: v for k, v in parse_qs(url.query).items() if k in settings} == \
        {k: [v] for k, v in settings.items()}
    message_id = call(sender, identity, interactionId="int-02", comments="Wants to upgrade the plan")
    (n,) = pending(page)
    assert n["templateName"] == "cifad_voice_notification"
    # The caller's +15551234567 matches the contact whose mobile phone is saved "+1 (555) 123-4567".
    assert n["templateParameters"]["customerName"] == MARIA[1]
    # The toast as the solution's notification template renders it: title and fields.
    toast = page.locator(".toast").first
    assert toast.locator(".toast-title").text_content() == f"Incoming call: {MARIA[1]}"
    assert toast.locator('dd[data-field="cifad_comment"]').text_content() == "Wants to upgrade the plan"
    assert toast.locator('dd[data-field="cifad_phonenumber"]').text_content() == MARIA[0]
    shot(page, "02-notification")
    page.get_by_role("button", name="Accept").first.click()
    page.wait_for_function("() => window.cifHost.sessions().length === 1")
    (session,) = page.evaluate("() => window.cifHost.sessions()")
    assert session["templateName"] == "cifad_voice_identified_session"
    assert session["title"] == f"Call: {MARIA[1]}"
    params = session["templateParameters"]
    assert params["customerRecordId"] and params["extn_phonenumber"] == MARIA[0]
    assert params["extn_interactionid"] == "int-02" and params["customerEntityName"] == "contact"
    # The anchor tab: a new case titled from the subject, its origin Phone (option value 1).
    case = page.locator('.session-view:not([hidden]) .app-tab[data-tab="cifad_case_tab"]')
    assert case.get_attribute("data-anchor") == "true"
    assert case.locator(".app-tab-title").text_content() == f"New case: Phone call from {MARIA[1]}"
    assert case.locator('td[data-field="title"]').text_content() == f"Phone call from {MARIA[1]}"
    assert case.locator('td[data-field="origin"]').text_content() == "Phone"
    assert case.locator('td[data-field="customer"]').text_content() == MARIA[1]
    contact = page.locator('.session-view:not([hidden]) .app-tab[data-tab="cifad_customer_tab"]')
    assert contact.locator(".app-tab-title").text_content() == MARIA[1]
    assert contact.locator('td[data-field="entityId"]').text_content() == params["customerRecordId"]
    wait_status(sender, message_id, "accepted")
    shot(page, "02-accepted-session")


def test_03_reject_records_a_task(context, e2e):
    stack, identity, sender = e2e
    page, _ = open_host(context, stack)
    message_id = call(sender, identity)
    pending(page)
    page.get_by_role("button", name="Reject").first.click()
    page.wait_for_function("() => window.cifHost.tasks().length === 1")
    (task,) = page.evaluate("() => window.cifHost.tasks()")
    assert task["subject"] == "Reject - DeclinedByAgent" and MARIA[1] in task["description"]
    assert wait_status(sender, message_id, "rejected")["reason"] == "Reject/DeclinedByAgent"
    shot(page, "03-rejected-task")


def test_04_unanswered_call_times_out_as_missed(context, e2e):
    stack, identity, sender = e2e
    page, _ = open_host(context, stack, query="?timeout=3")
    message_id = call(sender, identity)
    pending(page)
    page.wait_for_function("() => window.cifHost.tasks().length === 1", timeout=15_000)
    assert page.evaluate("() => window.cifHost.tasks()")[0]["subject"] == "Timeout - DisplayTimeout"
    wait_status(sender, message_id, "missed")
    shot(page, "04-missed-task")


def test_05_unknown_number_shows_the_number_and_still_opens_a_session(context, e2e):
    stack, identity, sender = e2e
    page, _ = open_host(context, stack)
    message_id = call(sender, identity, phone="+15550009999")
    (n,) = pending(page)
    assert n["templateParameters"]["customerName"] == "+15550009999"
    assert n["templateParameters"]["customerRecordId"] == ""
    shot(page, "05-unknown-caller")
    session = accept_the_only_call(page)
    assert session["templateName"] == "cifad_voice_unknown_session" and session["title"] == "Call: +15550009999"
    assert [t["name"] for t in session["tabs"]] == ["cifad_search_tab"]
    assert session["tabs"][0]["parameters"]["searchText"] == "+15550009999"
    wait_status(sender, message_id, "accepted")


def test_05b_two_matching_contacts_open_the_search_page_prefilled(context, e2e):
    """Chris and Pat Lee share the home phone "(555) 010-0300": a call from +15550100300
    names both on the toast, and Accept opens the unknown-caller session, whose search
    page is pre-filled with the number as they save it and lists the two."""
    stack, identity, sender = e2e
    page, widget = open_host(context, stack)
    message_id = call(sender, identity, phone="+15550100300")
    (n,) = pending(page)
    assert n["templateParameters"]["customerName"] == "+15550100300 (2 matching contacts)"
    assert n["templateParameters"]["customerRecordId"] == ""
    assert page.locator(".toast .toast-title").first.text_content() == \
        "Incoming call: +15550100300 (2 matching contacts)"
    assert widget.locator("#recent li .call").first.text_content() == "2 matching contacts · +15550100300"
    session = accept_the_only_call(page)
    assert session["templateName"] == "cifad_voice_unknown_session"
    assert session["tabs"][0]["parameters"]["searchText"] == "(555) 010-0300"
    results = page.locator('.session-view:not([hidden]) .search-results')
    assert results.get_attribute("data-count") == "2"
    assert sorted(results.locator("tbody tr td:first-child").all_text_contents()) == ["Chris Lee", "Pat Lee"]
    wait_status(sender, message_id, "accepted")
    shot(page, "05b-two-matches-search-page")


def test_06_two_tabs_both_notified_outcome_recorded_once(context, e2e):
    stack, identity, sender = e2e
    first, _ = open_host(context, stack)
    second, _ = open_host(context, stack)  # sessionStorage is per tab: it signs in too
    message_id = call(sender, identity)
    pending(first)
    pending(second)
    first.get_by_role("button", name="Accept").first.click()
    wait_status(sender, message_id, "accepted")
    # the other tab's toast is withdrawn (cancelEvent): nothing left to answer, no task
    second.wait_for_function("() => window.cifHost.pendingNotifications().length === 0")
    time.sleep(0.5)
    assert second.evaluate("() => window.cifHost.tasks()") == []
    body = status_of(sender, message_id)
    assert body["status"] == "accepted" and body["deliveries"] >= 1
    shot(second, "06-second-tab")


def test_07_offline_agent_gets_queued_call_once_on_sign_in(context, e2e):
    stack, identity, sender = e2e
    message_id = call(sender, identity, user="bob", ttlSeconds=60)
    assert status_of(sender, message_id)["status"] == "queued"
    page, _ = open_host(context, stack, user="bob")
    pending(page)
    time.sleep(1.0)
    assert len(cif_calls(page, "notifyEvent")) == 1
    page.get_by_role("button", name="Accept").first.click()
    wait_status(sender, message_id, "accepted")
    shot(page, "07-queued-delivered")


def test_10_bob_never_sees_alices_calls(playwright_instance, e2e):
    stack, identity, sender = e2e
    with chromium_context(playwright_instance, stack.certs) as alice_ctx, \
            chromium_context(playwright_instance, stack.certs) as bob_ctx:
        alice, _ = open_host(alice_ctx, stack, "alice")
        bob, _ = open_host(bob_ctx, stack, "bob")
        message_id = call(sender, identity, user="alice")
        pending(alice)
        time.sleep(1.0)
        assert cif_calls(bob, "notifyEvent") == []
        alice.get_by_role("button", name="Reject").first.click()
        wait_status(sender, message_id, "rejected")
        shot(bob, "10-bob-quiet")


def test_11_hostile_text_is_rendered_as_text(context, e2e):
    stack, identity, sender = e2e
    page, widget = open_host(context, stack)
    page.evaluate("() => { window.__canary = 'intact'; }")
    widget_frame(page).evaluate("() => { window.__canary = 'intact'; }")
    hostile = '<img src=x onerror="window.__canary=\'pwned\'"><script>window.__canary="pwned"</script>'
    call(sender, identity, phone=ANN[0], comments=hostile)
    (n,) = pending(page)
    assert n["templateParameters"]["customerName"] == ANN[1]
    assert page.get_by_text(hostile).first.is_visible()  # shown literally
    assert page.get_by_text(ANN[1]).first.is_visible()
    # a phone with a quote: doubled for OData, then URL-encoded, in the recorded lookup (a number
    # libphonenumber can't read is searched as sent)
    call(sender, identity, phone="+1555'0001")
    page.wait_for_function("() => window.cifLog.filter(c => c.method === 'searchAndOpenRecords').length >= 2")
    query = cif_calls(page, "searchAndOpenRecords")[-1]["args"][1]
    assert "startswith(mobilephone,'%2B1555%27%270001')" in query
    assert unquote(query.split("startswith(mobilephone,'", 1)[1].split("')", 1)[0]) == "+1555''0001"
    time.sleep(0.5)
    assert page.evaluate("() => window.__canary") == "intact"
    assert widget_frame(page).evaluate("() => window.__canary") == "intact"
    assert widget.locator("#recent img").count() == 0
    shot(page, "11-hostile-text")


def test_12_a_click_on_a_number_dials_through_the_signed_webhook(context, e2e, dial_receiver):
    """onclicktoact → requestDial → the functions store the dial and POST it, signed, to the
    telephony system's webhook (the local receiver checks the signature); the widget shows
    the dial's progress and the sender API its state."""
    stack, identity, sender = e2e
    page, widget = open_host(context, stack)
    before = len(dial_receiver.received)
    page.locator("#contacts button.phone", has_text="+1 (555) 123-4567").click()
    payload = json.loads(widget.locator("body[data-click-to-act]").get_attribute("data-click-to-act", timeout=10_000))
    assert payload == {"value": "+1 (555) 123-4567", "name": "mobilephone", "format": "phone",
                       "entityLogicalName": "contact"}
    row = widget.locator('#recent li.dial[data-dial-status="delivered"]')
    row.wait_for(timeout=15_000)
    assert row.locator(".outcome").text_content() == "sent to the phone system"
    assert len(dial_receiver.received) == before + 1 and not dial_receiver.rejected
    dial = dial_receiver.received[-1]
    maria = next(c for c in stack.session().get(stack.url + "/cifhost/static/contacts.json").json()
                 if c["fullname"] == MARIA[1])
    assert dial["userId"] == identity.oid("alice") and dial["number"] == MARIA[0]
    assert dial["requestedNumber"] == "+1 (555) 123-4567" and dial["extension"] is None
    assert dial["record"] == {"entityLogicalName": "contact", "field": "mobilephone", "entityId": maria["contactid"],
                              "name": MARIA[1]}
    state = sender.call("GET", f"/api/dials/{row.get_attribute('data-dial-id')}").json()
    assert (state["status"], state["attempts"], state["number"]) == ("delivered", 1, MARIA[0])
    assert state["dialId"] == dial["dialId"] and state["completedAt"]
    shot(page, "12-click-to-dial")


def test_13_a_service_close_without_reconnect_stops_the_widget_and_says_why(context, e2e):
    """The service closes the agent's connection through its REST API (Close without
    allowReconnect) with a long non-ASCII reason: the widget closes its socket (the reason
    cut to the WebSocket's 123 UTF-8 bytes, or the browser throws), shows why, and does
    not come back on its own."""
    from tests.test_inputs_at_the_door import local_signalr

    stack, identity, sender = e2e
    page, widget = open_host(context, stack)
    frame = widget_frame(page)
    connection_id = frame.evaluate("() => document.body.dataset.registered")
    reason = "Connexion fermée par l’administrateur — réessayez plus tard. " * 4
    service = local_signalr(stack)
    url = service.rest_url("myhub", "connections", connection_id)
    r = stack.session().delete(url, params={"reason": reason}, headers={"Authorization": f"Bearer {service.rest_token(url)}"})
    assert r.status_code == 200
    widget.locator("#status[data-state=disconnected]").wait_for(timeout=15_000)
    shown = widget.locator("#status-reason").text_content()
    assert "asked not to reconnect" in shown and reason.strip() in shown
    time.sleep(3)  # a reconnect would start at once (first retry: 0 s) and show within the core's 1 s tick
    states = frame.evaluate("() => window.__states")
    since_connected = states[len(states) - 1 - states[::-1].index("connected"):]
    assert since_connected == ["connected", "disconnected"], states
    shot(page, "13-service-close")
