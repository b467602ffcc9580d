"""The official @microsoft/signalr JavaScript client (npm, under Node) connects through our
negotiate redirect to our emulator unchanged, gets a notification and acknowledges it."""
import json
import os
import subprocess
import time
from pathlib import Path

from tests.conftest import Api, call_payload

SCRIPT = Path(__file__).parent / "js" / "official_client.mjs"


def test_official_client_round_trip(stack, tokens, identity, sender_api):
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(stack.certs.ca)}
    proc = subprocess.Popen(["node", str(SCRIPT), stack.url, tokens["alice"]], cwd=SCRIPT.parents[2],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = json.loads(proc.stdout.readline() or "{}")
        assert first.get("event") == "connected", proc.stderr.read()
        # registerClient as the widget does, with the connection id the JS client got
        r = Api(stack, tokens["alice"]).call("POST", "/api/userclient",
                                             {"connectionId": first["connectionId"], "connectionStatus": 1})
        assert r.status_code == 200
        r = sender_api.call("POST", "/api/SendMessageToUser", {"userId": identity.oid("alice"),
                                                               "messageId": "js-1", "message": call_payload()})
        assert r.status_code == 202 and r.json()["status"] == "sent"
        # calls other tests left open for alice are redelivered too (and acked): skip them
        for _ in range(200):
            line = proc.stdout.readline()
            assert line, f"the JS client ended early: {proc.stderr.read()}"
            event = json.loads(line)
            if event["event"] == "notification" and event["message"]["messageId"] == "js-1":
                break
        assert event["message"]["PhoneNumber"] == "+15551234567"
        deadline = time.monotonic() + 10
        while sender_api.call("GET", "/api/messages/js-1").json()["status"] != "accepted":
            assert time.monotonic() < deadline, "the JS client's ack never reached the webhook"
            time.sleep(0.05)
        proc.stdin.write("stop\n")
        proc.stdin.flush()
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
