"""Unit tests for adaptor_core.connection: the sans-IO SignalR client state machine.

Every input is a literal string or an explicit `now`; jitter comes from a seeded or
scripted rng. No sockets, no sleeps: we assert the exact actions that come out."""
from __future__ import annotations

import json
import random

import pytest

from adaptor_core import connection as c
from adaptor_core import hub_protocol as hp
from adaptor_core.connection import (
    CloseSocket,
    Connected,
    Deliver,
    HubConnection,
    Negotiate,
    OpenSocket,
    SendText,
    State,
    StateChanged,
)

CLIENT_URL = "https://svc.example/client/?hub=notification"
CONN_ID = "conn-1"
CONN_TOKEN = "tok/1+="
ACCESS = "ey.J h&"
WS_URL = "wss://svc.example/client/?hub=notification&id=tok%2F1%2B%3D&access_token=ey.J%20h%26"
HANDSHAKE = '{"protocol":"json","version":1}\x1e'
PING = '{"type":6}\x1e'
NOTIFY = '{"type":1,"target":"ReceiveNotification","arguments":[{"PhoneNumber":"+15551234567","messageId":"m1"}]}\x1e'
NOTIFY_INV = hp.Invocation("ReceiveNotification", [{"PhoneNumber": "+15551234567", "messageId": "m1"}])


class ScriptedRng:
    """Stands in for random.Random: `uniform` returns a fixed fraction and records its bounds."""

    def __init__(self, value: float = 0.0):
        self.value, self.calls = value, []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return self.value


def close_record(reason: str) -> str:
    return json.dumps({"type": 7, "error": reason}, separators=(",", ":"), ensure_ascii=False) + "\x1e"


def new(value: float = 0.0) -> HubConnection:
    return HubConnection(rng=ScriptedRng(value))  # type: ignore[arg-type]


def to_negotiating(hub: HubConnection, now: float = 0.0) -> HubConnection:
    assert hub.start(now)
    assert hub.state == State.NEGOTIATING
    return hub


def to_connecting(hub: HubConnection, now: float = 0.0) -> HubConnection:
    to_negotiating(hub, now)
    assert hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, now)
    assert hub.state == State.CONNECTING
    return hub


def to_handshaking(hub: HubConnection, now: float = 0.0) -> HubConnection:
    to_connecting(hub, now)
    assert hub.socket_opened(now)
    assert hub.state == State.HANDSHAKING
    return hub


def to_connected(hub: HubConnection, now: float = 0.0) -> HubConnection:
    to_handshaking(hub, now)
    assert hub.data_received("{}\x1e", now)
    assert hub.state == State.CONNECTED
    return hub


def to_reconnecting(hub: HubConnection, now: float = 0.0) -> HubConnection:
    """Two failed negotiations: the second waits (2 s at zero jitter)."""
    to_negotiating(hub, now)
    hub.negotiate_failed("down", now)  # attempt 0 → immediate retry
    assert hub.negotiate_failed("down", now) == [StateChanged(State.RECONNECTING, "negotiate failed: down", 2.0)]
    assert hub.state == State.RECONNECTING
    return hub


def to_stopped(hub: HubConnection, now: float = 0.0) -> HubConnection:
    to_connected(hub, now)
    hub.stop()
    assert hub.state == State.STOPPED
    return hub


REACH = {
    State.DISCONNECTED: lambda hub: hub,
    State.NEGOTIATING: to_negotiating,
    State.CONNECTING: to_connecting,
    State.HANDSHAKING: to_handshaking,
    State.CONNECTED: to_connected,
    State.RECONNECTING: to_reconnecting,
    State.STOPPED: to_stopped,
}
ALL_STATES = list(REACH)


def reach(state: str, value: float = 0.0) -> HubConnection:
    hub = REACH[state](new(value))
    assert hub.state == state
    return hub


# --- URLs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("client_url, expected", [
    ("https://svc/client/?hub=h", "wss://svc/client/?hub=h&id=T&access_token=A"),
    ("http://localhost:8080/client/?hub=h", "ws://localhost:8080/client/?hub=h&id=T&access_token=A"),
    ("https://svc/client/", "wss://svc/client/?id=T&access_token=A"),
    ("wss://svc/client/?hub=h", "wss://svc/client/?hub=h&id=T&access_token=A"),
])
def test_websocket_url(client_url, expected):
    assert c.websocket_url(client_url, "T", "A") == expected


def test_websocket_url_percent_encodes_token_and_id():
    assert c.websocket_url(CLIENT_URL, CONN_TOKEN, ACCESS) == WS_URL
    assert c.websocket_url("https://s/c/?hub=h", "a/b?c&d=e", "x y+z") == \
        "wss://s/c/?hub=h&id=a%2Fb%3Fc%26d%3De&access_token=x%20y%2Bz"


# --- defaults ---------------------------------------------------------------------------------

def test_timing_constants_match_the_spec():
    assert c.KEEPALIVE_INTERVAL == 15.0
    assert c.SERVER_TIMEOUT == 30.0
    assert c.HANDSHAKE_TIMEOUT == 15.0
    assert c.RECONNECT_DELAYS == (0.0, 2.0, 10.0, 30.0)
    assert c.JITTER == 0.2


def test_a_new_connection_is_disconnected():
    hub = HubConnection()
    assert (hub.state, hub.connection_id, hub.attempt, hub.reconnect_at, hub.last_error) == \
        (State.DISCONNECTED, None, 0, None, None)
    assert isinstance(hub.rng, random.Random)


# --- the happy path ---------------------------------------------------------------------------

def test_start_negotiates():
    hub = new()
    assert hub.start(100.0) == [StateChanged(State.CONNECTING, None, None), Negotiate(0)]
    assert hub.state == State.NEGOTIATING
    assert hub.reconnect_at is None


def test_negotiated_opens_the_socket():
    hub = to_negotiating(new())
    assert hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 1.0) == [OpenSocket(WS_URL)]
    assert hub.state == State.CONNECTING
    assert hub.connection_id == CONN_ID


def test_socket_opened_sends_the_handshake():
    hub = to_connecting(new())
    assert hub.socket_opened(2.0) == [SendText(HANDSHAKE)]
    assert hub.state == State.HANDSHAKING


def test_handshake_response_connects():
    hub = to_handshaking(new())
    assert hub.data_received("{}\x1e", 3.0) == [StateChanged(State.CONNECTED), Connected(CONN_ID)]
    assert hub.state == State.CONNECTED
    assert (hub.attempt, hub.last_error, hub.connection_id) == (0, None, CONN_ID)


def test_handshake_response_split_across_frames():
    hub = to_handshaking(new())
    assert hub.data_received("{", 3.0) == []
    assert hub.state == State.HANDSHAKING
    assert hub.data_received("}", 3.0) == []
    assert hub.data_received("\x1e", 3.0) == [StateChanged(State.CONNECTED), Connected(CONN_ID)]


def test_handshake_response_and_messages_in_one_frame():
    hub = to_handshaking(new())
    assert hub.data_received("{}\x1e" + NOTIFY + PING, 3.0) == \
        [StateChanged(State.CONNECTED), Connected(CONN_ID), Deliver(NOTIFY_INV)]


def test_handshake_response_with_empty_error_counts_as_ok():
    hub = to_handshaking(new())
    assert hub.data_received('{"error":""}\x1e', 3.0) == [StateChanged(State.CONNECTED), Connected(CONN_ID)]


def test_a_full_session_from_start_to_first_notification():
    hub = new()
    log = []
    log += hub.start(0.0)
    log += hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 0.5)
    log += hub.socket_opened(0.7)
    log += hub.data_received("{}\x1e", 0.8)
    log += hub.data_received(NOTIFY, 1.0)
    log += hub.invoke("sendMessage", [{"messageId": "m1", "outcome": "Accepted"}], 2.0)
    assert log == [
        StateChanged(State.CONNECTING), Negotiate(0), OpenSocket(WS_URL), SendText(HANDSHAKE),
        StateChanged(State.CONNECTED), Connected(CONN_ID), Deliver(NOTIFY_INV),
        SendText('{"type":1,"target":"sendMessage","arguments":[{"messageId":"m1","outcome":"Accepted"}]}\x1e'),
    ]


# --- handshake failures ---------------------------------------------------------------------------

def test_handshake_error_drops_and_retries_at_once():
    hub = to_handshaking(new())
    reason = "handshake refused: Requested protocol 'json' is not available."
    assert hub.data_received('{"error":"Requested protocol \'json\' is not available."}\x1e', 3.0) == [
        CloseSocket(reason), StateChanged(State.RECONNECTING, reason), Negotiate(1)]
    assert hub.state == State.NEGOTIATING
    assert (hub.attempt, hub.last_error, hub.connection_id) == (1, reason, None)


def test_handshake_error_stops_reading_the_frame():
    hub = to_handshaking(new())
    actions = hub.data_received('{"error":"no"}\x1e' + NOTIFY, 3.0)
    assert not any(isinstance(a, Deliver) for a in actions)
    assert actions == [CloseSocket("handshake refused: no"), StateChanged(State.RECONNECTING, "handshake refused: no"),
                       Negotiate(1)]


@pytest.mark.parametrize("record, error", [
    ("[]", "a record must be a JSON object"),
    ("nope", "malformed JSON record: Expecting value"),
    ('{"error":5}', "handshake 'error' must be a string"),
])
def test_malformed_handshake_response_is_a_protocol_error(record, error):
    hub = to_handshaking(new())
    reason = f"protocol error: {error}"
    assert hub.data_received(record + "\x1e", 3.0) == [
        SendText(hp.encode(hp.Close(reason))), CloseSocket(reason), StateChanged(State.RECONNECTING, reason),
        Negotiate(1)]
    assert hub.state == State.NEGOTIATING


def test_handshake_timeout_while_connecting():
    hub = to_connecting(new(), now=100.0)
    assert hub.tick(114.9) == []
    assert hub.tick(115.0) == [CloseSocket("handshake timed out"),
                               StateChanged(State.RECONNECTING, "handshake timed out"), Negotiate(1)]
    assert hub.state == State.NEGOTIATING


def test_handshake_timeout_counts_from_negotiated_not_socket_open():
    hub = to_connecting(new(), now=100.0)
    hub.socket_opened(110.0)
    assert hub.tick(114.9) == []
    assert hub.tick(115.0) == [CloseSocket("handshake timed out"),
                               StateChanged(State.RECONNECTING, "handshake timed out"), Negotiate(1)]


def test_handshake_timeout_does_not_notify_the_server():
    hub = to_handshaking(new(), now=0.0)
    assert not any(isinstance(a, SendText) for a in hub.tick(15.0))


def test_negotiate_that_hangs_times_out_into_a_reconnect():
    hub = to_negotiating(new(0.0), now=0.0)
    assert hub.tick(19.9) == []
    # first failure: retried at once (delay 0), so the core negotiates again right away
    assert hub.tick(20.0) == [StateChanged(State.RECONNECTING, "negotiate timed out after 20 s"), Negotiate(1)]
    assert hub.state == State.NEGOTIATING and hub.attempt == 1
    assert hub.tick(39.9) == []
    assert hub.tick(40.0) == [StateChanged(State.RECONNECTING, "negotiate timed out after 20 s", 2.0)]


def test_disconnected_and_stopped_ticks_do_nothing():
    assert new().tick(1e9) == []
    assert reach(State.STOPPED).tick(1e9) == []


# --- messages while connected ---------------------------------------------------------------------

def test_invocation_is_delivered():
    hub = to_connected(new())
    assert hub.data_received(NOTIFY, 5.0) == [Deliver(NOTIFY_INV)]
    assert hub.state == State.CONNECTED


def test_several_invocations_in_one_frame_are_delivered_in_order():
    hub = to_connected(new())
    two = '{"type":1,"target":"A","arguments":[1]}\x1e{"type":1,"target":"B","arguments":["x"],"invocationId":"3"}\x1e'
    assert hub.data_received(two, 5.0) == [
        Deliver(hp.Invocation("A", [1])), Deliver(hp.Invocation("B", ["x"], "3")),
        # B awaits a result (a client result): like the official client we answer that there is none
        SendText('{"type":3,"invocationId":"3","error":"Client didn\'t provide a result."}\x1e')]


def test_invocation_split_across_frames_is_delivered_once_complete():
    hub = to_connected(new())
    assert hub.data_received(NOTIFY[:20], 5.0) == []
    assert hub.data_received(NOTIFY[20:-1], 5.0) == []
    assert hub.data_received(NOTIFY[-1:], 5.0) == [Deliver(NOTIFY_INV)]


def test_ping_and_completion_are_absorbed():
    hub = to_connected(new())
    assert hub.data_received(PING, 5.0) == []
    assert hub.data_received('{"type":3,"invocationId":"1","result":true}\x1e', 5.0) == []
    assert hub.state == State.CONNECTED


def test_server_close_without_allow_reconnect_stops_and_says_why():
    hub = to_connected(new())
    reason = "the service closed the connection and asked not to reconnect"
    assert hub.data_received('{"type":7}\x1e', 5.0) == [CloseSocket(reason), StateChanged(State.DISCONNECTED, reason)]
    assert hub.state == State.STOPPED
    assert hub.tick(500.0) == [] and hub.socket_closed("gone", 5.1) == []  # no reconnect, ever


def test_server_close_with_error_and_allow_reconnect_false_stops_with_the_error():
    hub = to_connected(new())
    reason = "the service closed the connection and asked not to reconnect: Banned."
    assert hub.data_received('{"type":7,"error":"Banned.","allowReconnect":false}\x1e', 5.0) == [
        CloseSocket(reason), StateChanged(State.DISCONNECTED, reason)]
    assert hub.last_error == reason
    assert hub.start(6.0)[-1] == Negotiate(0)  # the agent (a reload) may start again


def test_server_close_with_allow_reconnect_reconnects():
    hub = to_connected(new())
    reason = "server closed: Server is shutting down."
    record = '{"type":7,"error":"Server is shutting down.","allowReconnect":true}\x1e'
    assert hub.data_received(record, 5.0) == [CloseSocket(reason), StateChanged(State.RECONNECTING, reason),
                                              Negotiate(1)]
    assert hub.data_received('{"type":7,"allowReconnect":true}\x1e', 5.0) == []  # not connected any more


def test_server_close_stops_processing_the_frame():
    hub = to_connected(new())
    actions = hub.data_received('{"type":7,"allowReconnect":true}\x1e' + NOTIFY, 5.0)
    assert Deliver(NOTIFY_INV) not in actions
    assert actions[0] == CloseSocket("server closed the connection")


def test_records_before_a_close_are_delivered():
    hub = to_connected(new())
    assert hub.data_received(NOTIFY + '{"type":7}\x1e', 5.0)[0] == Deliver(NOTIFY_INV)


@pytest.mark.parametrize("frame, error", [
    ("garbage\x1e", "malformed JSON record: Expecting value"),
    ("[1]\x1e", "a record must be a JSON object"),
    ('{"type":"x"}\x1e', "unknown message type 'x'"),
    ('{"type":1,"arguments":[]}\x1e', "invocation needs a 'target' string"),
    ("\x1e", "malformed JSON record: Expecting value"),
])
def test_bad_frames_close_with_an_error(frame, error):
    hub = to_connected(new())
    reason = f"protocol error: {error}"
    assert hub.data_received(frame, 5.0) == [
        SendText(hp.encode(hp.Close(reason))), CloseSocket(reason), StateChanged(State.RECONNECTING, reason),
        Negotiate(1)]
    assert hub.state == State.NEGOTIATING
    assert hub.last_error == reason


def test_close_sent_to_server_is_a_type_7_record():
    hub = to_connected(new())
    send = hub.data_received('{"type":"x"}\x1e', 5.0)[0]
    assert send == SendText('{"type":7,"error":"protocol error: unknown message type \'x\'"}\x1e')


def test_oversized_frame_closes_with_an_error():
    hub = to_connected(new())
    reason = f"protocol error: record larger than {hp.MAX_RECORD} characters"
    assert hub.data_received("x" * (hp.MAX_RECORD + 1), 5.0) == [
        SendText(hp.encode(hp.Close(reason))), CloseSocket(reason), StateChanged(State.RECONNECTING, reason),
        Negotiate(1)]


def test_oversized_record_built_from_many_frames():
    hub = to_connected(new())
    chunk = "y" * 4096
    for _ in range(hp.MAX_RECORD // len(chunk)):
        assert hub.data_received(chunk, 5.0) == []
    actions = hub.data_received("y", 5.0)
    assert actions[1] == CloseSocket(f"protocol error: record larger than {hp.MAX_RECORD} characters")


def test_good_records_before_a_bad_one_are_kept():
    hub = to_connected(new())
    reason = "protocol error: unknown message type 'x'"
    assert hub.data_received(NOTIFY + '{"type":"x"}\x1e' + NOTIFY, 5.0) == [
        Deliver(NOTIFY_INV), SendText(hp.encode(hp.Close(reason))), CloseSocket(reason),
        StateChanged(State.RECONNECTING, reason), Negotiate(1)]


def test_a_fresh_reader_per_socket():
    """A partial record left by the previous socket must not prefix the next one's handshake."""
    hub = to_connected(new())
    hub.data_received('{"type":1,"tar', 5.0)  # half a record, then the socket dies
    hub.socket_closed("gone", 6.0)
    hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 7.0)
    hub.socket_opened(7.0)
    assert hub.data_received("{}\x1e", 7.0) == [StateChanged(State.CONNECTED), Connected("conn-2")]


@pytest.mark.parametrize("state", [State.DISCONNECTED, State.NEGOTIATING, State.CONNECTING, State.RECONNECTING,
                                   State.STOPPED])
def test_data_outside_a_socket_session_is_ignored(state):
    hub = reach(state)
    assert hub.data_received("{}\x1e" + NOTIFY, 5.0) == []
    assert hub.state == state


# --- keepalive and server timeout ---------------------------------------------------------------------

def test_keepalive_ping_after_15_s_without_sending():
    hub = to_connected(new(), now=0.0)
    assert hub.tick(14.9) == []
    assert hub.tick(15.0) == [SendText(PING)]
    assert hub.tick(16.0) == []
    assert hub.tick(29.9) == []  # 15 s counts from the last ping


def test_second_keepalive_ping_15_s_after_the_first():
    hub = to_connected(new(), now=0.0)
    hub.data_received(PING, 14.0)
    assert hub.tick(15.0) == [SendText(PING)]
    hub.data_received(PING, 28.0)
    assert hub.tick(29.9) == []
    assert hub.tick(30.0) == [SendText(PING)]


def test_invoke_postpones_the_keepalive_ping():
    hub = to_connected(new(), now=0.0)
    assert hub.invoke("sendMessage", ["Accepted"], 10.0)
    assert hub.tick(15.0) == []
    assert hub.tick(24.9) == []
    assert hub.tick(25.0) == [SendText(PING)]


def test_receiving_does_not_postpone_the_keepalive_ping():
    hub = to_connected(new(), now=0.0)
    hub.data_received(PING, 14.0)
    assert hub.tick(15.0) == [SendText(PING)]


def test_custom_keepalive_and_timeout():
    hub = HubConnection(rng=ScriptedRng(), keepalive=5.0, server_timeout=8.0)  # type: ignore[arg-type]
    to_connected(hub, now=0.0)
    assert hub.tick(4.9) == []
    assert hub.tick(5.0) == [SendText(PING)]
    assert hub.tick(8.0)[0] == CloseSocket("server timeout: no message for 8 s")


def test_server_timeout_after_30_s_of_silence():
    hub = to_connected(new(), now=0.0)
    hub.tick(15.0)
    assert hub.tick(29.9) == []
    reason = "server timeout: no message for 30 s"
    assert hub.tick(30.0) == [CloseSocket(reason), StateChanged(State.RECONNECTING, reason), Negotiate(1)]
    assert hub.state == State.NEGOTIATING
    assert hub.last_error == reason


def test_server_timeout_wins_over_a_due_ping():
    hub = to_connected(new(), now=0.0)
    actions = hub.tick(45.0)  # both due: no ping is sent on a dead connection
    assert not any(isinstance(a, SendText) for a in actions)
    assert actions[0] == CloseSocket("server timeout: no message for 30 s")


def test_any_received_data_resets_the_server_timeout():
    hub = to_connected(new(), now=0.0)
    hub.data_received("", 20.0)  # even an empty frame (or half a record) shows the server is alive
    assert hub.tick(49.9) == [SendText(PING)]
    assert hub.tick(50.0)[0] == CloseSocket("server timeout: no message for 30 s")


def test_server_timeout_counts_from_socket_open_when_silent():
    hub = to_connected(new(), now=0.0)
    # to_connected received the handshake at 0; a new socket that opens at 100 and hears nothing
    hub.socket_closed("x", 1.0)
    hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 100.0)
    hub.socket_opened(100.0)
    hub.data_received("{}\x1e", 100.0)
    assert hub.tick(129.9) == [SendText(PING)]
    assert hub.tick(130.0)[0] == CloseSocket("server timeout: no message for 30 s")


# --- socket closed ------------------------------------------------------------------------------------

def test_socket_closed_while_connected_retries_at_once():
    hub = to_connected(new())
    assert hub.socket_closed("connection lost (code 1006)", 5.0) == [
        StateChanged(State.RECONNECTING, "connection lost (code 1006)"), Negotiate(1)]
    assert hub.state == State.NEGOTIATING
    assert hub.connection_id is None


def test_socket_closed_without_reason():
    hub = to_connected(new())
    assert hub.socket_closed("", 5.0) == [StateChanged(State.RECONNECTING, "connection closed"), Negotiate(1)]


@pytest.mark.parametrize("state", [State.CONNECTING, State.HANDSHAKING])
def test_socket_closed_before_connected_retries(state):
    hub = reach(state)
    assert hub.socket_closed("refused", 5.0) == [StateChanged(State.RECONNECTING, "refused"), Negotiate(1)]
    assert hub.state == State.NEGOTIATING


@pytest.mark.parametrize("state", [State.DISCONNECTED, State.RECONNECTING, State.STOPPED])
def test_socket_closed_is_ignored_without_a_socket(state):
    hub = reach(state)
    before = (hub.attempt, hub.reconnect_at, hub.last_error)
    assert hub.socket_closed("late", 5.0) == []
    assert (hub.state, hub.attempt, hub.reconnect_at, hub.last_error) == (state, *before)


@pytest.mark.parametrize("drop", ["server_close", "server_timeout", "protocol_error"])
def test_close_event_of_the_socket_we_closed_is_ignored(drop):
    hub = to_connected(new(), now=0.0)
    if drop == "server_close":
        actions = hub.data_received('{"type":7,"allowReconnect":true}\x1e', 1.0)
    elif drop == "server_timeout":
        actions = hub.tick(30.0)
    else:
        actions = hub.data_received('{"type":"x"}\x1e', 1.0)
    assert any(isinstance(a, CloseSocket) for a in actions) and actions[-1] == Negotiate(1)
    # the glue closes the socket; the browser (or websockets) then reports its close:
    assert hub.socket_closed("connection lost (code 1000)", 31.0) == []
    assert hub.state == State.NEGOTIATING
    # … and the negotiation started by the drop still proceeds:
    assert hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 31.5) == [OpenSocket(WS_URL)]


def test_close_of_an_older_socket_does_not_fail_the_new_one():
    """The race: the drop's renegotiation opened a new socket before the old one's close
    event arrived. Events carry the socket id from OpenSocket; old ids are ignored."""
    hub = to_connected(new(), now=0.0)
    old = hub._socket_id
    hub.data_received('{"type":7,"allowReconnect":true}\x1e', 1.0)
    (open_new,) = hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 1.2)
    assert open_new.socket_id != old
    assert hub.socket_closed("connection lost (code 1000)", 1.3, socket_id=old) == []
    assert hub.data_received("{}\x1e", 1.3, socket_id=old) == []
    assert hub.socket_opened(1.3, socket_id=old) == []
    assert hub.state == State.CONNECTING
    assert hub.socket_opened(1.4, socket_id=open_new.socket_id) == [SendText('{"protocol":"json","version":1}\x1e')]
    assert hub.socket_closed("boom", 1.5, socket_id=open_new.socket_id)[0].state == State.RECONNECTING


# --- reconnect schedule: backoff 0, 2, 10, 30, 30 … with jitter ----------------------------------------

def test_backoff_sequence_through_negotiate_failures():
    hub = to_negotiating(new(0.0), now=0.0)
    r = "negotiate failed: 503 Service Unavailable"
    # attempt 0 fails → retry at once
    assert hub.negotiate_failed("503 Service Unavailable", 1.0) == [StateChanged(State.RECONNECTING, r), Negotiate(1)]
    assert hub.state == State.NEGOTIATING and hub.reconnect_at is None
    now = 1.0
    for attempt, delay in [(2, 2.0), (3, 10.0), (4, 30.0), (5, 30.0), (6, 30.0)]:
        assert hub.negotiate_failed("503 Service Unavailable", now) == [StateChanged(State.RECONNECTING, r, delay)]
        assert hub.state == State.RECONNECTING
        assert hub.reconnect_at == now + delay
        assert hub.attempt == attempt
        assert hub.tick(now + delay - 0.01) == []
        assert hub.tick(now + delay) == [StateChanged(State.RECONNECTING, r), Negotiate(attempt)]
        assert hub.state == State.NEGOTIATING and hub.reconnect_at is None
        now += delay


def test_reconnect_timer_fires_on_a_late_tick_too():
    hub = to_reconnecting(new(0.0), now=0.0)
    assert hub.reconnect_at == 2.0
    assert hub.tick(500.0) == [StateChanged(State.RECONNECTING, "negotiate failed: down"), Negotiate(2)]


def test_reconnecting_shows_the_retry_delay_and_reason():
    hub = to_connected(new(0.0), now=0.0)
    hub.socket_closed("lost", 1.0)  # → negotiating, attempt 1
    assert hub.negotiate_failed("timeout", 1.5) == [StateChanged(State.RECONNECTING, "negotiate failed: timeout", 2.0)]


def test_failures_of_every_kind_share_one_backoff():
    hub = to_connected(new(0.0), now=0.0)
    assert hub.socket_closed("lost", 1.0)[-1] == Negotiate(1)                                    # 0 s
    assert hub.negotiate_failed("x", 1.0) == [StateChanged(State.RECONNECTING, "negotiate failed: x", 2.0)]
    assert hub.tick(3.0)[-1] == Negotiate(2)
    hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 3.0)
    assert hub.tick(18.0)[:2] == [CloseSocket("handshake timed out"),                           # 10 s
                                  StateChanged(State.RECONNECTING, "handshake timed out", 10.0)]
    assert hub.tick(28.0)[-1] == Negotiate(3)
    hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 28.0)
    hub.socket_opened(28.0)
    assert hub.data_received('{"error":"no"}\x1e', 28.0) == [                                    # 30 s
        CloseSocket("handshake refused: no"), StateChanged(State.RECONNECTING, "handshake refused: no", 30.0)]


def test_attempt_resets_after_a_connection_that_stayed_up():
    hub = to_negotiating(new(0.0), now=0.0)
    hub.negotiate_failed("x", 0.0)
    hub.negotiate_failed("x", 0.0)
    hub.tick(2.0)
    hub.negotiate_failed("x", 2.0)
    hub.tick(12.0)
    assert hub.attempt == 3
    hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 12.0)
    hub.socket_opened(12.0)
    assert hub.data_received("{}\x1e", 12.0) == [StateChanged(State.CONNECTED), Connected(CONN_ID)]
    assert (hub.attempt, hub.last_error) == (3, None)  # not yet: the connection must prove itself
    hub.data_received(PING, 12.0 + c.STABLE_AFTER - 1)
    assert hub.attempt == 3
    hub.data_received(PING, 12.0 + c.STABLE_AFTER)
    assert hub.attempt == 0
    # the next loss starts the ladder again: 0 s, then 2 s
    assert hub.socket_closed("lost", 50.0) == [StateChanged(State.RECONNECTING, "lost"), Negotiate(1)]
    assert hub.negotiate_failed("x", 50.0) == [StateChanged(State.RECONNECTING, "negotiate failed: x", 2.0)]


def test_a_stable_connection_resets_the_backoff_even_without_a_tick():
    hub = to_connected(new(0.0), now=0.0)
    hub.attempt = 3
    assert hub.socket_closed("lost", c.STABLE_AFTER + 1) == [StateChanged(State.RECONNECTING, "lost"), Negotiate(1)]


def test_connections_that_die_at_once_keep_climbing_the_backoff():
    """A record the widget refuses, redelivered on every connect, drops each connection
    right after its handshake: the retries must slow down (0, 2, 10, 30 s), not spin."""
    hub = to_negotiating(new(0.0), now=0.0)
    now, delays = 0.0, []
    for _ in range(6):
        hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, now)
        hub.socket_opened(now)
        hub.data_received("{}\x1e", now)
        actions = hub.data_received("x" * (hp.MAX_RECORD + 1), now + 0.1)
        change = next(a for a in actions if isinstance(a, StateChanged) and a.state == State.RECONNECTING)
        delays.append(change.retry_in or 0.0)
        if hub.state == State.RECONNECTING:
            now = hub.reconnect_at
            hub.tick(now)
        assert hub.state == State.NEGOTIATING
    assert delays == [0.0, 2.0, 10.0, 30.0, 30.0, 30.0]


def test_reconnected_shows_connected_without_a_reason():
    hub = to_connected(new(), now=0.0)
    hub.socket_closed("lost", 1.0)
    hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 1.0)
    hub.socket_opened(1.0)
    assert hub.data_received("{}\x1e", 1.0) == [StateChanged(State.CONNECTED, None, None), Connected("conn-2")]
    assert hub.connection_id == "conn-2"


@pytest.mark.parametrize("attempt, base", [(0, 0.0), (1, 2.0), (2, 10.0), (3, 30.0), (4, 30.0), (50, 30.0)])
@pytest.mark.parametrize("fraction", [-0.2, 0.0, 0.2])
def test_next_delay_per_attempt_and_jitter_extremes(attempt, base, fraction):
    hub = new(fraction)
    hub.attempt = attempt
    assert hub.next_delay() == pytest.approx(base * (1 + fraction))


def test_jitter_is_drawn_from_plus_minus_20_percent():
    rng = ScriptedRng(0.1)
    hub = HubConnection(rng=rng)  # type: ignore[arg-type]
    hub.attempt = 2
    assert hub.next_delay() == pytest.approx(11.0)
    assert rng.calls == [(-0.2, 0.2)]


def test_zero_delay_has_no_jitter_and_draws_nothing():
    rng = ScriptedRng(0.2)
    hub = HubConnection(rng=rng)  # type: ignore[arg-type]
    assert hub.next_delay() == 0.0
    assert rng.calls == []


def test_jittered_schedule_is_deterministic_for_a_seed():
    twin = random.Random(7)
    hub = to_negotiating(HubConnection(rng=random.Random(7)), now=0.0)
    assert hub.negotiate_failed("x", 0.0)[-1] == Negotiate(1)  # 0 s: no draw
    now = 0.0
    for base in (2.0, 10.0, 30.0, 30.0, 30.0):
        expected = base * (1 + twin.uniform(-0.2, 0.2))
        assert hub.negotiate_failed("x", now) == [StateChanged(State.RECONNECTING, "negotiate failed: x", expected)]
        assert hub.reconnect_at == now + expected
        assert hub.tick(now + expected - 1e-6) == []
        assert hub.tick(now + expected)[-1] == Negotiate(hub.attempt)
        now += expected


def test_jitter_stays_within_bounds_and_spreads():
    for base, attempt in ((2.0, 1), (10.0, 2), (30.0, 3), (30.0, 9)):
        delays = []
        for seed in range(300):
            hub = HubConnection(rng=random.Random(seed))
            hub.attempt = attempt
            delays.append(hub.next_delay())
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert min(delays) < 0.85 * base and max(delays) > 1.15 * base  # really spread, not a constant
        assert len(set(delays)) == len(delays)


def test_jitter_is_drawn_once_per_scheduled_retry():
    rng = ScriptedRng(0.0)
    to_reconnecting(HubConnection(rng=rng))  # type: ignore[arg-type]
    assert rng.calls == [(-0.2, 0.2)]  # attempt 0 (0 s) drew nothing, attempt 1 (2 s) drew once


# --- stop / start ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("state, closes", [
    (State.DISCONNECTED, False),
    (State.NEGOTIATING, False),
    (State.CONNECTING, True),
    (State.HANDSHAKING, True),
    (State.CONNECTED, True),
    (State.RECONNECTING, False),
    (State.STOPPED, False),
])
def test_stop_from_every_state(state, closes):
    hub = reach(state)
    expected = ([CloseSocket("stopped")] if closes else []) + [StateChanged(State.DISCONNECTED, "stopped")]
    assert hub.stop() == expected
    assert hub.state == State.STOPPED
    assert hub.reconnect_at is None


@pytest.mark.parametrize("state", ALL_STATES)
def test_nothing_happens_after_stop(state):
    hub = reach(state)
    hub.stop()
    assert hub.tick(1e6) == []
    assert hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 1.0) == []
    assert hub.negotiate_failed("x", 1.0) == []
    assert hub.socket_opened(1.0) == []
    assert hub.data_received("{}\x1e" + NOTIFY, 1.0) == []
    assert hub.socket_closed("x", 1.0) == []
    assert hub.invoke("sendMessage", [], 1.0) == []
    assert hub.state == State.STOPPED


def test_stop_cancels_a_pending_reconnect():
    hub = to_reconnecting(new(0.0), now=0.0)
    hub.stop()
    assert hub.tick(2.0) == []
    assert hub.tick(100.0) == []


def test_start_after_stop_from_connected_begins_afresh():
    hub = to_connected(new(0.0), now=0.0)
    hub.stop()
    assert hub.start(10.0) == [StateChanged(State.CONNECTING, None), Negotiate(0)]
    assert hub.state == State.NEGOTIATING


def test_start_after_stop_resets_the_attempt_counter():
    hub = to_reconnecting(new(0.0), now=0.0)
    assert hub.attempt == 2
    hub.stop()
    actions = hub.start(10.0)
    assert actions[-1] == Negotiate(0)
    assert hub.attempt == 0


def test_start_after_stop_does_not_show_a_stale_error():
    hub = to_reconnecting(new(0.0), now=0.0)
    hub.stop()
    assert hub.start(10.0) == [StateChanged(State.CONNECTING, None), Negotiate(0)]


@pytest.mark.parametrize("state", [State.NEGOTIATING, State.CONNECTING, State.HANDSHAKING, State.CONNECTED,
                                   State.RECONNECTING])
def test_start_is_ignored_while_running(state):
    hub = reach(state)
    before = (hub.attempt, hub.reconnect_at, hub.connection_id)
    assert hub.start(50.0) == []
    assert (hub.state, hub.attempt, hub.reconnect_at, hub.connection_id) == (state, *before)


# --- inputs in the wrong state are ignored -------------------------------------------------------------

@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != State.NEGOTIATING])
def test_negotiated_only_counts_while_negotiating(state):
    hub = reach(state)
    assert hub.negotiated(CLIENT_URL, "other", CONN_TOKEN, ACCESS, 1.0) == []
    assert hub.state == state


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != State.NEGOTIATING])
def test_negotiate_failed_only_counts_while_negotiating(state):
    hub = reach(state)
    attempt = hub.attempt
    assert hub.negotiate_failed("x", 1.0) == []
    assert (hub.state, hub.attempt) == (state, attempt)


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != State.CONNECTING])
def test_socket_opened_only_counts_while_connecting(state):
    hub = reach(state)
    assert hub.socket_opened(1.0) == []
    assert hub.state == state


# --- invoke ---------------------------------------------------------------------------------------------

def test_invoke_when_connected():
    hub = to_connected(new())
    assert hub.invoke("sendMessage", [{"messageId": "m1", "outcome": "Rejected", "reason": "Reject/DeclinedByAgent"}],
                      5.0) == [SendText('{"type":1,"target":"sendMessage","arguments":[{"messageId":"m1",'
                                        '"outcome":"Rejected","reason":"Reject/DeclinedByAgent"}]}\x1e')]


def test_invoke_with_an_invocation_id():
    hub = to_connected(new())
    assert hub.invoke("sendMessage", ["Accepted"], 5.0, invocation_id="1") == [
        SendText('{"type":1,"target":"sendMessage","arguments":["Accepted"],"invocationId":"1"}\x1e')]


@pytest.mark.parametrize("state", [s for s in ALL_STATES if s != State.CONNECTED])
def test_invoke_when_not_connected_sends_nothing(state):
    hub = reach(state)
    assert hub.invoke("sendMessage", ["Accepted"], 5.0) == []
    assert hub.state == state


# --- registration retries (a failed /api/userclient on a working connection) -------------

def test_failed_registration_is_retried_on_the_same_connection_with_backoff():
    hub = to_connected(new(), now=0.0)
    assert hub.registration_failed("userclient 503", CONN_ID, 1.0) == [
        StateChanged(State.CONNECTED, "registration failed: userclient 503", 2.0)]
    assert hub.state == State.CONNECTED
    assert hub.tick(2.9) == []
    assert hub.tick(3.0) == [Connected(CONN_ID)]
    assert hub.tick(3.5) == []  # one retry per failure
    delays = []
    for t in (10.0, 20.0, 40.0, 80.0, 200.0):
        delays.append(hub.registration_failed("still down", CONN_ID, t)[0].retry_in)
    assert delays == list(c.REGISTER_RETRY_DELAYS[1:]) + [30.0, 30.0]


def test_retry_delay_has_jitter():
    hub = to_connected(new(0.2))
    assert hub.registration_failed("x", CONN_ID, 0.0)[0].retry_in == pytest.approx(2.4)


def test_registration_done_cancels_a_pending_retry_and_resets_the_backoff():
    hub = to_connected(new())
    hub.registration_failed("x", CONN_ID, 0.0)
    hub.registration_failed("x", CONN_ID, 0.0)
    assert hub.registration_done(CONN_ID) == []
    assert hub.tick(16.0) == [SendText(PING)]  # no Connected: nothing to retry
    assert hub.registration_failed("x", CONN_ID, 16.0)[0].retry_in == 2.0


def test_a_retry_comes_with_the_keepalive_when_both_are_due():
    hub = to_connected(new(), now=0.0)
    hub.registration_failed("x", CONN_ID, 14.0)
    assert hub.tick(16.0) == [Connected(CONN_ID), SendText(PING)]


@pytest.mark.parametrize("report", ["failed", "done"])
def test_registration_reports_for_another_connection_or_state_are_ignored(report):
    hub = to_connected(new())
    call = (lambda h, cid: h.registration_failed("x", cid, 0.0)) if report == "failed" else \
        (lambda h, cid: h.registration_done(cid))
    assert call(hub, "old-connection") == []
    assert hub._register_at is None or report == "done"
    hub.registration_failed("x", CONN_ID, 0.0)
    hub.socket_closed("gone", 1.0)  # a report about the dropped connection arrives late
    assert call(hub, CONN_ID) == []


def test_a_new_connection_starts_with_no_pending_retry():
    hub = to_connected(new(), now=0.0)
    hub.registration_failed("x", CONN_ID, 0.0)
    hub.socket_closed("gone", 1.0)
    hub.tick(1.0)
    assert hub.negotiated(CLIENT_URL, CONN_ID, CONN_TOKEN, ACCESS, 1.0)
    hub.socket_opened(1.0)
    assert hub.data_received("{}\x1e", 1.0) == [StateChanged(State.CONNECTED), Connected(CONN_ID)]
    assert hub.tick(5.0) == []


# --- hidden tabs: timers throttled to one wake-up a minute ---------------------------------------------

class FakeService:
    """The service's side of keepalive, as Azure SignalR and the emulator run it: a ping
    after 15 s without sending, and the client dropped after 30 s without hearing from it."""

    def __init__(self, now: float):
        self.heard_at, self.sent_at, self.longest_silence = now, now, 0.0

    def client_sent(self, actions, now: float) -> None:
        if any(isinstance(a, SendText) for a in actions):
            self.longest_silence = max(self.longest_silence, now - self.heard_at)
            self.heard_at = now

    def drops_client(self, now: float) -> bool:
        return now - self.heard_at >= 30.0


def test_a_hidden_tab_ticking_once_a_minute_stays_connected_for_ten_minutes():
    hub = to_connected(new(), now=0.0)
    service = FakeService(0.0)
    events = sorted([(t, "service ping") for t in range(15, 601, 15)] + [(t, "tick") for t in range(60, 601, 60)])
    for now, what in events:
        assert not service.drops_client(now), f"the service dropped the client at {now} s"
        if what == "tick":
            actions = hub.tick(float(now))
        else:
            actions = hub.data_received(PING, float(now))
        service.client_sent(actions, float(now))
        assert hub.state == State.CONNECTED, f"dropped at {now} s: {hub.last_error}"
    assert service.longest_silence <= 15.0


def test_keepalive_ping_goes_out_from_a_received_frame_when_due():
    hub = to_connected(new(), now=0.0)
    assert hub.data_received(PING, 14.9) == []
    assert hub.data_received(PING, 15.0) == [SendText('{"type":6}\x1e')]
    assert hub.data_received(PING, 16.0) == []  # the ping just sent counts


def test_a_due_registration_retry_goes_out_from_a_received_frame():
    hub = to_connected(new(0.0), now=0.0)
    hub.registration_failed("503", CONN_ID, 1.0)  # retry in 2 s
    assert hub.data_received(PING, 2.9) == []
    assert hub.data_received(PING, 3.0) == [Connected(CONN_ID)]


# --- message types the client doesn't know -----------------------------------------------------------------

@pytest.mark.parametrize("record", [
    '{"type":99}', '{"type":99,"target":"x","arguments":"?"}', '{"type":0}', '{"type":-1}',
    '{"type":2,"invocationId":"1","item":1}', '{"type":4,"invocationId":"1","target":"s","arguments":[]}',
    '{"type":5,"invocationId":"1"}', '{"type":8,"sequenceId":1}', '{"type":9,"sequenceId":1}',
    '{"type":3,"invocationId":"unknown-id","result":1}',
])
def test_unknown_and_unspoken_message_types_are_skipped_and_the_rest_of_the_frame_delivered(record):
    hub = to_connected(new())
    assert hub.data_received(record + "\x1e" + NOTIFY, 5.0) == [Deliver(NOTIFY_INV)]
    assert hub.state == State.CONNECTED


def test_an_unknown_type_in_the_handshake_frame_is_skipped_too():
    hub = to_handshaking(new())
    assert hub.data_received('{}\x1e{"type":99}\x1e' + NOTIFY, 0.0) == [
        StateChanged(State.CONNECTED), Connected(CONN_ID), Deliver(NOTIFY_INV)]


def test_headers_and_unknown_fields_on_known_messages_are_ignored():
    hub = to_connected(new())
    record = ('{"type":1,"headers":{"a":"b"},"target":"ReceiveNotification","streamIds":[],"future":1,'
              '"arguments":[{"PhoneNumber":"+15551234567","messageId":"m1"}]}\x1e')
    assert hub.data_received(record, 5.0) == [Deliver(NOTIFY_INV)]


# --- acknowledgements survive reconnects ----------------------------------------------------------------------

ACK = {"messageId": "m1", "outcome": "Accepted"}


def test_an_ack_made_while_reconnecting_is_sent_after_the_next_handshake():
    hub = to_reconnecting(new(), now=0.0)
    assert hub.invoke_until_answered("sendMessage", [ACK], 1.0) == []
    hub.tick(2.0)
    hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 2.0)
    hub.socket_opened(2.0)
    assert hub.data_received("{}\x1e", 2.0) == [
        StateChanged(State.CONNECTED), Connected("conn-2"),
        SendText('{"type":1,"target":"sendMessage","arguments":[{"messageId":"m1","outcome":"Accepted"}],'
                 '"invocationId":"1"}\x1e')]


def test_an_ack_is_sent_at_once_when_connected_and_forgotten_on_its_completion():
    hub = to_connected(new())
    (send,) = hub.invoke_until_answered("sendMessage", [ACK], 1.0)
    assert json.loads(send.text[:-1])["invocationId"] == "1"
    assert hub.pending_invocations == 1
    hub.data_received('{"type":3,"invocationId":"1","result":{"recorded":true}}\x1e', 1.5)
    assert hub.pending_invocations == 0
    hub.socket_closed("lost", 2.0)
    hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 2.0)
    hub.socket_opened(2.0)
    assert hub.data_received("{}\x1e", 2.0) == [StateChanged(State.CONNECTED), Connected("conn-2")]


def test_the_completion_of_an_invocation_kept_until_answered_is_reported_once():
    hub = to_connected(new())
    hub.invoke_until_answered("requestDial", [{"dialId": "d1"}], 1.0)
    hub.invoke_until_answered("requestDial", [{"dialId": "d2"}], 1.0)
    got = hub.data_received('{"type":3,"invocationId":"2","error":"Upstream answered 422: bad"}\x1e'
                            '{"type":3,"invocationId":"1","result":{"status":"pending"}}\x1e', 1.5)
    assert got == [c.Answered("requestDial", [{"dialId": "d2"}], None, "Upstream answered 422: bad", final=False),
                   c.Answered("requestDial", [{"dialId": "d1"}], {"status": "pending"})]
    assert hub.pending_invocations == 1  # an error is sent again after a reconnect
    assert hub.data_received('{"type":3,"invocationId":"1","result":{"status":"pending"}}\x1e', 1.6) == []


def test_an_ack_unanswered_when_the_socket_dies_is_sent_again():
    hub = to_connected(new())
    hub.invoke_until_answered("sendMessage", [ACK], 1.0)
    hub.socket_closed("lost", 2.0)
    hub.negotiated(CLIENT_URL, "conn-2", CONN_TOKEN, ACCESS, 2.0)
    hub.socket_opened(2.0)
    assert hub.data_received("{}\x1e", 2.0)[-1].text.startswith('{"type":1,"target":"sendMessage"')


def test_an_ack_answered_with_an_error_is_retried_after_reconnects_then_given_up():
    hub = to_connected(new())
    hub.invoke_until_answered("sendMessage", [ACK], 1.0)
    now = 1.0
    for sent in range(1, c.MAX_SENDS + 1):
        hub.data_received('{"type":3,"invocationId":"1","error":"The upstream server is unavailable."}\x1e', now)
        hub.socket_closed("lost", now)
        now = hub.reconnect_at or now
        hub.tick(now)
        hub.negotiated(CLIENT_URL, f"conn-{sent}", CONN_TOKEN, ACCESS, now)
        hub.socket_opened(now)
        resent = [a for a in hub.data_received("{}\x1e", now) if isinstance(a, SendText)]
        assert len(resent) == (1 if sent < c.MAX_SENDS else 0)


def test_the_outbox_is_bounded_oldest_first():
    hub = to_reconnecting(new())
    for i in range(c.OUTBOX_LIMIT + 5):
        hub.invoke_until_answered("sendMessage", [{"messageId": f"m{i}", "outcome": "Accepted"}], 1.0)
    assert hub.pending_invocations == c.OUTBOX_LIMIT
    assert next(iter(hub._outbox.values())).arguments[0]["messageId"] == "m5"


# --- close reasons and text from the network -----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("short", "short"),
    ("é" * 200, "é" * 61),            # 2-byte characters: 61 × 2 = 122 bytes, the 62nd would split
    ("a" + "😀" * 40, "a" + "😀" * 30),  # 4-byte characters: 1 + 30 × 4 = 121 bytes
    ("x" * 123, "x" * 123),
    ("x" * 124, "x" * 123),
    ("bad \ud83d text", "bad \ufffd text"),
])
def test_close_reason_fits_the_websocket_limit_of_123_utf8_bytes(text, expected):
    assert c.close_reason(text) == expected
    assert len(c.close_reason(text).encode("utf-8")) <= 123


def test_a_long_non_ascii_drop_reason_is_cut_for_the_socket_but_shown_whole():
    hub = to_connected(new())
    error = "Verbindung geschlossen: Zeitüberschreitung beim Empfang — bitte später erneut versuchen " * 3
    actions = hub.data_received(json.dumps({"type": 7, "error": error, "allowReconnect": True}) + "\x1e", 5.0)
    close, shown = actions[0], actions[1]
    assert isinstance(close, CloseSocket) and len(close.reason.encode("utf-8")) <= 123
    assert shown.reason == f"server closed: {error}"


def test_lone_surrogates_from_the_network_never_reach_the_ui_or_the_socket():
    hub = to_connected(new())
    actions = hub.data_received('{"type":7,"error":"bad \\ud83d","allowReconnect":true}\x1e', 5.0)
    assert all("\ud83d" not in getattr(a, "reason", "") for a in actions)
    assert actions[1].reason == "server closed: bad \ufffd"
    hub = to_handshaking(new())
    actions = hub.data_received('{"error":"no \\udc00"}\x1e', 5.0)
    assert actions[1].reason == "handshake refused: no \ufffd"
    hub = to_negotiating(new())
    assert hub.negotiate_failed("x \udfff", 1.0)[0].reason == "negotiate failed: x \ufffd"
    hub = to_connected(new())
    assert hub.registration_failed("y \ud800", CONN_ID, 1.0)[0].reason == "registration failed: y \ufffd"


def test_websocket_url_without_an_access_token():
    assert c.websocket_url("https://svc/client/?hub=h", "id 1", None) == "wss://svc/client/?hub=h&id=id%201"
