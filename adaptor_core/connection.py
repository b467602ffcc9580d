"""Client side of a SignalR hub connection as a sans-IO state machine.

The glue (browser JS WebSocket, or `websockets` under CPython) feeds events in —
`start`, `negotiated`, `socket_opened`, `data_received`, `socket_closed`, `tick` — each
with the current time, and performs the actions that come out. No clocks, sockets or
threads in here; randomness (reconnect jitter) comes from the `rng` passed in.

    disconnected ─start→ negotiating ─negotiated→ connecting ─socket_opened→ handshaking
        ─{} →  connected ─close / missed pings→ reconnecting ─delay→ negotiating …
"""
from __future__ import annotations

import random
from urllib.parse import quote
from dataclasses import dataclass, field
from typing import Union

from . import hub_protocol as hp

KEEPALIVE_INTERVAL = 15.0  # send a ping when nothing else was sent for this long
SERVER_TIMEOUT = 30.0  # drop the connection when nothing was heard for this long
HANDSHAKE_TIMEOUT = 15.0
NEGOTIATE_TIMEOUT = 20.0  # a negotiate that hangs (token, /api/negotiate, service) is a failure
RECONNECT_DELAYS = (0.0, 2.0, 10.0, 30.0)  # then every 30 s
JITTER = 0.2  # ± fraction applied to non-zero delays so agents don't reconnect in lockstep
# A failed /api/userclient is tried again on the same connection: without its store row
# the functions can't count the connection (a lost 'connected' event leaves no other).
REGISTER_RETRY_DELAYS = (2.0, 5.0, 10.0, 30.0)  # then every 30 s


class State:
    DISCONNECTED = "disconnected"
    NEGOTIATING = "negotiating"
    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


# --- actions: what the glue must do ---------------------------------------------------

@dataclass(frozen=True)
class Negotiate:
    """Get a fresh token, call /api/negotiate and the service's negotiate, then report
    `negotiated(...)` or `negotiate_failed(...)`."""
    attempt: int


@dataclass(frozen=True)
class OpenSocket:
    """Open a WebSocket; report its events with this socket_id, so events of a socket
    the core already gave up on are told apart from the new one's."""
    url: str
    socket_id: int = field(default=0, compare=False)


@dataclass(frozen=True)
class SendText:
    text: str


@dataclass(frozen=True)
class CloseSocket:
    reason: str


@dataclass(frozen=True)
class Connected:
    """Handshake done (or a registration retry is due): register the client
    (/api/userclient) with this connection id, then report `registration_done` or
    `registration_failed`."""
    connection_id: str


@dataclass(frozen=True)
class Deliver:
    """An invocation from the server for the application (e.g. ReceiveNotification)."""
    invocation: hp.Invocation


@dataclass(frozen=True)
class StateChanged:
    state: str
    reason: str | None = None
    retry_in: float | None = None


Action = Union[Negotiate, OpenSocket, SendText, CloseSocket, Connected, Deliver, StateChanged]


def negotiate_url(client_url: str) -> str:
    """`https://svc/client/?hub=h` → `https://svc/client/negotiate?hub=h&negotiateVersion=1`
    (as the official JS client builds it from a negotiate redirect)."""
    base, _, query = client_url.partition("?")
    return f"{base.rstrip('/')}/negotiate?{query + '&' if query else ''}negotiateVersion=1"


def websocket_url(client_url: str, connection_token: str, access_token: str) -> str:
    """`https://svc/client/?hub=h` → `wss://svc/client/?hub=h&id=…&access_token=…`."""
    scheme, rest = client_url.split("://", 1)
    ws = {"https": "wss", "http": "ws"}.get(scheme, scheme)
    sep = "&" if "?" in rest else "?"
    return f"{ws}://{rest}{sep}id={quote(connection_token, safe='')}&access_token={quote(access_token, safe='')}"


@dataclass
class HubConnection:
    rng: random.Random = field(default_factory=random.Random)
    keepalive: float = KEEPALIVE_INTERVAL
    server_timeout: float = SERVER_TIMEOUT
    state: str = State.DISCONNECTED
    connection_id: str | None = None
    attempt: int = 0  # consecutive failed attempts since the last good connection
    reconnect_at: float | None = None
    last_error: str | None = None
    _last_sent: float = 0.0
    _last_received: float = 0.0
    _opened_at: float = 0.0
    _negotiating_since: float = 0.0
    _socket_id: int = 0  # id of the socket in use; events of older sockets are ignored
    _register_at: float | None = None  # when to retry a failed registration
    _register_attempt: int = 0
    _reader: hp.RecordReader = field(default_factory=hp.RecordReader)

    # --- inputs ---------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        if self.state not in (State.DISCONNECTED, State.STOPPED):
            return []
        self.attempt = 0
        return self._negotiate(State.NEGOTIATING, now)

    def stop(self) -> list[Action]:
        was_open = self.state in (State.CONNECTING, State.HANDSHAKING, State.CONNECTED)
        self.state, self.reconnect_at, self.last_error = State.STOPPED, None, None
        self._socket_id += 1
        actions: list[Action] = [CloseSocket("stopped")] if was_open else []
        return actions + [StateChanged(State.DISCONNECTED, "stopped")]

    def negotiated(self, client_url: str, connection_id: str, connection_token: str, access_token: str,
                   now: float) -> list[Action]:
        if self.state != State.NEGOTIATING:
            return []
        self.state, self.connection_id, self._opened_at = State.CONNECTING, connection_id, now
        self._socket_id += 1
        return [OpenSocket(websocket_url(client_url, connection_token, access_token), self._socket_id)]

    def negotiate_failed(self, error: str, now: float) -> list[Action]:
        if self.state != State.NEGOTIATING:
            return []
        return self._schedule_reconnect(f"negotiate failed: {error}", now)

    def _stale(self, socket_id: int | None) -> bool:
        return socket_id is not None and socket_id != self._socket_id

    def socket_opened(self, now: float, socket_id: int | None = None) -> list[Action]:
        if self.state != State.CONNECTING or self._stale(socket_id):
            return []
        self.state, self._reader = State.HANDSHAKING, hp.RecordReader()
        self._last_received = self._last_sent = now
        return [SendText(hp.encode_handshake_request("json", 1))]

    def data_received(self, text: str, now: float, socket_id: int | None = None) -> list[Action]:
        if self.state not in (State.HANDSHAKING, State.CONNECTED) or self._stale(socket_id):
            return []
        self._last_received = now
        actions: list[Action] = []
        try:
            for record in self._reader.feed(text):
                actions += self._on_record(record, now)
                if self.state not in (State.HANDSHAKING, State.CONNECTED):
                    break
        except hp.ProtocolError as exc:
            return actions + self._drop(f"protocol error: {exc}", now, notify_server=True)
        return actions

    def socket_closed(self, reason: str, now: float, socket_id: int | None = None) -> list[Action]:
        # Only a socket in use can fail: in any other state (or for an older socket id)
        # this is the close of a socket the core itself already dropped.
        if self.state not in (State.CONNECTING, State.HANDSHAKING, State.CONNECTED) or self._stale(socket_id):
            return []
        return self._schedule_reconnect(reason or "connection closed", now)

    def tick(self, now: float) -> list[Action]:
        """Call about once a second: keepalive, server timeout, reconnect timer."""
        if self.state == State.CONNECTED:
            if now - self._last_received >= self.server_timeout:
                return self._drop("server timeout: no message for "
                                  f"{self.server_timeout:.0f} s", now, notify_server=False)
            actions: list[Action] = []
            if self._register_at is not None and now >= self._register_at:
                self._register_at = None
                actions.append(Connected(self.connection_id or ""))
            if now - self._last_sent >= self.keepalive:
                actions.append(self._send(hp.encode(hp.Ping()), now))
            return actions
        elif self.state in (State.CONNECTING, State.HANDSHAKING):
            if now - self._opened_at >= HANDSHAKE_TIMEOUT:
                return self._drop("handshake timed out", now, notify_server=False)
        elif self.state == State.NEGOTIATING:
            if now - self._negotiating_since >= NEGOTIATE_TIMEOUT:
                return self._schedule_reconnect(f"negotiate timed out after {NEGOTIATE_TIMEOUT:.0f} s", now)
        elif self.state == State.RECONNECTING and self.reconnect_at is not None and now >= self.reconnect_at:
            return self._negotiate(State.NEGOTIATING, now)
        return []

    def registration_done(self, connection_id: str) -> list[Action]:
        if self.state == State.CONNECTED and connection_id == self.connection_id:
            self._register_at, self._register_attempt = None, 0
        return []

    def registration_failed(self, error: str, connection_id: str, now: float) -> list[Action]:
        """Retry on the same connection after a backoff; the state stays connected (the
        socket works) with the reason shown."""
        if self.state != State.CONNECTED or connection_id != self.connection_id:
            return []
        base = REGISTER_RETRY_DELAYS[min(self._register_attempt, len(REGISTER_RETRY_DELAYS) - 1)]
        delay = base * (1 + self.rng.uniform(-JITTER, JITTER))
        self._register_attempt += 1
        self._register_at = now + delay
        return [StateChanged(State.CONNECTED, f"registration failed: {error}", delay)]

    def invoke(self, target: str, arguments: list, now: float, invocation_id: str | None = None) -> list[Action]:
        """Send an invocation (e.g. the sendMessage ack); [] when not connected."""
        if self.state != State.CONNECTED:
            return []
        return [self._send(hp.encode(hp.Invocation(target, arguments, invocation_id)), now)]

    # --- internals ------------------------------------------------------------------
    def _send(self, text: str, now: float) -> SendText:
        self._last_sent = now
        return SendText(text)

    def _negotiate(self, state: str, now: float) -> list[Action]:
        self.state, self.reconnect_at, self.connection_id = state, None, None
        self._negotiating_since = now
        shown = State.CONNECTING if self.last_error is None else State.RECONNECTING
        return [StateChanged(shown, self.last_error), Negotiate(self.attempt)]

    def _on_record(self, record: str, now: float) -> list[Action]:
        if self.state == State.HANDSHAKING:
            response = hp.decode_handshake_response(record)
            if response.error:
                return self._drop(f"handshake refused: {response.error}", now, notify_server=False)
            self.state, self.attempt, self.last_error = State.CONNECTED, 0, None
            self._register_at, self._register_attempt = None, 0
            return [StateChanged(State.CONNECTED), Connected(self.connection_id or "")]
        message = hp.decode(record)
        if isinstance(message, hp.Invocation):
            return [Deliver(message)]
        if isinstance(message, hp.Close):
            reason = f"server closed: {message.error}" if message.error else "server closed the connection"
            return self._drop(reason, now, notify_server=False)
        if isinstance(message, hp.Unsupported):
            raise hp.ProtocolError(f"unsupported message type {message.type}")
        return []  # Ping, Completion

    def _drop(self, reason: str, now: float, notify_server: bool) -> list[Action]:
        actions: list[Action] = []
        if notify_server:
            actions.append(SendText(hp.encode(hp.Close(reason))))
        actions.append(CloseSocket(reason))
        self._socket_id += 1  # whatever that socket still reports is stale now
        return actions + self._schedule_reconnect(reason, now)

    def _schedule_reconnect(self, reason: str, now: float) -> list[Action]:
        delay = self.next_delay()
        self.attempt += 1
        self.state, self.last_error, self.connection_id = State.RECONNECTING, reason, None
        self.reconnect_at = now + delay
        if delay == 0:
            return self._negotiate(State.NEGOTIATING, now)
        return [StateChanged(State.RECONNECTING, reason, delay)]

    def next_delay(self) -> float:
        base = RECONNECT_DELAYS[min(self.attempt, len(RECONNECT_DELAYS) - 1)]
        return base * (1 + self.rng.uniform(-JITTER, JITTER)) if base else 0.0
