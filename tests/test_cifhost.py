"""The local CIF host (docs/cif.md) in real Chromium with a stub widget that loads
msdyn_ciLibrary.js exactly as the widget does, and the dev console (real msal, real
functions, real store)."""
from __future__ import annotations

import asyncio
import html
import json
import re
import time
import uuid
from urllib.parse import quote

import pytest

from adaptor_core.caller_match import TABLES, lookup_query
from adaptor_core.config import OPTIONAL
from adaptor_core.notifications import Caller, Lookup, Notification, template_parameters
from tests.conftest import new_agent, run_async

NOTIFICATION, KNOWN, UNKNOWN = (OPTIONAL[k] for k in ("NotificationTemplate", "SessionTemplate",
                                                      "DefaultSessionTemplate"))

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STUB_PATH = "/stub-widget.html"
CHILD_PATH = "/evil-child.html"

# An exact lookup as docs/cif.md describes a value in a query: OData-escaped, then URL-encoded.
LOOKUP_JS = """phone => "?$select=contactid,fullname,mobilephone&$filter=mobilephone eq '"
                        + encodeURIComponent(phone.replace(/'/g, "''")) + "'" """


def stub_widget(stack) -> str:
    """A minimal widget: loads the library like web/index.html will, does the start-up
    calls of docs/cif.md and exposes helpers the tests drive through frame.evaluate."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>stub widget</title>
<script src="{stack.url}/webresources/Widget/msdyn_ciLibrary.js"
        data-crmurl="{stack.url}" data-cifid="CIFMainLibrary"></script>
</head><body><p>Stub widget</p>
<script>
  window.received = [];
  const CIF = Microsoft.CIFramework;
  window.CIF = CIF;
  const record = name => payload => {{ window.received.push({{name, payload}}); return Promise.resolve(); }};
  window.settle = p => p.then(value => ({{ok: true, value}}), error => ({{ok: false, error}}));
  window.started = (async () => {{
    await CIF.setClickToAct(true);
    await CIF.addHandler("onclicktoact", record("onclicktoact"));
    await CIF.addHandler("onSessionSwitched", record("onSessionSwitched"));
    await CIF.addHandler("onSessionClosed", record("onSessionClosed"));
    await CIF.setMode(1);
    window.ready = true;
  }})();
  // A call the library has no method for, in the library's own wire format.
  window.rawCall = (method, args) => new Promise(resolve => {{
    const id = "raw-" + Math.random();
    addEventListener("message", function answer(e) {{
      if (e.data && e.data.id === id) {{ removeEventListener("message", answer); resolve(e.data); }}
    }});
    parent.postMessage({{cif: "call", id, method, args}}, "{stack.url}");
  }});
  window.addChild = url => new Promise(resolve => {{
    const f = document.createElement("iframe");
    f.onload = () => resolve(true);
    f.src = url;
    document.body.append(f);
  }});
</script></body></html>"""


EVIL_CHILD = """<!doctype html><html><body><script>
  window.replies = [];
  addEventListener("message", e => window.replies.push(e.data));
  const forged = {cif: "call", id: "c1", method: "createSession",
                  args: [{templateName: "forged", templateParameters: {customerName: "Forged"}}]};
  top.postMessage(forged, "*");
  parent.postMessage(forged, "*");
  top.postMessage({cif: "handled", id: "e1", ok: true}, "*");
  window.posted = true;
</script></body></html>"""


def widget_origin(stack) -> str:
    return f"https://localhost:{stack.port}"


def open_host(context, stack, timeout: float | None = 30):
    """The host page with the stub widget in its panel; returns (page, widget frame)."""
    stub = widget_origin(stack) + STUB_PATH
    # A fulfilled response has no IP address, so Chromium's Local Network Access rules
    # treat the stub as a public page and block its loopback requests (the library);
    # the real widget is served from loopback and needs no such grant.
    context.grant_permissions(["local-network-access"], origin=stack.url)
    context.route(stub, lambda route: route.fulfill(status=200, content_type="text/html", body=stub_widget(stack)))
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{stack.url}/?widget={quote(stub, safe='')}" + (f"&timeout={timeout:g}" if timeout else ""))
    console: list[str] = []
    context.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    context.on("requestfailed", lambda r: console.append(f"failed: {r.url} {r.failure}"))
    try:
        page.wait_for_function("() => window.cifLog && window.cifLog.some(e => e.method === 'setMode')",
                               timeout=30_000)
    except Exception:
        raise AssertionError(f"stub did not start: log={page.evaluate('() => window.cifLog')} "
                             f"frames={[f.url for f in page.frames]} console={console} errors={errors}") from None
    assert page.evaluate("() => document.getElementById('widget-frame').src") == stub
    frame = next(f for f in page.frames if f.url == stub)
    frame.wait_for_function("() => window.ready === true", timeout=10_000)
    page.errors = errors
    return page, frame


def cif(frame, method: str, *args):
    """Call Microsoft.CIFramework.<method>(*args) in the widget; {ok, value|error}."""
    return frame.evaluate("([m, args]) => settle(CIF[m](...args))", [method, list(args)])


def log_entries(page, method: str | None = None) -> list[dict]:
    entries = page.evaluate("() => window.cifLog")
    return [e for e in entries if method is None or e["method"] == method]


def received(frame, name: str, count: int = 1) -> list:
    frame.wait_for_function("([n, c]) => received.filter(r => r.name === n).length >= c", arg=[name, count],
                            timeout=5_000)
    return [r["payload"] for r in frame.evaluate("() => received") if r["name"] == name]


def notify_input(customer: str | None, comments: str = "Billing question", phone: str = "+15551234567") -> dict:
    """notifyEvent's input as the widget's core builds it (None: an unknown caller)."""
    call = Notification(phone, comments, None, "int-" + (customer or phone), "voice")
    lookup = Lookup((Caller("contact", str(uuid.uuid4()), customer, phone),) if customer else ())
    return {"templateName": NOTIFICATION, "templateParameters": template_parameters(call, lookup)}


# --- serving ------------------------------------------------------------------------------------

def test_host_page_frames_the_channel_providers_landing_page(stack):
    # As Dynamics: the panel frames the provider's channel URL (the solution's web resource,
    # on the host's origin), which opens the widget on the provider's trusted domain.
    s = stack.session()
    r = s.get(stack.url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    src = html.unescape(re.search(r'<iframe id="widget-frame" data-src="([^"]+)"', r.text).group(1))
    assert src == f"https://127.0.0.1:{stack.port}/WebResources/cifad_/adaptor/landing.html"
    assert f'data-widget-origin="https://localhost:{stack.port}"' in r.text
    csp = r.headers["content-security-policy"]
    assert f"frame-src 'self' https://localhost:{stack.port};" in csp and "script-src 'self';" in csp
    assert 'data-timeout=""' in r.text  # the templates' msdyn_timeout applies
    templates = json.loads(html.unescape(re.search(r'<script type="application/json" id="cif-templates">(.*?)</script>',
                                                   r.text, re.S).group(1)))
    assert templates["notificationTemplates"]["cifad_voice_notification"]["timeout"] == 30

    lib = s.get(stack.url + "/webresources/Widget/msdyn_ciLibrary.js")
    assert lib.status_code == 200 and lib.headers["content-type"].startswith("text/javascript")
    assert "window.Microsoft.CIFramework" in lib.text
    for path, kind in (("host.js", "text/javascript"), ("dataverse.js", "text/javascript"), ("host.css", "text/css"),
                       ("contacts.json", "application/json"), ("accounts.json", "application/json")):
        got = s.get(f"{stack.url}/cifhost/static/{path}")
        assert got.status_code == 200 and got.headers["content-type"].startswith(kind), path
    # Seeded as people save numbers: human formats, an extension, two contacts sharing a home phone.
    contacts = s.get(stack.url + "/cifhost/static/contacts.json").json()
    assert len(contacts) >= 8 and all(GUID.match(c["contactid"]) and c["fullname"] for c in contacts)
    phones = [c[f] for c in contacts for f in ("mobilephone", "telephone1", "telephone2") if c[f]]
    assert {"+1 (555) 123-4567", "555.010.0200", "(555) 010-0250 ext. 12", "+15557654321"} <= set(phones)
    assert phones.count("(555) 010-0300") == 2
    accounts = s.get(stack.url + "/cifhost/static/accounts.json").json()
    assert accounts and all(GUID.match(a["accountid"]) and a["name"] and a["telephone1"] for a in accounts)
    assert s.get(stack.url + "/cifhost/static/../../settings.py").status_code == 404


def test_widget_override_must_be_a_loopback_origin(stack):
    s = stack.session()
    ok = f"https://localhost:{stack.port}/stub-widget.html"
    r = s.get(stack.url + "/", params={"widget": ok, "timeout": "2"})
    assert r.status_code == 200 and f'data-src="{ok}"' in r.text and 'data-timeout="2"' in r.text
    for bad in ("https://example.com/widget/", "https://localhost.example.com/", "javascript:alert(1)",
                "//localhost/x", "https://127.0.0.1:99999/", "data:text/html,hi"):
        r = s.get(stack.url + "/", params={"widget": bad})
        assert r.status_code == 400 and r.json()["error"] == "bad_widget_url", bad
    for bad in ("0", "-1", "abc", "nan", "inf", "100000"):
        r = s.get(stack.url + "/", params={"timeout": bad})
        assert r.status_code == 400 and r.json()["error"] == "bad_timeout", bad


# --- the CIF API through the real library ------------------------------------------------------

@pytest.mark.browser
def test_start_up_calls_are_answered_and_logged(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    page.wait_for_function("() => window.cifLog.length >= 5")
    log = log_entries(page)
    assert [(e["method"], e["args"]) for e in log] == [
        ("setClickToAct", [True]), ("addHandler", ["onclicktoact"]), ("addHandler", ["onSessionSwitched"]),
        ("addHandler", ["onSessionClosed"]), ("setMode", [1])]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT", e["at"]) for e in log)
    assert page.evaluate("() => cifHost.handlers()") == {"onclicktoact": 1, "onSessionSwitched": 1, "onSessionClosed": 1}
    assert page.text_content("#cta-state") == "Click-to-act: on"
    assert page.text_content("#mode-state") == "Panel: docked"
    assert page.locator("#cif-log .log-entry").count() == 5
    assert page.locator("#cif-log .log-entry[data-state=ok]").count() == 5

    assert cif(frame, "getMode") == {"ok": True, "value": 1}
    env = json.loads(cif(frame, "getEnvironment")["value"])
    assert env["userId"] == "local-agent" and env["crmVersion"] == "9.2"
    assert env["clientUrl"] == stack.url and env["appUrl"].startswith(stack.url) and GUID.match(env["orgId"])
    assert cif(frame, "setMode", 0)["ok"]
    assert page.evaluate("() => cifHost.mode()") == 0 and page.text_content("#mode-state") == "Panel: minimized"
    assert page.locator("#panel").bounding_box()["width"] < 60
    assert cif(frame, "setMode", 1)["ok"]
    assert page.locator("#panel").bounding_box()["width"] == pytest.approx(340, abs=1)
    bad = cif(frame, "setMode", 7)
    assert bad["ok"] is False and bad["error"]["msdyn_name"] == "SetMode"
    assert page.errors == []


@pytest.mark.browser
def test_search_resolves_records_as_a_json_string(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    query = frame.evaluate(f"({LOOKUP_JS})('+15557654321')")
    assert "%2B15557654321" in query
    known = cif(frame, "searchAndOpenRecords", "contact", query, True)
    assert known["ok"] and isinstance(known["value"], str)
    records = json.loads(known["value"])
    assert list(records) == ["0"]
    assert records["0"]["fullname"] == "Ann <b>O'Neil</b>" and records["0"]["mobilephone"] == "+15557654321"
    assert GUID.match(records["0"]["contactid"]) and set(records["0"]) == {"contactid", "fullname", "mobilephone"}
    assert log_entries(page, "searchAndOpenRecords")[-1]["args"] == ["contact", query, True]  # exactly as sent

    # eq is exact: the E.164 number does not find a contact saved in a human format …
    exact = cif(frame, "searchAndOpenRecords", "contact", frame.evaluate(f"({LOOKUP_JS})('+15551234567')"), True)
    assert exact == {"ok": True, "value": "{}"}
    # … the widget's startswith over its forms does, in every phone column, case-insensitively.
    forms = ["+15551234567", "+1 (555) 123-4567", "(555) 123-4567", "(555) 010-0250", "(555) 010-0300"]
    found = json.loads(cif(frame, "searchAndOpenRecords", "contact", lookup_query(TABLES["contact"], forms), True)["value"])
    assert sorted(r["fullname"] for r in found.values()) == ["Chris Lee", "Jim Glynn", "Maria Campbell", "Pat Lee"]
    assert set(found["0"]) == {"contactid", "fullname", "mobilephone", "telephone1", "telephone2"}
    jim = next(r for r in found.values() if r["fullname"] == "Jim Glynn")
    assert jim["telephone1"] == "(555) 010-0250 ext. 12"  # a saved extension after the number
    accounts = json.loads(cif(frame, "searchAndOpenRecords", "account", lookup_query(TABLES["account"], forms), True)["value"])
    assert [r["name"] for r in accounts.values()] == ["Fabrikam, Inc."]

    # OData: '' in a literal, not(), and/or and parentheses, null, LIKE wildcards and their escapes, $top.
    def names(q, entity="contact"):
        answer = cif(frame, "searchAndOpenRecords", entity, q, True)
        assert answer["ok"], answer
        return sorted(r.get("fullname") or r.get("name") for r in json.loads(answer["value"]).values())
    assert names("?$filter=" + quote("fullname eq 'ann <B>o''neil</b>'", safe="")) == ["Ann <b>O'Neil</b>"]
    assert names("?$filter=" + quote("startswith(fullname,'%lee') and not (telephone2 eq null)", safe="")) == \
        ["Chris Lee", "Pat Lee"]
    assert names("?$filter=" + quote("contains(telephone1,'[_]') or endswith(fullname,'[_]ay')", safe="")) == []
    assert names("?$filter=" + quote("endswith(fullname,'M_Kay') or mobilephone eq '+15557654321'", safe="")) == \
        ["Ann <b>O'Neil</b>", "Yvonne McKay"]
    assert len(names("?$select=fullname&$top=2")) == 2
    assert names("?$select=name&$filter=" + quote("telephone1 ne null", safe=""), "account") == \
        ["Contoso Pharmaceuticals", "Fabrikam, Inc."]

    # searchOnly false: one record opens, $search (or several records) opens the search page.
    encoded = "?$filter=" + quote("mobilephone eq '+15557654321'", safe="")
    ann = json.loads(cif(frame, "searchAndOpenRecords", "contact", encoded, False)["value"])
    assert ann["0"]["fullname"] == "Ann <b>O'Neil</b>"
    assert page.locator('#contacts tr[data-opened="true"] td').first.text_content() == "Ann <b>O'Neil</b>"
    assert page.evaluate("() => cifHost.searchPage()") is None
    searched = "?$select=fullname&$filter=" + quote("telephone2 eq '(555) 010-0300'", safe="") + "&$search=" + \
        quote("(555) 010-0300", safe="")
    assert cif(frame, "searchAndOpenRecords", "contact", searched, False)["ok"]
    assert page.evaluate("() => cifHost.searchPage()") == {"searchText": "(555) 010-0300", "count": 2}
    assert page.locator("#search-card .search-results tbody tr").all_text_contents() == \
        ["Chris Leecontact(555) 010-0300", "Pat Leecontact+1 555-010-0399 · (555) 010-0300"]

    # Refused as Dataverse refuses them.
    for q, text in (("?$filter=fax eq 'x'", "Could not find a property named 'fax' on type 'Microsoft.Dynamics.CRM.contact'."),
                    ("?$select=fullname,emailaddress1", "property named 'emailaddress1'"),
                    ("?$filter=fullname gt 'a'", "only eq and ne"),
                    ("?$filter=fullname eq 'open", "unterminated string literal"),
                    ("?$filter=(fullname eq 'a'", "expected ')'"),
                    ("?$filter=fullname eq 'a' fullname", "Syntax error at 'fullname'"),
                    ("?$orderby=fullname", "The query parameter $orderby is not supported"),
                    ("?$top=0", "$top must be a whole number from 1 to 5000"),
                    ("?$filter=%E0%A4%A", "not valid URL encoding"),
                    ("?$top=1&$top=2", "specified more than once")):
        bad = cif(frame, "searchAndOpenRecords", "contact", q, True)
        assert bad["ok"] is False and text in bad["error"]["message"], (q, bad)
        assert bad["error"]["msdyn_name"] == "SearchAndOpenRecords"
    other = cif(frame, "searchAndOpenRecords", "lead", query, True)
    assert other["ok"] is False and "lead" in other["error"]["message"]
    assert cif(frame, "searchAndOpenRecords", "contact", query, "yes")["ok"] is False
    assert page.locator("#cif-log .log-entry[data-state=error]").count() == 12  # the refusals above


@pytest.mark.browser
def test_notifications_accept_and_reject_while_several_are_pending(browser_context, stack):
    page, frame = open_host(browser_context, stack, timeout=30)
    frame.evaluate("""inputs => { window.outcomes = {};
        for (const [key, input] of Object.entries(inputs))
          CIF.notifyEvent(input).then(v => outcomes[key] = v, e => outcomes[key] = {error: e}); }""",
                   {"a": notify_input("Caller A"), "b": notify_input("Caller B", phone="+15550100200"),
                    "c": notify_input("Caller C")})
    page.wait_for_function("() => cifHost.pendingNotifications().length === 3")
    toasts = page.locator(".toast")
    assert toasts.count() == 3
    first = toasts.filter(has_text="Caller A")
    # Rendered from the solution's notification template: its title and fields.
    assert first.locator(".toast-title").text_content() == "Incoming call: Caller A"
    assert first.locator("dt").all_text_contents() == ["Phone", "Comment"]
    assert first.locator('dd[data-field="cifad_phonenumber"]').text_content() == "+15551234567"
    assert first.locator('dd[data-field="cifad_comment"]').text_content() == "Billing question"
    assert first.locator("button.accept").text_content() == "Accept"
    assert re.match(r"Times out in \d+ s", first.locator(".countdown").text_content())
    pending = page.evaluate("() => cifHost.pendingNotifications()")
    assert [p["templateParameters"]["customerName"] for p in pending] == ["Caller A", "Caller B", "Caller C"]

    first.locator("button.accept").click()
    toasts.filter(has_text="Caller B").locator("button.reject").click()
    index_c = next(p["index"] for p in page.evaluate("() => cifHost.pendingNotifications()")
                   if p["templateParameters"]["customerName"] == "Caller C")
    assert page.evaluate("i => cifHost.answer(i, 'Accept')", index_c) is True
    frame.wait_for_function("() => Object.keys(outcomes).length === 3")
    outcomes = frame.evaluate("() => outcomes")
    assert {k: json.loads(v) for k, v in outcomes.items()} == {
        "a": {"actionName": "Accept", "responseReason": "Accept"},
        "b": {"actionName": "Reject", "responseReason": "DeclinedByAgent"},
        "c": {"actionName": "Accept", "responseReason": "Accept"}}
    assert toasts.count() == 0 and page.evaluate("() => cifHost.pendingNotifications()") == []
    assert len(log_entries(page, "notifyEvent")) == 3

    bad = cif(frame, "notifyEvent", "not an object")
    assert bad["ok"] is False and bad["error"]["msdyn_name"] == "NotifyEvent" and bad["error"]["message"]


@pytest.mark.browser
def test_templates_fail_like_dynamics_for_unknown_names_and_missing_values(browser_context, stack):
    page, frame = open_host(browser_context, stack, timeout=None)
    params = notify_input("Caller")["templateParameters"]
    # The sample's template names are not in our solution: Dynamics' error for a notification.
    assert cif(frame, "notifyEvent", {"templateName": "extn_voice_notification", "templateParameters": params}) == {
        "ok": False, "error": {"message": "NotificationTemplateNotFoundError", "msdyn_name": "NotifyEvent"}}
    assert cif(frame, "createSession", {"templateName": "extn_voice_identified_session", "templateParameters": params}) \
        == {"ok": False, "error": {"message": "session template 'extn_voice_identified_session' was not found",
                                   "msdyn_name": "CreateSession"}}
    # What the widget sent before this solution existed: extn_comments, not the template's extn_comment.
    drifted = {("extn_comments" if k == "extn_comment" else k): v for k, v in params.items()}
    missing = cif(frame, "notifyEvent", {"templateName": NOTIFICATION, "templateParameters": drifted})
    assert missing["ok"] is False and missing["error"]["message"] == (
        "template parameter 'extn_comment' has no value (used by notification template cifad_voice_notification "
        "field cifad_comment)")
    no_subject = {k: v for k, v in params.items() if k != "extn_subject"}
    missing = cif(frame, "createSession", {"templateName": KNOWN, "templateParameters": no_subject})
    assert missing["error"]["message"] == ("template parameter 'extn_subject' has no value (used by application tab "
                                           "template cifad_case_tab parameter data)")
    voice = dict(params, extn_media_type="voice")  # not an option value of incident.caseorigincode
    bad = cif(frame, "createSession", {"templateName": KNOWN, "templateParameters": voice})
    assert "caseorigincode voice is not an option of incident.caseorigincode" in bad["error"]["message"]
    quoted = dict(params, extn_subject='Say "hi"')  # breaks the JSON of the case tab's data
    bad = cif(frame, "createSession", {"templateName": KNOWN, "templateParameters": quoted})
    assert "data is not JSON once its parameters are filled in" in bad["error"]["message"]
    assert page.locator(".toast").count() == 0 and page.evaluate("() => cifHost.sessions()") == []
    # Without ?timeout= the template's msdyn_timeout (30 s) applies.
    frame.evaluate("input => { CIF.notifyEvent(input); }", {"templateName": NOTIFICATION, "templateParameters": params})
    page.wait_for_function("() => cifHost.pendingNotifications().length === 1")
    assert 25 <= page.evaluate("() => cifHost.pendingNotifications()[0].secondsLeft") <= 30


@pytest.mark.browser
def test_unanswered_notification_times_out(browser_context, stack):
    page, frame = open_host(browser_context, stack, timeout=2)
    started = time.monotonic()
    result = cif(frame, "notifyEvent", notify_input("Nobody Answers"))
    elapsed = time.monotonic() - started
    assert json.loads(result["value"]) == {"actionName": "Timeout", "responseReason": "DisplayTimeout"}
    assert 1.5 < elapsed < 6
    assert page.locator(".toast").count() == 0


@pytest.mark.browser
def test_sessions_open_as_tabs_and_raise_switch_and_close(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    first = notify_input("Maria Campbell")["templateParameters"]
    assert cif(frame, "createSession", {"templateName": KNOWN,
                                        "templateParameters": first}) == {"ok": True, "value": "session-1"}
    second = notify_input(None, comments="unknown caller", phone="+15550000000")["templateParameters"]
    assert cif(frame, "createSession", {"templateName": UNKNOWN,
                                        "templateParameters": second})["value"] == "session-2"
    tab1, tab2 = page.locator('.tab[data-session-id="session-1"]'), page.locator('.tab[data-session-id="session-2"]')
    assert tab1.locator(".tab-title").text_content() == "Call: Maria Campbell"
    assert tab2.locator(".tab-title").text_content() == "Call: +15550000000"
    assert tab2.get_attribute("data-focused") == "true"  # a new session opens in front
    view2 = page.locator('.session-view[data-session-id="session-2"]')
    assert view2.is_visible() and view2.locator(".template-name").text_content() == UNKNOWN
    assert view2.locator(".params tr").count() == len(second) and "unknown caller" in view2.text_content()
    assert view2.locator(".app-tab-title").all_text_contents() == ["Search: +15550000000"]
    assert view2.locator(".search-results").get_attribute("data-count") == "0"  # the host's own search page
    sessions = page.evaluate("() => cifHost.sessions()")
    assert [(s["sessionId"], s["focused"]) for s in sessions] == [("session-1", False), ("session-2", True)]

    tab1.locator(".tab-main").click()
    view1 = page.locator('.session-view[data-session-id="session-1"]')
    assert view1.is_visible() and not view2.is_visible()
    assert view1.locator(".params tr").count() == len(first)
    switched = received(frame, "onSessionSwitched")
    assert isinstance(switched[0], str)
    assert json.loads(switched[0]) == {"sessionId": "session-1", "focussed": True, "context": first}

    tab1.locator(".tab-close").click()
    closed = received(frame, "onSessionClosed")
    assert json.loads(closed[0]) == {"sessionId": "session-1"}
    assert [s["sessionId"] for s in page.evaluate("() => cifHost.sessions()")] == ["session-2"]
    assert page.locator("#home-view").is_visible()  # closing the focused session shows Home

    bad = cif(frame, "createSession", {"templateParameters": {}})
    assert bad["ok"] is False and bad["error"]["msdyn_name"] == "CreateSession"


@pytest.mark.browser
def test_create_record_adds_a_task_and_bad_calls_reject(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    data = json.dumps({"subject": "Reject - DeclinedByAgent", "description": "Caller +15551234567: Billing question"})
    created = cif(frame, "createRecord", "task", data)
    assert created["ok"] and GUID.match(json.loads(created["value"])["id"])
    assert page.evaluate("() => cifHost.tasks()") == [{
        "id": json.loads(created["value"])["id"], "entity": "task", "subject": "Reject - DeclinedByAgent",
        "description": "Caller +15551234567: Billing question"}]
    assert page.locator("#tasks li .subject").text_content() == "Reject - DeclinedByAgent"
    assert log_entries(page, "createRecord")[0]["args"] == ["task", data]

    for bad_data in ("not json", "[1, 2]", {"subject": "an object, not a string"}):
        bad = cif(frame, "createRecord", "task", bad_data)
        assert bad["ok"] is False and bad["error"]["msdyn_name"] == "CreateRecord" and bad["error"]["message"]
    assert len(page.evaluate("() => cifHost.tasks()")) == 1

    unknown = frame.evaluate("() => rawCall('openForm', [{entityName: 'contact'}])")
    assert unknown["cif"] == "result" and unknown["ok"] is False
    assert unknown["error"]["msdyn_name"] == "openForm" and unknown["error"]["message"]
    assert log_entries(page, "openForm")[0]["args"] == [{"entityName": "contact"}]
    assert page.locator("#cif-log .log-entry[data-state=error]").count() == 4


@pytest.mark.browser
def test_click_to_act_raises_onclicktoact_for_registered_handlers_only(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    page.locator("#contacts button.phone", has_text="+1 (555) 123-4567").click()
    payload = received(frame, "onclicktoact")[0]
    assert isinstance(payload, str)
    # CIF 2.0's eventData, exactly: the field's value, its logical name, its format, the table.
    assert json.loads(payload) == {"value": "+1 (555) 123-4567", "name": "mobilephone", "format": "phone",
                                   "entityLogicalName": "contact"}
    assert page.evaluate("() => cifHost.clickToAct('555-010-0500')") is True
    assert json.loads(received(frame, "onclicktoact", 2)[1]) == {"value": "555-010-0500", "name": "telephone1",
                                                                  "format": "phone", "entityLogicalName": "account"}
    page.wait_for_function("() => cifHost.events().every(e => e.handled && e.handled.ok)")

    # No handler registered for onmodechanged: the host keeps the event to itself.
    page.click("#panel-toggle")
    assert page.evaluate("() => cifHost.mode()") == 0
    last = page.evaluate("() => cifHost.events()")[-1]
    assert last["name"] == "onmodechanged" and last["delivered"] is False
    # After removeHandler, and with click-to-act switched off, clicks raise nothing.
    assert frame.evaluate("() => settle(CIF.removeHandler('onSessionSwitched', () => {}))")["ok"]
    assert "onSessionSwitched" not in page.evaluate("() => cifHost.handlers()")
    assert cif(frame, "setClickToAct", False)["ok"]
    assert page.evaluate("() => cifHost.clickToAct('+1 (555) 123-4567')") is False
    assert page.text_content("#cta-state") == "Click-to-act: off"
    page.wait_for_timeout(200)
    assert [r["name"] for r in frame.evaluate("() => received")] == ["onclicktoact", "onclicktoact"]


@pytest.mark.browser
def test_untrusted_text_is_rendered_as_text(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    page.evaluate("() => { window.canary = 'intact'; }")
    evil_img = "<img src=x onerror=\"window.canary='pwned'\">"
    evil_name = "<b>Mallory</b><script>window.canary='pwned'</script>"
    params = notify_input(evil_name, comments=evil_img)
    frame.evaluate("input => { window.notified = CIF.notifyEvent(input); }", params)
    page.wait_for_selector(".toast")
    toast = page.locator(".toast")
    assert toast.locator(".toast-title").text_content() == "Incoming call: " + evil_name
    assert toast.locator('dd[data-field="cifad_comment"]').text_content() == evil_img
    assert "<img" in toast.inner_text()  # visible as text
    toast.locator("button.accept").click()

    assert cif(frame, "createSession", {"templateName": KNOWN, "templateParameters": params["templateParameters"]})["ok"]
    view = page.locator(".session-view")
    assert view.locator("h1").text_content() == "Call: " + evil_name
    assert evil_img in view.locator("td").all_text_contents()
    assert view.locator('.app-tab[data-tab="cifad_customer_tab"] .app-tab-title').text_content() == evil_name
    assert page.locator(".tab .tab-title", has_text="Mallory").text_content() == "Call: " + evil_name

    assert cif(frame, "createRecord", "task", json.dumps({"subject": evil_name, "description": evil_img}))["ok"]
    page.click("#home-tab")
    assert page.locator("#tasks .subject").text_content() == evil_name
    assert page.locator("#tasks .description").text_content() == evil_img
    assert page.locator("#contacts td", has_text="O'Neil").text_content() == "Ann <b>O'Neil</b>"
    assert evil_name in page.locator("#cif-log").text_content()  # args are shown as JSON text

    assert page.locator("img, b, i, #toasts script, .views script, #cif-log script").count() == 0
    assert page.evaluate("() => window.canary") == "intact"
    assert page.errors == []


@pytest.mark.browser
def test_messages_from_other_frames_and_origins_are_ignored(browser_context, stack):
    for origin in (stack.url, widget_origin(stack)):  # the host's own origin; the widget's, other window
        browser_context.route(origin + CHILD_PATH, lambda route: route.fulfill(status=200, content_type="text/html",
                                                                               body=EVIL_CHILD))
    page, frame = open_host(browser_context, stack)
    assert frame.evaluate("url => addChild(url)", stack.url + CHILD_PATH)
    assert frame.evaluate("url => addChild(url)", widget_origin(stack) + CHILD_PATH)
    page.evaluate("""() => window.postMessage({cif: "call", id: "c1", method: "createSession",
                                               args: [{templateName: "self", templateParameters: {}}]}, "*")""")
    # A genuine call afterwards: once it is answered, the forged ones had their chance.
    page.wait_for_timeout(300)
    assert cif(frame, "getMode") == {"ok": True, "value": 1}
    assert [e["method"] for e in log_entries(page)] == [
        "setClickToAct", "addHandler", "addHandler", "addHandler", "setMode", "getMode"]
    assert page.evaluate("() => cifHost.sessions()") == []
    children = [f for f in page.frames if f.url.endswith(CHILD_PATH)]
    assert len(children) == 2
    for child in children:
        assert child.evaluate("() => window.posted") is True
        assert child.evaluate("() => window.replies") == []  # nothing answered them


# --- dev console ------------------------------------------------------------------------------------

def console_token(stack) -> str:
    page = stack.session().get(stack.url + "/console").text
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def console_call(stack, body, headers=None, **kw):
    headers = {"X-CSRF-Token": console_token(stack), **(headers or {})}
    return stack.session().post(stack.url + "/console/api/call", json=body, timeout=30, headers=headers, **kw)


def test_console_places_a_call_through_msal_and_the_functions(stack, tokens, identity, sender_api):
    bob = identity.oid("bob")

    async def scenario():
        agent = new_agent(stack, tokens["bob"])
        await agent.start()
        await agent.wait_registered()
        r = await asyncio.to_thread(console_call, stack, {"userId": bob, "phone": "+15559876543",
                                                          "comments": "from the console", "ttl": "5"})
        assert r.status_code == 202, r.text
        result = r.json()
        assert set(result) == {"messageId", "status", "connections"}
        assert result["status"] == "sent" and result["connections"] >= 1
        while True:  # earlier tests may have left calls for bob that are redelivered on connect
            inv = await asyncio.wait_for(agent.invocations.get(), 10)
            message = inv.arguments[0]
            message = json.loads(message) if isinstance(message, str) else message
            if message.get("messageId") == result["messageId"]:
                break
        assert message["PhoneNumber"] == "+15559876543" and message["comments"] == "from the console"

        state = (await asyncio.to_thread(stack.session().get, stack.url + "/console/api/state")).json()
        mine = [c for c in state["connections"] if c["userId"] == bob]
        assert mine and set(mine[0]) == {"userId", "connectionId", "hub", "status", "updated"}
        assert mine[0]["hub"] == "myhub" and mine[0]["status"] == 1
        row = next(m for m in state["messages"] if m["messageId"] == result["messageId"])
        assert set(row) == {"messageId", "userId", "status", "reason", "created", "sent", "completed",
                            "deliveries", "phone"}
        assert row["userId"] == bob and row["phone"] == "+15559876543" and row["status"] == "sent"

        await agent.invoke("sendMessage", [{"messageId": result["messageId"], "outcome": "Accepted"}])
        deadline = time.monotonic() + 10
        while sender_api.call("GET", f"/api/messages/{result['messageId']}").json()["status"] != "accepted":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await agent.stop()
        return result["messageId"]

    message_id = run_async(scenario())
    state = stack.session().get(stack.url + "/console/api/state").json()
    assert next(m for m in state["messages"] if m["messageId"] == message_id)["status"] == "accepted"


def test_console_rejects_bad_input_with_json_errors(stack, identity):
    alice = identity.oid("alice")
    # The console's own checks (an agent of this stack, a JSON object), then the functions'
    # answer to the call the form makes, passed through (field names as the functions name them).
    cases = [
        ({"phone": "+15551234567"}, 400, "missing_user", "userId"),
        ({"userId": "someone-else", "phone": "+15551234567"}, 400, "unknown_user", "userId"),
        ({"userId": alice}, 400, "missing_field", "PhoneNumber"),
        ({"userId": alice, "phone": "   "}, 422, "invalid_field", "PhoneNumber"),
        ({"userId": alice, "phone": "+1" * 40}, 422, "invalid_field", "PhoneNumber"),
        ({"userId": alice, "phone": "+1555\n123"}, 422, "invalid_field", "PhoneNumber"),
        ({"userId": alice, "phone": "+15551234567", "comments": 5}, 422, "invalid_field", "comments"),
        ({"userId": alice, "phone": "+15551234567", "ttl": -1}, 422, "invalid_field", "ttlSeconds"),
        ({"userId": alice, "phone": "+15551234567", "ttl": "soon"}, 422, "invalid_field", "ttlSeconds"),
        ({"userId": alice, "phone": "+15551234567", "ttl": 1.5}, 422, "invalid_field", "ttlSeconds"),
        ([1, 2], 400, "bad_json", "JSON object"),
    ]
    for body, status, code, names in cases:
        r = console_call(stack, body)
        assert r.status_code == status and r.json()["error"] == code and names in r.json()["message"], (body, r.text)
    r = stack.session().post(stack.url + "/console/api/call", data="userId=x&phone=1",
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "X-CSRF-Token": console_token(stack)})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = console_call(stack, {"userId": alice, "phone": "+15551234567"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"
    # A usable call by username with ttl 0 to an offline agent: the functions' 404 comes back as it is.
    r = console_call(stack, {"userId": "alice", "phone": "+15551234567", "ttl": 0})
    assert r.status_code in (202, 404), r.text
    if r.status_code == 404:
        assert r.json()["error"] == "user_not_connected" and r.json()["message"]


def test_console_writes_need_the_token_of_its_own_page(stack, identity):
    """A request without an Origin header (curl, a form some tools send) is no proof of the
    console's own page: only the token from that page is."""
    body = {"userId": identity.oid("alice"), "phone": "+15551234567"}
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "guess"}, {"X-CSRF-Token": "é"}):
        r = stack.session().post(stack.url + "/console/api/call", json=body, headers=headers, timeout=30)
        assert r.status_code == 403 and r.json()["error"] == "csrf_token" and r.json()["message"], (headers, r.text)


def test_console_and_identity_provider_are_off_against_real_azure(tmp_path):
    from testkit.server import local_stack

    local = local_stack(tmp_path, Authority="https://login.example.test/tenant", AzureAd__ClientId="client",
                        ApiScope="api://client/access_as_user")
    client = local.flask_app.test_client()
    tenant = local.config.local_directory.tenant_id
    for method, path in [("GET", "/console"), ("GET", "/console/api/state"), ("POST", "/console/api/call"),
                         ("GET", f"/{tenant}/v2.0/.well-known/openid-configuration"),
                         ("GET", f"/{tenant}/discovery/v2.0/keys"), ("GET", f"/{tenant}/oauth2/v2.0/authorize"),
                         ("POST", f"/{tenant}/oauth2/v2.0/token")]:
        r = client.open(path, method=method, json={"userId": "x", "phone": "+1"} if method == "POST" else None)
        assert r.status_code == 404 and r.json["error"] == "not_found", (path, r.status_code)
    assert client.get("/healthz").status_code == 200
    local.functions.store.close()


@pytest.mark.browser
def test_console_page_polls_state_and_sends_from_the_form(browser_context, stack, identity):
    page = browser_context.new_page()
    page.goto(stack.url + "/console")
    assert page.locator("#call-agent option").all_text_contents() == ["Alice Agent (alice)", "Bob Agent (bob)"]
    phone = "<img src=x onerror=window.pwned=1>"
    page.select_option("#call-agent", identity.oid("bob"))
    page.fill("#call-phone", phone)
    page.fill("#call-comments", "")
    page.fill("#call-ttl", "1")
    page.click("#call-submit")
    page.wait_for_function("() => document.querySelector('#call-result').dataset.state === 'ok'", timeout=15_000)
    message_id = re.search(r"Message (\w+) ", page.text_content("#call-result")).group(1)
    row = page.locator("#messages tbody tr", has_text=message_id)
    row.wait_for(timeout=5_000)  # polled every second
    cells = row.locator("td").all_text_contents()
    assert cells[2] == "Bob Agent" and cells[3] == phone
    assert page.locator("#messages img").count() == 0 and page.evaluate("() => window.pwned") is None

    page.fill("#call-phone", "")
    page.click("#call-submit")
    page.wait_for_function("() => document.querySelector('#call-result').dataset.state === 'error'")
    assert "phone" in page.text_content("#call-result").lower()


# --- withdraw, presence, phone calls (issue 17) ----------------------------------------------------

def pending_count(page) -> int:
    return page.evaluate("() => cifHost.pendingNotifications().length")


@pytest.mark.browser
def test_cancel_event_withdraws_a_pending_notification_by_its_token(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    correlation = str(uuid.uuid4())
    frame.evaluate("([input, c]) => { window.ringing = settle(CIF.notifyEvent(input, c, 'call-1')); }",
                   [notify_input("Maria Campbell"), correlation])
    page.wait_for_function("() => cifHost.pendingNotifications().length === 1")
    assert page.locator('.toast[data-token="call-1"]').count() == 1
    # a second notification with the same token while the first is up is refused
    again = cif(frame, "notifyEvent", notify_input("Maria Campbell"), correlation, "call-1")
    assert again["ok"] is False and again["error"]["msdyn_name"] == "NotifyEvent"
    assert "in use" in again["error"]["message"]

    assert cif(frame, "cancelEvent", "call-1", correlation) == {"ok": True, "value": "call-1"}
    assert pending_count(page) == 0 and page.locator(".toast").count() == 0
    assert [w["token"] for w in page.evaluate("() => cifHost.withdrawn()")] == ["call-1"]
    # the notifyEvent promise of a withdrawn notification stays unanswered
    assert frame.evaluate("() => Promise.race([ringing, new Promise(r => setTimeout(() => r('open'), 300))])") == "open"
    assert page.evaluate("() => cifHost.tasks()") == []

    for args in (["call-1"], [], [""], [42], ["call-2", "not-a-guid"]):
        bad = cif(frame, "cancelEvent", *args)
        assert bad["ok"] is False and bad["error"]["msdyn_name"] == "CancelEvent", args
        assert bad["error"]["message"].startswith("RejectAfterClientError"), args


@pytest.mark.browser
def test_notify_event_takes_the_token_in_the_input_too_and_checks_it(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    frame.evaluate("([input]) => { CIF.notifyEvent(input); }", [dict(notify_input("Maria Campbell"),
                                                                     cancellationToken="in-input")])
    page.wait_for_function("() => cifHost.pendingNotifications().length === 1")
    assert cif(frame, "cancelEvent", "in-input")["ok"] and pending_count(page) == 0
    for input_token, arg_token, correlation in (("a", "b", None), (None, 7, None), (None, "x" * 257, None),
                                                (None, "ok", "not-a-guid")):
        body = notify_input("Maria Campbell")
        if input_token:
            body["cancellationToken"] = input_token
        bad = cif(frame, "notifyEvent", body, correlation, arg_token)
        assert bad["ok"] is False and bad["error"]["msdyn_name"] == "NotifyEvent", (input_token, arg_token)
    assert pending_count(page) == 0


@pytest.mark.browser
def test_presence_get_set_and_the_selector_raise_on_presence_change(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    assert cif(frame, "addHandler", "onPresenceChange", None)["ok"] is False  # a handler must be a function
    frame.evaluate("() => CIF.addHandler('onPresenceChange', p => { received.push({name: 'onPresenceChange', "
                   "payload: p}); return Promise.resolve(); })")
    assert cif(frame, "getPresence") == {"ok": True, "value": "Available"}
    assert cif(frame, "setPresence", "Busy - DND") == {"ok": True, "value": True}
    event = json.loads(received(frame, "onPresenceChange")[0])
    assert event["presenceInfo"] == {"basePresenceStatus": "BUSY_DND", "presenceColor": "#ff0000",
                                     "presenceId": event["presenceId"], "presenceText": "Busy - DND"}
    assert GUID.match(event["presenceId"])
    assert cif(frame, "getPresence")["value"] == "Busy - DND"
    # an unknown text (the match is exact) changes nothing; a non-string is an error
    assert cif(frame, "setPresence", "busy - dnd") == {"ok": True, "value": False}
    bad = cif(frame, "setPresence", 3)
    assert bad["ok"] is False and bad["error"]["msdyn_name"] == "SetPresence"
    # the agent picks a presence in the top bar, as in Dynamics
    page.select_option("#presence", label="Away")
    assert json.loads(received(frame, "onPresenceChange", 2)[1])["presenceInfo"]["presenceText"] == "Away"
    assert cif(frame, "getPresence")["value"] == "Away"
    assert page.evaluate("() => cifHost.presence().presenceText") == "Away"


@pytest.mark.browser
def test_phone_call_activities_are_checked_created_and_completed_as_dataverse_does(browser_context, stack):
    page, frame = open_host(browser_context, stack)
    page.evaluate("() => cifHost.contactsLoaded()")
    maria = "4b1c6f2e-8d3a-4f5e-9a71-2c0d5e8b1a01"
    record = {"subject": "Phone call from Maria Campbell", "phonenumber": "+15551234567", "directioncode": False,
              "actualstart": "2024-05-01T09:30:00Z",
              "regardingobjectid_contact_phonecall@odata.bind": f"/contacts({maria})"}
    created = cif(frame, "createRecord", "phonecall", json.dumps(record))
    assert created["ok"], created
    activity = json.loads(created["value"])["id"]
    (call,) = page.evaluate("() => cifHost.phoneCalls()")
    assert call["statecode"] == 0 and call["statuscode"] == 1 and call["directioncode"] is False
    assert call["regarding"] == {"entity": "contact", "id": maria, "name": "Maria Campbell"}
    row = page.locator(f'#tasks li[data-record-id="{activity}"]')
    assert "Incoming +15551234567" in row.text_content() and "Regarding contact Maria Campbell" in row.text_content()

    done = {"statecode": 1, "statuscode": 4, "actualdurationminutes": 3, "actualend": "2024-05-01T09:32:10Z"}
    updated = cif(frame, "updateRecord", "phonecall", activity, json.dumps(done))
    assert updated["ok"] and json.loads(updated["value"]) == dict(done, id=activity)
    (call,) = page.evaluate("() => cifHost.phoneCalls()")
    assert (call["statecode"], call["statuscode"], call["actualdurationminutes"]) == (1, 4, 3)
    assert row.get_attribute("data-statecode") == "1" and "3 min" in row.text_content()
    # a completed activity is read-only
    closed = cif(frame, "updateRecord", "phonecall", activity, json.dumps({"subject": "late"}))
    assert closed["ok"] is False and closed["error"]["msdyn_name"] == "UpdateRecord"

    bad_records = [
        dict(record, directioncode="incoming"),  # a boolean column
        dict(record, phonenumber="1" * 201),  # at most 200 characters
        dict(record, statecode=1),  # state is set by an update, not on create
        {"phonenumber": "+15551234567"},  # subject is required
        dict(record, colour="red"),  # no such column
        {**record, "regardingobjectid_contact_phonecall@odata.bind": "/contacts(00000000-0000-0000-0000-000000000000)"},
        {**record, "regardingobjectid_contact_phonecall@odata.bind": "contacts/" + maria},
    ]
    for bad_record in bad_records:
        bad = cif(frame, "createRecord", "phonecall", json.dumps(bad_record))
        assert bad["ok"] is False and bad["error"]["msdyn_name"] == "CreateRecord", bad_record
    second = json.loads(cif(frame, "createRecord", "phonecall", json.dumps(record))["value"])["id"]
    for entity, record_id, data in (("phonecall", second, {"statecode": 1, "statuscode": 1}),  # Open's reason
                                    ("phonecall", second, {"actualdurationminutes": -1}),
                                    ("phonecall", str(uuid.uuid4()), {"subject": "x"}),
                                    ("account", second, {"subject": "x"})):
        bad = cif(frame, "updateRecord", entity, record_id, json.dumps(data))
        assert bad["ok"] is False and bad["error"]["msdyn_name"] == "UpdateRecord", data
    assert len(page.evaluate("() => cifHost.phoneCalls()")) == 2
