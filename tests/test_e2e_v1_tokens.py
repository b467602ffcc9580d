"""The deployment as Entra ID sets it up by default, end to end in Chromium: the identity
provider issues v1.0 access tokens (an API manifest without accessTokenAcceptedVersion)
and AdaptorFunctionUrl is the sample's `…/api/` form. The widget signs in and connects,
the dev console places the call, the agent accepts, the telephony CLI reads the outcome."""
import json
import re
import subprocess
import sys

import jwt
import pytest

from tests.conftest import REPO, Identity, chromium_context, free_port, sign_in_popup, start_stack, stop_stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def v1_stack(tmp_path_factory):
    port = free_port()
    stack = start_stack(tmp_path_factory.mktemp("e2e-v1"), port=port, env={
        "ADAPTOR_IDP_ACCESS_TOKEN_VERSION": "1", "AdaptorFunctionUrl": f"https://localhost:{port}/api/"})
    yield stack, Identity(stack, json.loads((stack.state_dir / "identity.json").read_text()))
    stop_stack(stack)


def test_widget_console_and_cli_with_v1_tokens_and_api_prefix(playwright_instance, v1_stack):
    stack, identity = v1_stack
    config = stack.session().get(f"https://localhost:{stack.port}/widget/config.json").json()
    assert config["AdaptorFunctionUrl"] == f"https://localhost:{stack.port}/api/"
    with chromium_context(playwright_instance, stack.certs) as context:
        page = context.new_page()
        negotiations = []
        context.on("request", lambda r: negotiations.append(r) if r.url.split("?")[0].endswith("/negotiate") else None)
        sign_in_popup(context, page, f"{stack.url}/", "alice")
        widget = page.frame_locator("#widget-frame")
        widget.locator("body[data-registered]").wait_for(timeout=60_000)
        ours = [r for r in negotiations if "/api/" in r.url]
        # negotiateVersion=1: the widget asks for version 1 answers, as the official client does
        assert [r.url for r in ours] == [f"https://localhost:{stack.port}/api/negotiate?negotiateVersion=1"]
        token = ours[0].headers["authorization"].split(" ", 1)[1]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["ver"] == "1.0" and claims["iss"].startswith("https://sts.windows.net/")

        console = stack.session().get(f"{stack.url}/console").text
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', console).group(1)
        r = stack.session().post(f"{stack.url}/console/api/call", timeout=30, headers={"X-CSRF-Token": csrf},
                                 json={"userId": "alice", "phone": "+15551234567", "comments": "v1 call"})
        assert r.status_code == 202, r.text
        message_id = r.json()["messageId"]
        page.wait_for_function("() => window.cifHost.pendingNotifications().length >= 1", timeout=15_000)
        page.get_by_role("button", name="Accept").first.click()
        page.wait_for_function("() => window.cifHost.sessions().length === 1")

    env = {"ADAPTOR_STATE_DIR": str(stack.state_dir), "AdaptorFunctionUrl": f"https://localhost:{stack.port}/api",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "telephony", "status", message_id, "--follow", "--timeout", "15"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "accepted"
