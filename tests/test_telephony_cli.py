"""The telephony CLI as a person runs it: real msal client credentials, real functions
(with v2.0 and v1.0 access tokens)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

pytestmark = pytest.mark.token_versions
REPO = Path(__file__).resolve().parent.parent


def cli(stack, *args, timeout=60, functions_url=None):
    env = {**os.environ, "ADAPTOR_STATE_DIR": str(stack.state_dir), "AdaptorFunctionUrl": functions_url or stack.url}
    for key in ("Authority", "TELEPHONY_CLIENT_ID", "TELEPHONY_CLIENT_SECRET", "TELEPHONY_API"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "telephony", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_the_commands(stack):
    out = cli(stack, "--help")
    assert out.returncode == 0 and all(c in out.stdout for c in ("send", "status", "token"))


def test_sender_and_agent_tokens(stack, identity):
    sender = cli(stack, "token", "--sender")
    assert sender.returncode == 0, sender.stderr
    assert "Notifications.Send" in jwt.decode(sender.stdout.strip(), options={"verify_signature": False})["roles"]
    agent = cli(stack, "token", "--agent", "bob")
    assert agent.returncode == 0, agent.stderr
    assert jwt.decode(agent.stdout.strip(), options={"verify_signature": False})["oid"] == identity.oid("bob")
    unknown = cli(stack, "token", "--agent", "mallory")
    assert unknown.returncode != 0 and "not a test user" in unknown.stderr


def test_send_and_follow_until_expired(stack):
    out = cli(stack, "send", "nobody-online", "--phone", "+15550001111", "--ttl", "1", "--follow", "--timeout", "10")
    assert out.returncode == 0, out.stderr
    first_line, rest = out.stdout.split("\n", 1)
    assert first_line.endswith("queued (connections: 0)")
    assert json.loads(rest)["status"] == "expired"


def test_bad_input_is_a_clear_error(stack):
    out = cli(stack, "send", "u1", "--phone", "+1555", "--ttl", "-3")
    assert out.returncode != 0
    assert "422 invalid_field" in out.stderr and "ttlSeconds" in out.stderr


def test_adaptor_function_url_with_api_prefix(stack):
    """The sample's AdaptorFunctionUrl ends in /api (and may end in a slash): same result."""
    out = cli(stack, "send", "nobody-online", "--phone", "+15550001111", "--ttl", "5",
              functions_url=f"{stack.url}/api/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("queued (connections: 0)")


def test_cancel_withdraws_a_queued_call_and_says_why_it_cannot(stack):
    """`cancel MESSAGE_ID [--reason R]`: the caller hung up; the message ends cancelled.
    Again: the same answer; an unknown id or a final message: the functions' error."""
    sent = cli(stack, "send", "nobody-online", "--phone", "+15550001111", "--ttl", "60")
    message_id = sent.stdout.split()[0]
    out = cli(stack, "cancel", message_id, "--reason", "caller_abandoned")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["messageId"] == message_id and body["status"] == "cancelled" and body["reason"] == "caller_abandoned"
    again = cli(stack, "cancel", message_id)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "cancelled"
    status = cli(stack, "status", message_id, "--follow", "--timeout", "5")  # cancelled is final: no waiting
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "cancelled"
    unknown = cli(stack, "cancel", "no-such-message")
    assert unknown.returncode != 0 and "404 unknown_message" in unknown.stderr
    bad = cli(stack, "cancel", message_id, "--reason", "two\nlines")
    assert bad.returncode != 0 and "422 invalid_field" in bad.stderr and "reason" in bad.stderr
def test_listen_verifies_prints_and_rings_the_agent_back(stack, identity, sender_api):
    """`telephony listen --ring-back`: a correctly signed dial is printed and answered 200,
    then the agent is called with the dialled number; a forged one is 401 and not dialled."""
    import time

    import httpx

    from server.dial_webhook import signed_headers

    env = {**os.environ, "ADAPTOR_STATE_DIR": str(stack.state_dir), "AdaptorFunctionUrl": stack.url,
           "PYTHONUNBUFFERED": "1"}
    secret = "cli-listen-test-secret-0123456789abcdef"
    proc = subprocess.Popen([sys.executable, "-m", "telephony", "listen", "--port", "0", "--secret", secret,
                             "--ring-back"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("listening for dial requests on http://127.0.0.1:"), first
        url = first.rsplit(" ", 1)[1].strip()
        dial = {"dialId": "cli-dial-1", "userId": identity.oid("bob"), "number": "+15557654321", "extension": None,
                "requestedNumber": "+15557654321", "record": {}, "requestedAt": "2026-01-01T00:00:00.000+00:00"}
        content = json.dumps(dial).encode()
        forged = httpx.post(url, content=content, headers={**signed_headers("x" * 32, content, int(time.time()),
                                                                            "cli-dial-1")})
        assert forged.status_code == 401 and "does not match" in forged.json()["message"]
        good = httpx.post(url, content=content, headers=signed_headers(secret, content, int(time.time()), "cli-dial-1"))
        assert good.status_code == 200 and good.json() == {"received": "cli-dial-1"}
        assert json.loads(proc.stdout.readline()) == dial
        rang = proc.stdout.readline()
        assert rang.startswith(f"rang {identity.oid('bob')} back: "), rang
        message_id = rang.split(": ", 1)[1].split()[0]
        status = sender_api.call("GET", f"/api/messages/{message_id}").json()
        assert status["userId"] == identity.oid("bob") and status["status"] in ("queued", "sent")
    finally:
        proc.terminate()
        proc.wait(10)
