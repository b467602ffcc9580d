"""The widget runs under its Content-Security-Policy with no violation, and the policy is
tight: framing only by the Dynamics origins, no inline script. ('unsafe-eval' is
PyScript's minimum: its hook composition calls Function(); see server/blueprints/widget.py.)"""
import pytest

from tests.conftest import sign_in_popup

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def csp(stack) -> dict[str, str]:
    header = stack.session().get(stack.widget_url).headers["Content-Security-Policy"]
    return {d.split()[0]: d for d in (part.strip() for part in header.split(";"))}


def test_policy_is_tight(stack):
    policy = csp(stack)
    assert policy["frame-ancestors"] == f"frame-ancestors {stack.url}"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'wasm-unsafe-eval'" in policy["script-src"]
    assert "*" not in policy["connect-src"]
    assert policy["object-src"] == "object-src 'none'"


def test_widget_goes_green_without_csp_violations(browser_context, stack):
    browser_context.add_init_script(RECORD_VIOLATIONS)
    page = browser_context.new_page()
    sign_in_popup(browser_context, page, stack.widget_url, "alice")
    page.wait_for_selector("body[data-registered]", timeout=30_000)
    assert page.evaluate("() => window.__cspViolations") == []


def test_framing_by_a_foreign_origin_is_refused(browser_context, stack):
    """frame-ancestors: a page on another origin (localhost is not the Dynamics origin
    here) cannot embed the widget."""
    page = browser_context.new_page()
    browser_context.route(f"https://localhost:{stack.port}/frame-test.html", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body=f'<iframe id="w" src="{stack.widget_url}"></iframe>'))
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(f"https://localhost:{stack.port}/frame-test.html")
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#w")
    assert frame.locator("#status").count() == 0
    assert blocked, "Chromium did not report the frame-ancestors refusal"
