"""The Dataverse side of the local CIF host: the solution's web resources on the host's
origin, the Web API query for environment variables (answered from the solution's
definitions and the stack's settings, strictly), and the landing page in Chromium:
current value, else default, else a visible error naming the variable."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

LANDING = "/WebResources/cifad_/adaptor/landing.html"
EXPAND = "environmentvariabledefinition_environmentvariablevalue"
NAMES = ("cifad_AdaptorFunctionUrl", "cifad_ClientId", "cifad_Authority", "cifad_Scope")
QUERY = {"$select": "schemaname,defaultvalue",
         "$filter": " or ".join(f"schemaname eq '{n}'" for n in NAMES),
         "$expand": f"{EXPAND}($select=value)"}


def web_api(stack, params):
    return stack.session().get(stack.url + "/api/data/v9.2/environmentvariabledefinitions", params=params)


def test_web_api_answers_the_landing_pages_query_with_current_values(stack):
    r = web_api(stack, QUERY)
    assert r.status_code == 200 and r.headers["OData-Version"] == "4.0"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["@odata.context"].endswith("/api/data/v9.2/$metadata#environmentvariabledefinitions(schemaname,defaultvalue)")
    settings = stack.session().get(stack.widget_url + "config.json").json()
    rows = {row["schemaname"]: row for row in body["value"]}
    assert set(rows) == set(NAMES)
    for name, row in rows.items():
        assert row["defaultvalue"] is None  # the solution ships no defaults
        assert re.fullmatch(r"[0-9a-f-]{36}", row["environmentvariabledefinitionid"])
        (value,) = row[EXPAND]
        assert value["value"] == settings[name.removeprefix("cifad_")]


def test_web_api_without_expand_and_for_unknown_names(stack):
    r = web_api(stack, {"$select": "schemaname", "$filter": "schemaname eq 'cifad_Scope' or schemaname eq 'extn_Scope'"})
    assert r.status_code == 200
    assert [set(row) for row in r.json()["value"]] == [{"schemaname", "environmentvariabledefinitionid"}]


@pytest.mark.parametrize("params, rule", [
    (dict(QUERY, **{"$top": "1"}), "supports only $select, $filter and $expand"),
    (dict(QUERY, **{"$select": "schemaname,value"}), "$select must name some of"),
    (dict(QUERY, **{"$filter": "startswith(schemaname,'cifad')"}), "$filter must be schemaname eq"),
    (dict(QUERY, **{"$filter": "schemaname eq 'x'' or 1 eq 1'"}), "$filter must be schemaname eq"),
    (dict(QUERY, **{"$expand": EXPAND}), "$expand must be"),
])
def test_web_api_refuses_what_it_does_not_understand(stack, params, rule):
    r = web_api(stack, params)
    assert r.status_code == 400 and rule in r.json()["error"]["message"]


def test_web_resources_are_served_from_the_solution(stack):
    s = stack.session()
    page = s.get(stack.url + LANDING)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'<meta name="cifad-widget-url" content="{stack.widget_url}">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = s.get(stack.url + "/WebResources/cifad_/adaptor/landing.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert s.get(stack.url + "/WebResources/cifad_/adaptor/nothing.js").status_code == 404
    assert s.get(stack.url + "/WebResources/../settings.py").status_code == 404


def dataverse_answer(rows):
    return json.dumps({"@odata.context": "x", "value": rows})


def row(name, current=None, default=None):
    return {"schemaname": name, "defaultvalue": default, "environmentvariabledefinitionid": "0" * 36,
            EXPAND: [] if current is None else [{"value": current, "environmentvariablevalueid": "1" * 36}]}


@pytest.mark.browser
def test_landing_page_shows_which_variable_has_no_value(browser_context, stack):
    # Dataverse's answer for an org where ClientId was never set and Scope is missing.
    rows = [row("cifad_AdaptorFunctionUrl", "https://functions.example"), row("cifad_ClientId", current="  "),
            row("cifad_Authority", default="https://login.example/tenant")]
    browser_context.route(re.compile(r".*/api/data/v9\.2/environmentvariabledefinitions\?.*"),
                          lambda route: route.fulfill(status=200, content_type="application/json",
                                                      body=dataverse_answer(rows)))
    page = browser_context.new_page()
    page.goto(stack.url + LANDING)
    status = page.locator('#status[data-state="error"]')
    status.wait_for(timeout=10_000)
    assert status.text_content().startswith(
        "Environment variable cifad_ClientId has no value; cifad_Scope is not defined.")
    assert urlsplit(page.url).path == LANDING  # the widget was not opened


@pytest.mark.browser
def test_landing_page_opens_the_widget_with_current_values_else_defaults(browser_context, stack):
    rows = [row("cifad_AdaptorFunctionUrl", "https://functions.example", default="https://ignored.example"),
            row("cifad_ClientId", "client-1"), row("cifad_Authority", default="https://login.example/tenant"),
            row("cifad_Scope", "api://client-1/access_as_user")]
    asked = []

    def answer(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=dataverse_answer(rows))

    browser_context.route(re.compile(r".*/api/data/v9\.2/environmentvariabledefinitions\?.*"), answer)
    browser_context.route(re.compile(r"https://localhost:\d+/widget/\?.*"),
                          lambda route: route.fulfill(status=200, content_type="text/html", body="widget"))
    page = browser_context.new_page()
    page.goto(stack.url + LANDING)
    page.wait_for_url(re.compile(r".*/widget/\?.*"), timeout=10_000)
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query == {"ucilib": f"{stack.url}/webresources/Widget/msdyn_ciLibrary.js",
                     "AdaptorFunctionUrl": "https://functions.example", "ClientId": "client-1",
                     "Authority": "https://login.example/tenant", "Scope": "api://client-1/access_as_user"}
    (url,) = asked
    sent = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert sent == QUERY  # the query the local Web API stand-in answers


@pytest.mark.browser
def test_landing_page_reports_a_web_api_error(browser_context, stack):
    browser_context.route(re.compile(r".*/api/data/v9\.2/environmentvariabledefinitions\?.*"),
                          lambda route: route.fulfill(status=403, content_type="application/json",
                                                      body=json.dumps({"error": {
                                                          "code": "0x80040220",
                                                          "message": "Principal user is missing "
                                                                     "prvReadEnvironmentVariableDefinition"}})))
    page = browser_context.new_page()
    page.goto(stack.url + LANDING)
    page.locator('#status[data-state="error"]').wait_for(timeout=10_000)
    assert page.locator("#status").text_content() == (
        "Could not read the adaptor's environment variables: Principal user is missing "
        "prvReadEnvironmentVariableDefinition")
