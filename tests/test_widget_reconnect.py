"""Server stopped during a shift → amber; restarted → green again with no page reload,
and a call sent while the widget was away (within its TTL) arrives exactly once."""
import json
import signal
import time

import pytest

from tests.conftest import Api, call_payload, free_port, sign_in_popup, start_stack, stop_stack

pytestmark = pytest.mark.browser


@pytest.fixture
def own_stack(tmp_path):
    port = free_port()
    holder = {"stack": start_stack(tmp_path / "state", port=port)}
    yield holder
    stop_stack(holder["stack"])


def test_server_restart_amber_then_green_and_queued_call_once(own_stack, playwright_instance, tmp_path):
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    stack = own_stack["stack"]
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS + [f"--ignore-certificate-errors-spki-list={stack.certs.spki_sha256()}"])
    try:
        page = context.new_page()
        sign_in_popup(context, page, stack.widget_url, "alice")
        page.wait_for_selector("body[data-registered]", timeout=30_000)
        first_connection = page.get_attribute("body", "data-registered")

        stack.process.send_signal(signal.SIGKILL)  # no goodbye: as a crash would
        stack.process.wait(timeout=10)
        page.wait_for_selector("#status[data-state=reconnecting]", timeout=40_000)
        assert "retrying" in page.text_content("#status-reason") or page.text_content("#status-reason")

        restarted = start_stack(stack.state_dir, port=stack.port)
        own_stack["stack"] = restarted
        data = json.loads((stack.state_dir / "identity.json").read_text())
        from tests.conftest import Identity

        sender = Api(restarted, Identity(restarted, data).sender_token())
        r = sender.call("POST", "/api/SendMessageToUser", {
            "userId": data["users"]["alice"]["oid"], "messageId": "while-away-1", "ttlSeconds": 60,
            "message": call_payload(comments="sent while the widget was reconnecting")})
        assert r.status_code == 202, r.text
        queued_or_sent = r.json()["status"]

        page.wait_for_selector("#status[data-state=connected]", timeout=60_000)
        page.wait_for_function("() => document.body.dataset.registered !== %r" % first_connection, timeout=30_000)
        page.wait_for_selector('#recent li[data-message-id="while-away-1"][data-outcome]', timeout=30_000)
        time.sleep(1.0)  # room for a duplicate to show up, if there were one
        assert page.locator('#recent li[data-message-id="while-away-1"]').count() == 1
        assert page.evaluate("() => window.adaptor.delivered") == 1
        assert queued_or_sent in ("queued", "sent")
    finally:
        context.close()
