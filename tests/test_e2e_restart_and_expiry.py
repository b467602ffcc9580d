"""End-to-end flows 8 and 9, each on a stack of its own:
8. server killed and restarted during a shift → amber → green again with no reload, and a
   call sent meanwhile (within its TTL) reaches the CIF exactly once;
9. access tokens expire → renewed silently (refresh token), no popup, still connected."""
import json
import signal
import time

import pytest

from tests.conftest import (
    Api,
    Identity,
    call_payload,
    chromium_context,
    free_port,
    start_stack,
    stop_stack,
    wait_status,
)
from tests.test_e2e_flows import cif_calls, open_host, pending, shot

pytestmark = pytest.mark.browser


@pytest.fixture
def own_stack(tmp_path):
    holder = {"stack": start_stack(tmp_path / "state", port=free_port())}
    yield holder
    stop_stack(holder["stack"])


def test_08_server_restart_amber_then_green_and_queued_call_once(own_stack, playwright_instance):
    stack = own_stack["stack"]
    with chromium_context(playwright_instance, stack.certs) as context:
        page, widget = open_host(context, stack)
        first_connection = widget.locator("body").get_attribute("data-registered")

        started = time.monotonic()
        stack.process.send_signal(signal.SIGKILL)  # no goodbye, as a crash would
        stack.process.wait(timeout=10)
        widget.locator("#status[data-state=reconnecting]").wait_for(timeout=40_000)
        shot(page, "08-amber")

        restarted = start_stack(stack.state_dir, port=stack.port)
        own_stack["stack"] = restarted
        identity = Identity(restarted, json.loads((stack.state_dir / "identity.json").read_text()))
        sender = Api(restarted, identity.sender_token())
        r = sender.call("POST", "/api/SendMessageToUser", {
            "userId": identity.oid("alice"), "messageId": "while-away-1", "ttlSeconds": 60,
            "message": call_payload(comments="sent while the widget was reconnecting")})
        assert r.status_code == 202, r.text

        widget.locator("#status[data-state=connected]").wait_for(timeout=60_000)
        widget.locator(f"body:not([data-registered='{first_connection}'])").wait_for(timeout=30_000)
        recovered = time.monotonic() - started
        pending(page)
        time.sleep(1.0)  # room for a duplicate to show up, if there were one
        assert len([c for c in cif_calls(page, "notifyEvent")
                    if c["args"][0]["templateParameters"]["extn_comment"].startswith("sent while")]) == 1
        page.get_by_role("button", name="Accept").first.click()
        wait_status(sender, "while-away-1", "accepted")
        shot(page, "08-green-again")
        print(f"flow 8: killed → green again in {recovered:.1f} s")


def test_09_expiring_tokens_are_renewed_silently(tmp_path, playwright_instance):
    # 40 s access tokens: the widget renews at half-life (20 s) through the refresh token.
    stack = start_stack(tmp_path / "state", env={"ADAPTOR_IDP_TOKEN_LIFETIME": "40"})
    try:
        with chromium_context(playwright_instance, stack.certs) as context:
            refreshes = []
            context.on("request", lambda r: refreshes.append(r.url) if r.method == "POST"
                       and r.url.endswith("/oauth2/v2.0/token") and "grant_type=refresh_token" in (r.post_data or "")
                       else None)
            page, widget = open_host(context, stack)
            popups = []
            context.on("page", lambda p: popups.append(p))
            page.wait_for_timeout(45_000)  # past the first token's expiry
            assert refreshes, "the widget never renewed its token"
            assert popups == []
            assert widget.locator("#status").get_attribute("data-state") == "connected"
            identity = Identity(stack, json.loads((stack.state_dir / "identity.json").read_text()))
            sender = Api(stack, identity.sender_token())
            r = sender.call("POST", "/api/SendMessageToUser", {"userId": identity.oid("alice"), "message": call_payload()})
            pending(page)
            page.get_by_role("button", name="Accept").first.click()
            wait_status(sender, r.json()["messageId"], "accepted")
            # a reconnect after expiry negotiates with a renewed token, still without a popup
            page.reload()
            page.frame_locator("#widget-frame").locator("body[data-registered]").wait_for(timeout=60_000)
            assert popups == []
            shot(page, "09-renewed")
    finally:
        stop_stack(stack)
