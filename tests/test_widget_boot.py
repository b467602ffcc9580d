"""The widget boots Python in real Chromium from our own server only."""
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def test_widget_runs_python_from_local_files_only(browser_context, stack):
    requested: list[str] = []
    browser_context.on("request", lambda req: requested.append(req.url))
    errors: list[str] = []
    page = browser_context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(stack.widget_url)
    ready = page.locator("#python-ready")
    ready.wait_for(state="visible", timeout=60_000)

    assert "Python ready" in ready.text_content()
    assert "Python 3.14" in ready.text_content()  # Pyodide's interpreter, not the host's
    # gray until Python takes over, then it moves on to sign-in and connecting
    assert 'data-state="disconnected"' in stack.session().get(stack.widget_url).text
    assert page.get_attribute("#status", "data-state") in ("disconnected", "connecting", "error")
    assert not errors
    foreign = [u for u in requested if urlsplit(u).scheme not in ("data", "blob")
               and urlsplit(u).hostname not in LOCAL_HOSTS]
    assert not foreign, f"requests left the machine: {foreign}"
    # Sanity check that the recorder really saw the boot traffic.
    assert any(u.endswith("/pyodide.asm.wasm") for u in requested)
    assert any(u.endswith("/site-packages.zip") for u in requested)


def test_widget_python_imports_the_pinned_wheels(browser_context, stack):
    """msal, requests and pyodide-http import from the precompiled site-packages zip."""
    page = browser_context.new_page()
    page.goto(stack.widget_url)
    page.locator("#python-ready").wait_for(state="visible", timeout=60_000)
    versions = page.evaluate("() => window.adaptorDiagnostics && window.adaptorDiagnostics()")
    assert versions is not None, "main.py did not publish window.adaptorDiagnostics"
    assert versions["msal"] == "1.39.0"
    assert versions["requests"] == "2.34.2"
    assert versions["bytecode"] is True
