"""The widget signs in with msal under Pyodide: popup on first load, silent afterwards,
and a clear state with a Sign-in button when the popup can't open."""
import jwt
import pytest

from tests.conftest import sign_in_popup

pytestmark = pytest.mark.browser


def connected(page, timeout=30_000):
    page.wait_for_selector("#status[data-state=connected]", timeout=timeout)
    page.wait_for_selector("body[data-registered]", timeout=timeout)


def test_first_load_signs_in_through_popup_then_reload_is_silent(browser_context, stack, identity):
    page = browser_context.new_page()
    popup = sign_in_popup(browser_context, page, stack.widget_url, "alice")
    assert popup.is_closed()
    connected(page)
    assert page.text_content("#user") == "Signed in as alice@contoso.test"

    opened = []
    browser_context.on("page", lambda p: opened.append(p))
    page.reload()
    connected(page)
    assert opened == [], "a popup opened although the cached refresh token should suffice"
    assert page.text_content("#user") == "Signed in as alice@contoso.test"
    # the token in this tab's cache was good for an hour: msal was not even imported
    assert page.evaluate("() => window.adaptorDiagnostics()")["msal_was_imported"] is False


def test_widget_sends_the_api_access_token_not_the_id_token(browser_context, stack, identity):
    page = browser_context.new_page()
    seen = []
    page.on("request", lambda r: seen.append(r.headers.get("authorization"))
            if r.url.split("?")[0].endswith("/api/negotiate") else None)  # …?negotiateVersion=1
    sign_in_popup(browser_context, page, stack.widget_url, "bob")
    connected(page)
    token = seen[0].split(" ", 1)[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == identity.api_client_id and claims["scp"] == "access_as_user"
    assert claims["oid"] == identity.oid("bob")


def test_blocked_popup_shows_sign_in_button_that_works(browser_context, stack):
    # Browsers block window.open without a user gesture; play that once.
    browser_context.add_init_script("""
        const realOpen = window.open.bind(window);
        let blocked = false;
        window.open = (...args) => { if (!blocked) { blocked = true; return null; } return realOpen(...args); };
    """)
    page = browser_context.new_page()
    page.goto(stack.widget_url)
    page.wait_for_selector("#status[data-state=error]", timeout=60_000)
    assert "blocked" in page.text_content("#status-reason")
    button = page.locator("#signin")
    assert button.is_visible()
    with browser_context.expect_page() as popup_info:
        button.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.click("#signin-alice")
    connected(page)
    assert not button.is_visible()


def test_closed_popup_is_a_clear_error_state(browser_context, stack):
    page = browser_context.new_page()
    with browser_context.expect_page(timeout=60_000) as popup_info:
        page.goto(stack.widget_url)
    popup_info.value.close()
    page.wait_for_selector("#status[data-state=error]", timeout=15_000)
    assert "closed" in page.text_content("#status-reason")
    assert page.locator("#signin").is_visible()


@pytest.mark.parametrize("query,needle", [
    ("?Authority=http://127.0.0.1/insecure", "'Authority' must be an https:// URL"),
    ("?AdaptorFunctionUrl=%20", None),  # blank query values fall through to config.json
])
def test_configuration_problems_are_visible(browser_context, stack, query, needle):
    page = browser_context.new_page()
    if needle is None:
        sign_in_popup(browser_context, page, stack.widget_url + query, "alice")
        connected(page)
        return
    page.goto(stack.widget_url + query)
    page.wait_for_selector("#status[data-state=error]", timeout=60_000)
    assert needle in page.text_content("#status-reason")
