"""Client side of a SignalR hub connection as a sans-IO state machine.

The glue (browser JS WebSocket, or `websockets` under CPython) feeds events in —
`start`, `negotiated`, `socket_opened`, `data_received`, `socket_closed`, `tick` — each
with the current time, and performs the actions that come out. No clocks, sockets or
threads in here; randomness (reconnect jitter) comes from the `rng` passed in.

    disconnected ─start→ negotiating ─negotiated→ connecting ─socket_opened→ handshaking
        ─{} →  connected ─close / missed pings→ reconnecting ─delay→ negotiating …
    connected ─service Close without allowReconnect→ stopped (the reason is shown)

Browsers throttle timers in hidden tabs (Chrome: one wake-up a minute after 5 minutes),
so everything due while connected — the keepalive ping, a registration retry — is also
checked on every frame received: network callbacks are not throttled, and the service
pings every 15 s.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import hub_protocol as hp
from .negotiate import negotiate_url  # noqa: F401 — part of this module's interface
from .text import cut_utf8, well_formed

KEEPALIVE_INTERVAL = 15.0  # send a ping when nothing else was sent for this long
SERVER_TIMEOUT = 30.0  # drop the connection when nothing was heard for this long
HANDSHAKE_TIMEOUT = 15.0
NEGOTIATE_TIMEOUT = 20.0  # a negotiate that hangs (token, /api/negotiate, service) is a failure
RECONNECT_DELAYS = (0.0, 2.0, 10.0, 30.0)  # then every 30 s
JITTER = 0.2  # ± fraction applied to non-zero delays so agents don't reconnect in lockstep
# A failed /api/userclient is tried again on the same connection: without its store row
# the functions can't count the connection (a lost 'connected' event leaves no other).
REGISTER_RETRY_DELAYS = (2.0, 5.0, 10.0, 30.0)  # then every 30 s
# Only a connection that stayed up this long resets the reconnect backoff: one that dies
# at once (a record it cannot take, redelivered on every connect) keeps climbing it.
STABLE_AFTER = SERVER_TIMEOUT
OUTBOX_LIMIT = 256  # invocations kept for resending after a reconnect; the oldest goes when full
MAX_SENDS = 3  # an outbox invocation answered with an error is sent again at most this often in all
CLOSE_REASON_BYTES = 123  # WebSocket close reason limit (125-byte control frame less the code)


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
class Answered:
    """The server's Completion of an invocation sent with invoke_until_answered: its
    `result`, or its `error` (then `final` says whether it is given up: otherwise it is sent
    again after the next handshake)."""
    target: str
    arguments: list
    result: Any = None
    error: str | None = None
    final: bool = True


@dataclass(frozen=True)
class StateChanged:
    state: str
    reason: str | None = None
    retry_in: float | None = None


Action = Negotiate | OpenSocket | SendText | CloseSocket | Connected | Deliver | Answered | StateChanged


def websocket_url(client_url: str, connection_token: str, access_token: str | None) -> str:
    """`https://svc/client/?hub=h` → `wss://svc/client/?hub=h&id=…&access_token=…`
    (browsers cannot set headers on a WebSocket, so the token rides in the query)."""
    scheme, rest = client_url.split("://", 1)
    ws = {"https": "wss", "http": "ws"}.get(scheme, scheme)
    sep = "&" if "?" in rest else "?"
    url = f"{ws}://{rest}{sep}id={quote(connection_token, safe='')}"
    return f"{url}&access_token={quote(access_token, safe='')}" if access_token else url


def close_reason(text: str) -> str:
    """`text` cut to what `WebSocket.close(code, reason)` accepts: at most 123 UTF-8 bytes,
    never half a character (the browser throws on longer reasons)."""
    return cut_utf8(text, CLOSE_REASON_BYTES)


@dataclass
class _Outgoing:
    """An invocation kept until the server answers it (e.g. an acknowledgement)."""
    invocation_id: str
    target: str
    arguments: list
    sends: int = 0


@dataclass
class HubConnection:
    rng: random.Random = field(default_factory=random.Random)
    keepalive: float = KEEPALIVE_INTERVAL
    server_timeout: float = SERVER_TIMEOUT
    state: str = State.DISCONNECTED
    connection_id: str | None = None
    attempt: int = 0  # consecutive failed attempts since the last connection that stayed up
    reconnect_at: float | None = None
    last_error: str | None = None
    _last_sent: float = 0.0
    _last_received: float = 0.0
    _opened_at: float = 0.0
    _connected_at: float | None = None  # when the current connection completed its handshake
    _negotiating_since: float = 0.0
    _socket_id: int = 0  # id of the socket in use; events of older sockets are ignored
    _register_at: float | None = None  # when to retry a failed registration
    _register_attempt: int = 0
    _reader: hp.RecordReader = field(default_factory=hp.RecordReader)
    _outbox: dict = field(default_factory=dict)  # invocation id → _Outgoing, oldest first
    _next_invocation: int = 0

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

    def negotiated(self, client_url: str, connection_id: str, connection_token: str, access_token: str | None,
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
                    return actions
        except hp.ProtocolError as exc:
            return actions + self._drop(f"protocol error: {exc}", now, notify_server=True)
        if self.state == State.CONNECTED:
            actions += self._due(now)  # timers may be throttled; this callback is not
        return actions

    def socket_closed(self, reason: str, now: float, socket_id: int | None = None) -> list[Action]:
        # Only a socket in use can fail: in any other state (or for an older socket id)
        # this is the close of a socket the core itself already dropped.
        if self.state not in (State.CONNECTING, State.HANDSHAKING, State.CONNECTED) or self._stale(socket_id):
            return []
        return self._schedule_reconnect(reason or "connection closed", now)

    def tick(self, now: float) -> list[Action]:
        """Call about once a second (late ticks are fine): keepalive, server timeout,
        reconnect timer."""
        if self.state == State.CONNECTED:
            if now - self._last_received >= self.server_timeout:
                return self._drop("server timeout: no message for "
                                  f"{self.server_timeout:.0f} s", now, notify_server=False)
            return self._due(now)
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
        return [StateChanged(State.CONNECTED, f"registration failed: {well_formed(error)}", delay)]

    def invoke(self, target: str, arguments: list, now: float, invocation_id: str | None = None) -> list[Action]:
        """Send an invocation once; [] when not connected."""
        if self.state != State.CONNECTED:
            return []
        return [self._send(hp.encode(hp.Invocation(target, arguments, invocation_id)), now)]

    def invoke_until_answered(self, target: str, arguments: list, now: float) -> list[Action]:
        """Send an invocation that must reach the server (the sendMessage acknowledgement):
        it carries an invocation id and is kept until the server's Completion; made while
        not connected, or still unanswered when the connection drops, it is sent after the
        next handshake. The server must treat repeats as one (ours: by message id)."""
        self._next_invocation += 1
        item = _Outgoing(str(self._next_invocation), target, list(arguments))
        self._outbox[item.invocation_id] = item
        while len(self._outbox) > OUTBOX_LIMIT:
            del self._outbox[next(iter(self._outbox))]
        return [self._send_outgoing(item, now)] if self.state == State.CONNECTED else []

    @property
    def pending_invocations(self) -> int:
        """Invocations sent (or waiting to be) whose Completion has not arrived."""
        return len(self._outbox)

    # --- internals ------------------------------------------------------------------
    def _send(self, text: str, now: float) -> SendText:
        self._last_sent = now
        return SendText(text)

    def _send_outgoing(self, item: _Outgoing, now: float) -> SendText:
        item.sends += 1
        return self._send(hp.encode(hp.Invocation(item.target, item.arguments, item.invocation_id)), now)

    def _due(self, now: float) -> list[Action]:
        """What is due on a live connection: settle the backoff, a registration retry,
        the keepalive ping."""
        self._settle(now)
        actions: list[Action] = []
        if self._register_at is not None and now >= self._register_at:
            self._register_at = None
            actions.append(Connected(self.connection_id or ""))
        if now - self._last_sent >= self.keepalive:
            actions.append(self._send(hp.encode(hp.Ping()), now))
        return actions

    def _settle(self, now: float) -> None:
        """A connection that stayed up STABLE_AFTER resets the reconnect backoff."""
        if self._connected_at is not None and now - self._connected_at >= STABLE_AFTER:
            self.attempt = 0

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
            self.state, self.last_error, self._connected_at = State.CONNECTED, None, now
            self._register_at, self._register_attempt = None, 0
            resent = [self._send_outgoing(item, now) for item in self._outbox.values()]
            return [StateChanged(State.CONNECTED), Connected(self.connection_id or ""), *resent]
        message = hp.decode(record)
        if isinstance(message, hp.Invocation):
            if message.invocation_id is None:
                return [Deliver(message)]
            # The server awaits a result (a client result); like the official client we give none.
            refusal = hp.Completion(message.invocation_id, error="Client didn't provide a result.")
            return [Deliver(message), self._send(hp.encode(refusal), now)]
        if isinstance(message, hp.Completion):
            item = self._outbox.get(message.invocation_id)
            if item is None:
                return []
            final = message.error is None or item.sends >= MAX_SENDS
            if final:
                del self._outbox[message.invocation_id]
            return [Answered(item.target, item.arguments, message.result, message.error, final)]
        if isinstance(message, hp.Close):
            if message.allow_reconnect:
                reason = f"server closed: {message.error}" if message.error else "server closed the connection"
                return self._drop(reason, now, notify_server=False)
            return self._stopped_by_service(message.error)
        return []  # Ping; Unsupported: types this client does not speak are skipped

    def _stopped_by_service(self, error: str | None) -> list[Action]:
        """A Close without allowReconnect: the service asks the client not to come back."""
        reason = well_formed("the service closed the connection and asked not to reconnect"
                             + (f": {error}" if error else ""))
        self.state, self.reconnect_at, self.last_error, self.connection_id = State.STOPPED, None, reason, None
        self._socket_id += 1
        self._connected_at = None
        return [CloseSocket(close_reason(reason)), StateChanged(State.DISCONNECTED, reason)]

    def _drop(self, reason: str, now: float, notify_server: bool) -> list[Action]:
        reason = well_formed(reason)
        actions: list[Action] = []
        if notify_server:
            actions.append(SendText(hp.encode(hp.Close(reason))))
        actions.append(CloseSocket(close_reason(reason)))
        self._socket_id += 1  # whatever that socket still reports is stale now
        return actions + self._schedule_reconnect(reason, now)

    def _schedule_reconnect(self, reason: str, now: float) -> list[Action]:
        reason = well_formed(reason)
        self._settle(now)
        self._connected_at = None
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
