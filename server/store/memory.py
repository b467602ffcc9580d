"""An in-memory store: the third backend of the store contract (tests/test_store.py) and
the fresh store each in-process handler test gets. Nothing survives the process; a lock
makes each call atomic, as one SQLite transaction is."""
from __future__ import annotations

import threading
from dataclasses import replace

from .base import Connection, Dial, DialStatus, Message, MessageStatus, Presence, StoreConflict


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}
        self._messages: dict[str, Message] = {}
        self._presence: dict[str, Presence] = {}
        self._dials: dict[str, Dial] = {}

    # connections
    def upsert_connection(self, conn: Connection) -> bool:
        with self._lock:
            known = conn.connection_id in self._connections
            self._connections[conn.connection_id] = conn
            return not known

    def get_connection(self, connection_id: str) -> Connection | None:
        with self._lock:
            return self._connections.get(connection_id)

    def remove_connection(self, connection_id: str) -> bool:
        with self._lock:
            return self._connections.pop(connection_id, None) is not None

    def user_connections(self, user_id: str, hub: str) -> list[Connection]:
        with self._lock:
            return [c for c in self._connections.values() if c.user_id == user_id and c.hub == hub and c.status == 1]

    def all_connections(self, hub: str) -> list[Connection]:
        with self._lock:
            return sorted((c for c in self._connections.values() if c.hub == hub), key=lambda c: (c.user_id, c.updated))

    def clear_connections(self, hub: str) -> int:
        with self._lock:
            stale = [k for k, c in self._connections.items() if c.hub == hub]
            for k in stale:
                del self._connections[k]
            return len(stale)

    # messages
    def add_message(self, message: Message) -> None:
        with self._lock:
            if message.message_id in self._messages:
                raise StoreConflict(f"message {message.message_id} exists")
            self._messages[message.message_id] = message

    def get_message(self, message_id: str) -> Message | None:
        with self._lock:
            return self._messages.get(message_id)

    def mark_sent(self, message_id: str, now: float) -> None:
        with self._lock:
            m = self._messages.get(message_id)
            if m is not None:
                status = MessageStatus.SENT if m.status == MessageStatus.QUEUED else m.status
                self._messages[message_id] = replace(m, status=status, sent=m.sent if m.sent is not None else now,
                                                     deliveries=m.deliveries + 1)

    def complete_message(self, message_id: str, status: str, reason: str | None, now: float) -> bool:
        with self._lock:
            m = self._messages.get(message_id)
            if m is None or m.status not in MessageStatus.OPEN:
                return False
            self._messages[message_id] = replace(m, status=status, reason=reason, completed=now)
            return True

    def open_messages(self, user_id: str, hub: str) -> list[Message]:
        with self._lock:
            return sorted((m for m in self._messages.values() if m.user_id == user_id and m.hub == hub
                           and m.status in MessageStatus.OPEN), key=lambda m: m.created)

    def recent_messages(self, limit: int) -> list[Message]:
        with self._lock:
            return sorted(self._messages.values(), key=lambda m: m.created, reverse=True)[:limit]

    # presence
    def set_presence(self, presence: Presence) -> None:
        with self._lock:
            self._presence[presence.user_id] = presence

    def get_presence(self, user_id: str) -> Presence | None:
        with self._lock:
            return self._presence.get(user_id)

    def all_presence(self) -> list[Presence]:
        with self._lock:
            return sorted(self._presence.values(), key=lambda p: p.user_id)

    # dials
    def add_dial(self, dial: Dial) -> None:
        with self._lock:
            if dial.dial_id in self._dials:
                raise StoreConflict(f"dial {dial.dial_id} exists")
            self._dials[dial.dial_id] = dial

    def get_dial(self, dial_id: str) -> Dial | None:
        with self._lock:
            return self._dials.get(dial_id)

    def record_dial_attempt(self, dial: Dial, attempts_before: int) -> bool:
        with self._lock:
            d = self._dials.get(dial.dial_id)
            if d is None or d.status != DialStatus.PENDING or d.attempts != attempts_before:
                return False
            self._dials[dial.dial_id] = replace(d, status=dial.status, attempts=dial.attempts,
                                                next_attempt=dial.next_attempt, completed=dial.completed, error=dial.error)
            return True

    def due_dials(self, now: float, limit: int) -> list[Dial]:
        with self._lock:
            due = (d for d in self._dials.values() if d.status == DialStatus.PENDING
                   and d.next_attempt is not None and d.next_attempt <= now)
            return sorted(due, key=lambda d: d.created)[:limit]

    def close(self) -> None:
        pass
