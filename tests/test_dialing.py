"""Click-to-dial on the functions' side: requestDial (as the upstream webhook or trigger
delivers it) → a stored dial → the signed webhook, retried with a bounded backoff by the
DeliverDials timer; GET /api/dials/<id>; the receiver of `python -m telephony listen`.
The handlers run in-process on the local stack (real emulator, real tokens), the webhook
on real loopback HTTP servers; time is the handlers' clock, passed in."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from server import dial_webhook as webhook
from server import upstream
from server.errors import ApiError, ConfigError
from server.functions.handlers import Functions
from server.store import Connection
from server.store.memory import MemoryStore
from telephony.listen import Receiver
from testkit.inprocess import InProcess

REPO = Path(__file__).resolve().parent.parent
SECRET = "dial-webhook-test-secret-0123456789abcdef"
GUID = "2f5a7b9c-4d6e-4f8a-8b3c-5e7a9c1d3f09"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedWebhook:
    """A loopback webhook answering the given statuses in turn (then 200), keeping each
    request's headers and body."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.requests = list(statuses), []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                content = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((dict(self.headers), content))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dials"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    with InProcess(tmp_path_factory.mktemp("dialing")) as stack:
        yield stack


def dialer(local, url: str | None, clock: Clock) -> Functions:
    """Handlers on a fresh store with alice's connection recorded, dialing to `url`."""
    config = replace(local.config, dial_webhook=(url, SECRET) if url else None)
    store = MemoryStore()
    store.upsert_connection(Connection(local.oid("alice"), "conn-a", config.hub, 1, clock()))
    store.upsert_connection(Connection(local.oid("bob"), "conn-b", config.hub, 1, clock()))
    return Functions(config, local.validator, store, local.stack.functions.signalr, clock=clock,
                     webhook_http=httpx.Client(trust_env=False))


def request_dial(fns: Functions, argument, connection="conn-a", user=None) -> dict:
    if user is None:
        conn = fns.store.get_connection(connection)
        user = conn.user_id if conn else "nobody"
    event = upstream.Invocation(upstream.Context(fns.config.hub, connection, user), "requestDial", [argument], "1")
    return fns.on_upstream(event)


def dial_arg(dial_id="d-1", number="+1 (555) 123-4567", **record) -> dict:
    return {"dialId": dial_id, "number": number,
            "record": record or {"entityLogicalName": "contact", "field": "mobilephone", "entityId": GUID,
                                 "name": "Maria Campbell"}}


# --- the wire format ---------------------------------------------------------------------------------

def test_the_signature_matches_the_documented_test_vector():
    """docs/dial-webhook.md gives secret, timestamp, body and signature; any receiver
    (and this one) must compute the same."""
    doc = (REPO / "docs" / "dial-webhook.md").read_text()
    vector = dict(re.findall(r"^\| (secret|timestamp|body|signature) \| `(.+?)` \|$", doc, re.M))
    assert set(vector) == {"secret", "timestamp", "body", "signature"}
    content = vector["body"].encode()
    assert webhook.signature(vector["secret"], int(vector["timestamp"]), content) == vector["signature"]
    independent = hmac.new(vector["secret"].encode(), vector["timestamp"].encode() + b"." + content, hashlib.sha256)
    assert vector["signature"] == "sha256=" + independent.hexdigest()
    headers = {webhook.TIMESTAMP: vector["timestamp"], webhook.SIGNATURE: vector["signature"]}
    assert webhook.verify(vector["secret"], headers, content, now=int(vector["timestamp"]) + 299)["number"]


def test_the_receiver_refuses_a_wrong_stale_or_missing_signature():
    content = b'{"dialId":"d-1","number":"+15551234567"}'
    good = webhook.signed_headers(SECRET, content, 1_000, "d-1")
    assert webhook.verify(SECRET, good, content, 1_000)["dialId"] == "d-1"
    for headers, now, why in ((good, 1_000 + 301, "away from now"),
                              ({**good, webhook.SIGNATURE: good[webhook.SIGNATURE][:-1] + "0"}, 1_000, "does not match"),
                              ({webhook.SIGNATURE: good[webhook.SIGNATURE]}, 1_000, "Unix seconds")):
        with pytest.raises(webhook.WebhookRejected, match=why):
            webhook.verify(SECRET, headers, content, now)
    with pytest.raises(webhook.WebhookRejected, match="does not match"):
        webhook.verify(SECRET, good, content.replace(b"123", b"124"), 1_000)


@pytest.mark.parametrize("url, secret, error", [
    ("http://dialer.example/hook", SECRET, "must be an https URL"),
    ("ftp://127.0.0.1/hook", SECRET, "must be an https URL"),
    ("https://dialer.example/hook", "short", "at least 32 characters"),
    ("https://dialer.example/hook", None, "DialWebhookSecret"),
])
def test_webhook_settings_are_checked_at_start(url, secret, error):
    with pytest.raises(ConfigError, match=error):
        webhook.webhook_settings(url, secret)
    assert webhook.webhook_settings(None, None) is None
    assert webhook.webhook_settings("http://127.0.0.1:7075/dials", SECRET) == ("http://127.0.0.1:7075/dials", SECRET)


# --- requestDial → the webhook ----------------------------------------------------------------------

def test_a_dial_is_stored_signed_delivered_and_readable_by_the_sender(local):
    clock = Clock()
    with Receiver(SECRET, port=0, clock=clock) as receiver:
        fns = dialer(local, receiver.url, clock)
        result = request_dial(fns, dial_arg())
        assert result == {"dialId": "d-1", "status": "delivered", "number": "+15551234567", "attempts": 1}
        (sent,) = receiver.received
        assert not receiver.rejected
        assert sent == {"dialId": "d-1", "userId": local.oid("alice"), "number": "+15551234567", "extension": None,
                        "requestedNumber": "+1 (555) 123-4567",
                        "record": {"entityLogicalName": "contact", "field": "mobilephone", "entityId": GUID,
                                   "name": "Maria Campbell"},
                        "requestedAt": "2027-01-15T08:00:00.000+00:00"}
        # the same dial again (a resend after a reconnect): its state, no second call
        assert request_dial(fns, dial_arg(number="+15550000000"))["status"] == "delivered"
        assert len(receiver.received) == 1
        response = local.call("GetDial", "GET", token=local.tokens["sender"], route={"dialId": "d-1"}, functions=fns)
        assert response.status == 200
        assert response.body == {"dialId": "d-1", "userId": local.oid("alice"), "status": "delivered",
                                 "number": "+15551234567", "extension": None, "requestedNumber": "+1 (555) 123-4567",
                                 "record": sent["record"], "attempts": 1, "error": None,
                                 "createdAt": "2027-01-15T08:00:00.000+00:00", "nextAttemptAt": None,
                                 "completedAt": "2027-01-15T08:00:00.000+00:00"}
        assert local.call("GetDial", "GET", token=local.tokens["sender"], route={"dialId": "nope"},
                          functions=fns).status == 404
        assert local.call("GetDial", "GET", token=local.tokens["alice"], route={"dialId": "d-1"},
                          functions=fns).status == 403


def test_an_extension_and_a_national_number_are_dialled_as_e164(local):
    clock = Clock()
    with Receiver(SECRET, port=0, clock=clock) as receiver:
        fns = dialer(local, receiver.url, clock)
        request_dial(fns, {"dialId": "d-ext", "number": "(555) 010-0250 ext. 12"})
        assert (receiver.received[0]["number"], receiver.received[0]["extension"], receiver.received[0]["record"]) == \
            ("+15550100250", "12", {})


@pytest.mark.parametrize("argument, status, code, text", [
    ("+15551234567", 400, "invalid_dial", "one object"),
    ({"number": "+15551234567"}, 422, "invalid_field", "'dialId'"),
    ({"dialId": "a b", "number": "+15551234567"}, 422, "invalid_field", "'dialId'"),
    ({"dialId": "d-x"}, 400, "missing_field", "'number' is required"),
    ({"dialId": "d-x", "number": "+1555\n1234567"}, 422, "invalid_field", "one line"),
    ({"dialId": "d-x", "number": "x" * 65}, 422, "invalid_field", "longer than 64"),
    ({"dialId": "d-x", "number": "call me"}, 422, "invalid_number", "'number' is not a phone number"),
    ({"dialId": "d-x", "number": "+1555", "record": {}}, 422, "invalid_number", "'number'"),
    ({"dialId": "d-x", "number": "+15551234567", "record": []}, 422, "invalid_field", "'record'"),
    ({"dialId": "d-x", "number": "+15551234567", "record": {"entityId": "1; drop"}}, 422, "invalid_field",
     "'record.entityId' must be a GUID"),
    ({"dialId": "d-x", "number": "+15551234567", "record": {"field": "Mobile Phone"}}, 422, "invalid_field",
     "'record.field' must be a Dataverse logical name"),
])
def test_bad_dial_requests_are_refused_naming_the_rule_and_nothing_is_dialled(local, argument, status, code, text):
    clock = Clock()
    with Receiver(SECRET, port=0, clock=clock) as receiver:
        fns = dialer(local, receiver.url, clock)
        with pytest.raises(ApiError) as refused:
            request_dial(fns, argument)
        assert (refused.value.status, refused.value.code) == (status, code) and text in refused.value.message
        assert receiver.received == [] and fns.store.due_dials(clock() + 3600, 10) == []


def test_only_the_owner_of_a_connection_dials_and_a_dial_id_is_one_users(local):
    clock = Clock()
    with Receiver(SECRET, port=0, clock=clock) as receiver:
        fns = dialer(local, receiver.url, clock)
        with pytest.raises(ApiError) as foreign:
            request_dial(fns, dial_arg(), connection="conn-b", user=local.oid("alice"))
        assert foreign.value.code == "connection_not_yours"
        request_dial(fns, dial_arg())
        with pytest.raises(ApiError) as taken:
            request_dial(fns, dial_arg(), connection="conn-b")
        assert (taken.value.status, taken.value.code) == (409, "duplicate_dial_id")
        assert len(receiver.received) == 1


def test_without_a_webhook_dialing_is_off_and_says_so(local):
    fns = dialer(local, None, Clock())
    with pytest.raises(ApiError) as off:
        request_dial(fns, dial_arg())
    assert (off.value.status, off.value.code) == (503, "dialing_off") and "DialWebhookUrl" in off.value.message


# --- retries ---------------------------------------------------------------------------------------

def test_a_failing_webhook_is_retried_with_backoff_and_each_attempt_is_signed_anew(local):
    clock = Clock()
    hook = ScriptedWebhook([503, 429])
    try:
        fns = dialer(local, hook.url, clock)
        first = request_dial(fns, dial_arg())
        assert (first["status"], first["attempts"], first["error"]) == ("pending", 1, "the webhook answered 503")
        clock.now += webhook.BACKOFF[0] - 0.5
        assert fns.DeliverDials() == {"attempted": 0}  # not due yet
        clock.now += 0.5
        assert fns.DeliverDials() == {"attempted": 1, "pending": 1}  # 429: again later
        clock.now += webhook.BACKOFF[1]
        assert fns.DeliverDials() == {"attempted": 1, "delivered": 1}
        assert fns.DeliverDials() == {"attempted": 0}
        assert [json.loads(c)["dialId"] for _, c in hook.requests] == ["d-1"] * 3
        stamps = [int(h[webhook.TIMESTAMP]) for h, _ in hook.requests]
        assert stamps == sorted(stamps) and len(set(stamps)) == 3
        for headers, content in hook.requests:
            assert headers[webhook.DIAL_ID] == "d-1"
            webhook.verify(SECRET, headers, content, int(headers[webhook.TIMESTAMP]))
        state = fns.dialer.describe("d-1")
        assert (state["status"], state["attempts"], state["error"]) == ("delivered", 3, None)
    finally:
        hook.close()


def test_a_4xx_is_a_refusal_not_retried(local):
    clock = Clock()
    hook = ScriptedWebhook([401])
    try:
        fns = dialer(local, hook.url, clock)
        assert request_dial(fns, dial_arg())["status"] == "refused"
        clock.now += 3600
        assert fns.DeliverDials() == {"attempted": 0} and len(hook.requests) == 1
        assert fns.dialer.describe("d-1")["error"] == "the webhook answered 401"
    finally:
        hook.close()


def test_an_unreachable_webhook_fails_after_the_last_attempt(local):
    clock = Clock()
    hook = ScriptedWebhook([])
    url = hook.url
    hook.close()  # nothing listens there now
    fns = dialer(local, url, clock)
    assert request_dial(fns, dial_arg())["status"] == "pending"
    for delay in webhook.BACKOFF:
        clock.now += delay
        fns.DeliverDials()
    state = fns.dialer.describe("d-1")
    assert (state["status"], state["attempts"]) == ("failed", webhook.MAX_ATTEMPTS)
    assert state["error"].startswith(f"gave up after {webhook.MAX_ATTEMPTS} attempts: the webhook was not reached")
    clock.now += 3600
    assert fns.DeliverDials() == {"attempted": 0}
