"""Withdraw and presence in the handlers, in this process on a fresh store each
(testkit/inprocess.py, as tests/test_handlers.py): POST /api/messages/<id>/cancel and its
statuses, GET /api/agents/<id>/presence and the list, the reportPresence hub method as the
service delivers it upstream, and UnavailableAgentCalls (docs/functions-api.md). What
needs live agents — the withdrawal reaching every tab, held calls delivered on connect —
is in tests/test_withdraw_presence_flow.py."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from server import upstream
from server.config import azure_setup
from server.errors import ConfigError
from server.functions.handlers import Functions
from server.settings import Settings
from server.store import Connection
from server.store.memory import MemoryStore
from testkit.functions import call_payload
from testkit.inprocess import InProcess
from tests.test_handlers import expect

SENDER, ALICE = "sender", "alice"


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    with InProcess(tmp_path_factory.mktemp("handlers-withdraw")) as local:
        yield local


def send(local, functions, user="offline-user", **body):
    return local.call("SendMessageToUser", token=local.tokens[SENDER], functions=functions,
                      body={"userId": user, "message": call_payload(), **body})


def cancel(local, functions, message_id, body=None, token=SENDER, raw=None):
    return local.call("CancelMessage", token=local.tokens[token], functions=functions, body=body, raw=raw,
                      route={"messageId": message_id})


def status(local, functions, message_id):
    return expect(local.call("GetMessage", "GET", local.tokens[SENDER], functions=functions,
                             route={"messageId": message_id}), 200)


def invoke(local, functions, target, arguments, user, connection="conn-1"):
    """A hub method invocation as the service POSTs it upstream (signed), answered with a Completion."""
    headers = {"X-ASRS-Hub": "myhub", "X-ASRS-Category": "messages", "X-ASRS-Event": target, "X-ASRS-User-Id": user,
               "X-ASRS-Connection-Id": connection,
               "X-ASRS-Signature": upstream.signature(connection, [local.config.local_signalr_keys[0]])}
    return local.call("SignalRWebhook", headers=headers, query={"code": local.config.functions_key}, functions=functions,
                      body={"type": 1, "target": target, "arguments": arguments, "invocationId": "1"})


def connect(functions, user, connection="conn-1"):
    """A connection row of `user`. The service has no such connection here, and a send finding
    none forgets rows older than itself (handlers.py), so the row is dated after every send."""
    functions.store.upsert_connection(Connection(user, connection, "myhub", 1, time.time() + 3600))


# --- withdraw: POST /api/messages/<id>/cancel -------------------------------------------------

def test_cancel_a_queued_call_with_a_reason(local):
    functions = local.functions()
    message_id = expect(send(local, functions, ttlSeconds=60), 202)["messageId"]
    body = expect(cancel(local, functions, message_id, {"reason": "caller_abandoned"}), 200)
    assert (body["messageId"], body["status"], body["reason"]) == (message_id, "cancelled", "caller_abandoned")
    assert body["completedAt"] and body["deliveries"] == 0
    assert status(local, functions, message_id) == body
    assert functions.store.open_messages("offline-user", "myhub") == []  # never delivered on a later connect
    # again: the same answer, the first reason kept
    assert expect(cancel(local, functions, message_id, {"reason": "second"}), 200) == body


def test_cancel_without_a_body_or_reason(local):
    functions = local.functions()
    message_id = expect(send(local, functions), 202)["messageId"]
    body = expect(cancel(local, functions, message_id), 200)
    assert body["status"] == "cancelled" and "reason" not in body
    other = expect(send(local, functions), 202)["messageId"]
    assert expect(cancel(local, functions, other, {}), 200)["status"] == "cancelled"


def test_cancel_unknown_is_404_and_needs_the_sender_role(local):
    functions = local.functions()
    expect(cancel(local, functions, "nope-1"), 404, "unknown_message")
    message_id = expect(send(local, functions), 202)["messageId"]
    expect(cancel(local, functions, message_id, token=ALICE), 403, "missing_role")
    expect(local.call("CancelMessage", functions=functions, route={"messageId": message_id}), 401, "missing_token")
    assert status(local, functions, message_id)["status"] == "queued"


@pytest.mark.parametrize("body,status_code", [({"reason": 7}, 422), ({"reason": "two\nlines"}, 422),
                                              ({"reason": "x" * 257}, 422), ({"reason": ""}, 422),
                                              ((b"{oops", "application/json"), 400), ((b"reason", "text/plain"), 415)])
def test_a_bad_reason_is_refused_and_the_call_stays(local, body, status_code):
    functions = local.functions()
    message_id = expect(send(local, functions), 202)["messageId"]
    if isinstance(body, tuple):
        response = local.call("CancelMessage", token=local.tokens[SENDER], functions=functions, raw=body[0],
                              content_type=body[1], route={"messageId": message_id})
    else:
        response = cancel(local, functions, message_id, body)
    assert response.status == status_code and response.body["message"], response.body
    assert status(local, functions, message_id)["status"] == "queued"


def test_an_answered_call_cannot_be_cancelled_and_a_late_ack_changes_nothing(local):
    functions = local.functions()
    alice = local.oid("alice")
    connect(functions, alice)
    answered = expect(send(local, functions, user=alice), 202)["messageId"]
    ack = invoke(local, functions, "sendMessage", [{"messageId": answered, "outcome": "Accepted"}], alice)
    assert ack.body["result"] == {"recorded": True, "status": "accepted"}
    body = expect(cancel(local, functions, answered, {"reason": "caller_abandoned"}), 409, "message_final")
    assert "accepted" in body["message"]
    assert status(local, functions, answered)["status"] == "accepted"

    cancelled = expect(send(local, functions, user=alice), 202)["messageId"]
    expect(cancel(local, functions, cancelled), 200)
    late = invoke(local, functions, "sendMessage", [{"messageId": cancelled, "outcome": "Accepted"}], alice)
    assert late.body["result"] == {"recorded": False, "status": "cancelled"}


def test_an_expired_call_cannot_be_cancelled(local):
    now = [1000.0]
    functions = Functions(local.config, local.validator, MemoryStore(), local.stack.functions.signalr,
                          clock=lambda: now[0])
    message_id = expect(send(local, functions, ttlSeconds=5), 202)["messageId"]
    now[0] += 6
    body = expect(cancel(local, functions, message_id), 409, "message_final")
    assert "expired" in body["message"] and status(local, functions, message_id)["status"] == "expired"


# --- presence: reportPresence upstream, GET /api/agents/... --------------------------------------

BUSY_DND = {"presenceText": "Busy - DND", "basePresenceStatus": "BUSY_DND",
            "presenceId": "efdeb843-c07a-e811-8162-000d3aa11f52"}


def presence(local, functions, user, token=SENDER):
    return local.call("GetAgentPresence", "GET", local.tokens[token], functions=functions, route={"userId": user})


def test_reported_presence_is_kept_per_agent_and_read_by_the_sender(local):
    functions = local.functions()
    alice, bob = local.oid("alice"), local.oid("bob")
    connect(functions, alice)
    connect(functions, alice, "conn-2")
    connect(functions, bob, "conn-b")
    before = time.time()
    answer = invoke(local, functions, "reportPresence", [BUSY_DND], alice)
    assert answer.status == 200 and answer.body["result"] == {"recorded": True, "status": "do_not_disturb"}
    invoke(local, functions, "reportPresence", [{"presenceText": "Away – In Training"}], bob, "conn-b")
    body = expect(presence(local, functions, alice), 200)
    assert body == {"userId": alice, "status": "do_not_disturb", "presenceText": "Busy - DND",
                    "basePresenceStatus": "BUSY_DND", "presenceId": BUSY_DND["presenceId"],
                    "updatedAt": body["updatedAt"], "connections": 2}
    from datetime import datetime
    assert datetime.fromisoformat(body["updatedAt"]).timestamp() >= before - 0.001
    listed = expect(local.call("ListAgentPresence", "GET", local.tokens[SENDER], functions=functions), 200)
    assert listed["agents"] == sorted([body, {"userId": bob, "status": "unknown", "presenceText": "Away – In Training",
                                              "basePresenceStatus": None, "presenceId": None,
                                              "updatedAt": listed["agents"][0 if bob < alice else 1]["updatedAt"],
                                              "connections": 1}], key=lambda a: a["userId"])
    # the latest report wins; an option value counts as the base status
    invoke(local, functions, "reportPresence", [{"presenceText": "Offline", "basePresenceStatus": 192360004}], alice)
    assert expect(presence(local, functions, alice), 200)["status"] == "offline"


def test_presence_reads_need_the_sender_role_and_a_known_agent(local):
    functions = local.functions()
    expect(presence(local, functions, "never-reported"), 404, "unknown_agent")
    expect(presence(local, functions, "x", token=ALICE), 403, "missing_role")
    expect(local.call("ListAgentPresence", "GET", local.tokens[ALICE], functions=functions), 403, "missing_role")
    expect(presence(local, functions, "a\x01b"), 400, "invalid_user_id")
    assert expect(local.call("ListAgentPresence", "GET", local.tokens[SENDER], functions=functions), 200) == \
        {"agents": []}


@pytest.mark.parametrize("arguments,status_code,code", [
    ([], 400, "invalid_presence"), (["Available"], 400, "invalid_presence"),
    ([{"basePresenceStatus": "AVAILABLE"}], 400, "missing_field"),
    ([{"presenceText": "x" * 101}], 422, "invalid_field"),
    ([{"presenceText": "Available", "presenceId": 5}], 422, "invalid_field"),
    ([{"presenceText": "Available", "basePresenceStatus": ["AVAILABLE"]}], 422, "invalid_field"),
])
def test_a_bad_presence_report_is_refused_and_nothing_is_stored(local, arguments, status_code, code):
    functions = local.functions()
    connect(functions, local.oid("alice"))
    answer = invoke(local, functions, "reportPresence", arguments, local.oid("alice"))
    expect(answer, status_code, code)
    assert functions.store.all_presence() == []


def test_presence_counts_only_from_the_agents_own_connection(local):
    functions = local.functions()
    alice, bob = local.oid("alice"), local.oid("bob")
    connect(functions, bob, "conn-b")
    expect(invoke(local, functions, "reportPresence", [BUSY_DND], alice, "conn-b"), 403, "connection_not_yours")
    expect(invoke(local, functions, "reportPresence", [BUSY_DND], alice, "conn-unknown"), 403, "connection_not_yours")
    assert functions.store.all_presence() == []


# --- UnavailableAgentCalls ---------------------------------------------------------------------

def test_queue_holds_calls_for_an_unavailable_agent_until_they_are_available(local):
    functions = local.functions()
    alice = local.oid("alice")
    connect(functions, alice)
    invoke(local, functions, "reportPresence", [BUSY_DND], alice)
    held = expect(send(local, functions, user=alice, ttlSeconds=60), 202)
    assert held["status"] == "queued"
    expect(send(local, functions, user=alice, ttlSeconds=0), 409, "agent_unavailable")  # cannot wait
    assert status(local, functions, held["messageId"])["deliveries"] == 0
    invoke(local, functions, "reportPresence", [{"presenceText": "Busy", "basePresenceStatus": "BUSY"}], alice)
    body = status(local, functions, held["messageId"])
    assert (body["status"], body["deliveries"]) == ("sent", 1)  # pushed once the agent left do-not-disturb
    invoke(local, functions, "reportPresence", [{"presenceText": "Available"}], alice)
    assert status(local, functions, held["messageId"])["deliveries"] == 1  # no redelivery on every report


def test_refuse_answers_409_naming_the_presence_and_stores_nothing(local):
    functions = Functions(
        replace(local.config, unavailable_agent_calls="refuse"), local.validator, MemoryStore(),
        local.stack.functions.signalr)
    alice = local.oid("alice")
    connect(functions, alice)
    invoke(local, functions, "reportPresence", [{"presenceText": "Offline", "basePresenceStatus": "OFFLINE"}], alice)
    body = expect(send(local, functions, user=alice, ttlSeconds=60), 409, "agent_unavailable")
    assert "'Offline' (offline)" in body["message"] and "UnavailableAgentCalls" in body["message"]
    assert functions.store.recent_messages(10) == []
    invoke(local, functions, "reportPresence", [{"presenceText": "Available"}], alice)
    assert expect(send(local, functions, user=alice, ttlSeconds=60), 202)["status"] in ("sent", "queued")


def test_unavailable_agent_calls_setting_is_checked(tmp_path):
    base = {"Authority": "https://login.example/t", "AzureAd__ClientId": "c", "ApiScope": "api://c/x",
            "AzureSignalRConnectionString": "Endpoint=https://x.service.signalr.net;AccessKey=k;Version=1.0;",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert azure_setup(Settings(tmp_path, **base)).unavailable_agent_calls == "queue"
    assert azure_setup(Settings(tmp_path, **base, extra={"UnavailableAgentCalls": "Refuse"})).unavailable_agent_calls \
        == "refuse"
    with pytest.raises(ConfigError, match="UnavailableAgentCalls must be one of queue, refuse, not 'drop'"):
        azure_setup(Settings(tmp_path, **base, extra={"UnavailableAgentCalls": "drop"}))
