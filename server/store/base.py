"""Records and the store interface the functions use (no backend details here)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import StoreConflict, StoreUnavailable

__all__ = ["Connection", "Dial", "DialStatus", "Message", "MessageStatus", "Presence", "Store", "StoreConflict",
           "StoreUnavailable"]


class MessageStatus:
    QUEUED, SENT, ACCEPTED, REJECTED, MISSED, FAILED, EXPIRED, UNACKNOWLEDGED, CANCELLED = (
        "queued", "sent", "accepted", "rejected", "missed", "failed", "expired", "unacknowledged", "cancelled")
    OPEN = (QUEUED, SENT)  # may still be delivered / acknowledged / cancelled
    FINAL = (ACCEPTED, REJECTED, MISSED, FAILED, EXPIRED, UNACKNOWLEDGED, CANCELLED)


@dataclass(frozen=True)
class Connection:
    """The sample's ConnectionEntity: PartitionKey = user id, RowKey = connection id."""
    user_id: str
    connection_id: str
    hub: str
    status: int
    updated: float


@dataclass(frozen=True)
class Message:
    message_id: str
    user_id: str
    hub: str
    payload: str  # the message object as JSON text
    status: str
    created: float
    expires: float  # queued after this instant → expired
    reason: str | None = None
    sent: float | None = None
    completed: float | None = None
    deliveries: int = 0


@dataclass(frozen=True)
class Presence:
    """An agent's CIF presence as their widget last reported it (docs/functions-api.md,
    "Presence"): `status` is the base status the functions derived (adaptor_core/presence.py),
    the rest what CIF gave; `updated` the functions' clock (seconds since the epoch)."""
    user_id: str
    status: str  # available | busy | do_not_disturb | away | offline | unknown
    presence_text: str
    base_presence_status: str | None
    presence_id: str | None
    updated: float


class DialStatus:
    """A click-to-dial request's life (docs/functions-api.md, "Click-to-dial")."""
    PENDING, DELIVERED, REFUSED, FAILED = "pending", "delivered", "refused", "failed"
    FINAL = (DELIVERED, REFUSED, FAILED)


@dataclass(frozen=True)
class Dial:
    """A click-to-dial request on its way to the telephony system's webhook."""
    dial_id: str
    user_id: str
    hub: str
    request: str  # what the webhook receives: {"number", "extension", "requestedNumber", "record"} as JSON text
    status: str
    created: float
    attempts: int = 0  # webhook calls made
    next_attempt: float | None = None  # pending: when the next call is due
    completed: float | None = None
    error: str | None = None  # the last attempt's failure, or why the dial was refused


class Store(Protocol):
    def upsert_connection(self, conn: Connection) -> bool:
        """Insert or update; True when the connection was not known before."""
    def get_connection(self, connection_id: str) -> Connection | None: ...
    def remove_connection(self, connection_id: str) -> bool: ...
    def user_connections(self, user_id: str, hub: str) -> list[Connection]: ...
    def all_connections(self, hub: str) -> list[Connection]: ...
    def clear_connections(self, hub: str) -> int:
        """Forget every connection of the hub (the local emulator starts with none)."""

    def add_message(self, message: Message) -> None: ...
    def get_message(self, message_id: str) -> Message | None: ...
    def mark_sent(self, message_id: str, now: float) -> None: ...
    def complete_message(self, message_id: str, status: str, reason: str | None, now: float) -> bool:
        """Set a final status if the message is still open; False when it was final already."""
    def open_messages(self, user_id: str, hub: str) -> list[Message]: ...
    def recent_messages(self, limit: int) -> list[Message]: ...

    def set_presence(self, presence: Presence) -> None:
        """Insert or replace the user's presence (one record per user)."""
    def get_presence(self, user_id: str) -> Presence | None: ...
    def all_presence(self) -> list[Presence]:
        """Every user's presence, by user id."""
    def add_dial(self, dial: Dial) -> None:
        """Insert; StoreConflict when the dial id exists."""
    def get_dial(self, dial_id: str) -> Dial | None: ...
    def record_dial_attempt(self, dial: Dial, attempts_before: int) -> bool:
        """Store `dial`'s status, attempts, next_attempt, completed and error if the stored
        dial is still pending after `attempts_before` attempts; False otherwise (another
        worker made that attempt, or the dial is final)."""
    def due_dials(self, now: float, limit: int) -> list[Dial]:
        """Pending dials whose next attempt is due, oldest first."""

    def close(self) -> None: ...
