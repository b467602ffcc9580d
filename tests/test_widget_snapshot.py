"""The widget boots from the Pyodide memory snapshot made at set-up (tools/snapshot.py,
web/pyodide-boot.mjs) and, where the snapshot can't be used, the ordinary way: either way
it signs in, connects and raises the CIF notification of a call in the local CIF host.
(How much faster the snapshot is belongs to `python -m bench widget`, never a test.)"""
import gzip

import pytest

from tests.conftest import call_payload, chromium_context, sign_in_popup
from tools.snapshot import PYODIDE_DIR, SNAPSHOT

pytestmark = pytest.mark.browser

if not (PYODIDE_DIR / SNAPSHOT).exists():
    pytest.fail(f"{SNAPSHOT} is not built: run ./test.sh (tools/setup.py makes it)", pytrace=False)

# How the test changes what the browser gets for the snapshot URL (None: the real file).
PATHS = {
    "snapshot": None,
    "no snapshot (404)": {"status": 404, "body": ""},
    "not a snapshot (gzip of other bytes)": {"status": 200, "body": gzip.compress(b"\0snp" + b"x" * 4096)},
    "not gzip": {"status": 200, "body": b"garbage"},
}


@pytest.mark.parametrize("path", PATHS)
def test_widget_works_with_and_without_the_snapshot(playwright_instance, stack, identity, sender_api, path):
    with chromium_context(playwright_instance, stack.certs) as context:
        served = PATHS[path]
        if served is not None:
            context.route(f"**/{SNAPSHOT}", lambda route: route.fulfill(
                status=served["status"], content_type="application/gzip", body=served["body"]))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in_popup(context, page, f"{stack.url}/")
        widget_page = page.frame_locator("#widget-frame")
        widget_page.locator("body[data-registered]").wait_for(timeout=60_000)
        widget = next(f for f in page.frames if "/widget/" in f.url)
        boot = widget.evaluate("() => window.pyodideBoot")
        if served is None:
            assert boot["snapshot"] == "used"
        else:
            assert boot["snapshot"].startswith("fell back: ")

        body = {"userId": identity.oid("alice"), "message": call_payload(comments=f"snapshot test: {path}")}
        r = sender_api.call("POST", "/api/SendMessageToUser", body)
        assert r.status_code == 202, r.text
        page.wait_for_function("""(c) => window.cifHost.pendingNotifications()
            .some(n => JSON.stringify(n.templateParameters).includes(c))""", arg=f"snapshot test: {path}",
                               timeout=30_000)
        diagnostics = widget.evaluate("() => window.adaptorDiagnostics()")
        assert diagnostics["python"].startswith("3.14") and diagnostics["bytecode"] is True
        assert not errors
