"""Where the page offers it (ADAPTOR_WIDGET_SNAPSHOT=on; off by default), the widget boots
from the Pyodide memory snapshot made at set-up (tools/snapshot.py, web/pyodide-boot.mjs)
and, where the snapshot can't be used or isn't offered, the ordinary way: either way it
signs in, connects and raises the CIF notification of a call in the local CIF host.
(How much faster the snapshot is belongs to `python -m bench widget`, never a test.)"""
import gzip
import json

import pytest

from testkit.functions import Api
from tests.conftest import Identity, call_payload, chromium_context, sign_in_popup, start_stack, stop_stack
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


NOT_OFFERED = "not offered (the default)"


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """The default stack (no snapshot offered) and one with ADAPTOR_WIDGET_SNAPSHOT=on."""
    off = start_stack(tmp_path_factory.mktemp("snapshot-off"))
    on = start_stack(tmp_path_factory.mktemp("snapshot-on"), env={"ADAPTOR_WIDGET_SNAPSHOT": "on"})
    yield {"off": off, "on": on}
    stop_stack(on)
    stop_stack(off)


@pytest.mark.parametrize("path", [*PATHS, NOT_OFFERED])
def test_widget_works_with_and_without_the_snapshot(playwright_instance, stacks, path):
    stack = stacks["off" if path == NOT_OFFERED else "on"]
    identity = Identity(stack, json.loads((stack.state_dir / "identity.json").read_text()))
    sender_api = Api(stack, identity.sender_token())
    with chromium_context(playwright_instance, stack.certs) as context:
        served = PATHS.get(path)
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
        if path == NOT_OFFERED:
            assert boot["snapshot"] == "not offered"
        elif served is None:
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
