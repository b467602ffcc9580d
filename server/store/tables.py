"""Azure Table Storage store (`azure-data-tables`; Azurite locally).

Connections keep the sample's ConnectionEntity shape: PartitionKey = user id, RowKey =
connection id, HubName, ConnectionStatus. Messages live in `<table>Messages` with
PartitionKey = message id (ids are unique across users; insert fails on a duplicate).
Presence lives in `<table>Presence`, one row per user: PartitionKey = user id.
Conditional writes use ETags so two acks can't both complete one message. Filters are
always parameterised: the SDK escapes the values.

Table limits honoured here (docs/storage.md): a string property holds at most 64 KiB of
UTF-16 (32K characters), so a message's payload is split over `Payload`, `Payload1`, …;
key values may not contain / \\ # ? or control characters, so keys are stored with
those (and %) percent-escaped. The functions refuse at the door what could still not fit
(a notification longer than one hub record)."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

from .base import Connection, Dial, DialStatus, Message, MessageStatus, Presence, StoreConflict, StoreUnavailable

T = TypeVar("T")
DEV_STORAGE = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
               "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
               "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;")
MESSAGE_ROW = "message"
PRESENCE_ROW = "presence"
DIAL_ROW = "dial"
STRING_UNITS = 32_000  # UTF-16 code units per string property (the limit is 64 KiB = 32,768 units)
KEY_UNSAFE = re.compile("[%/\\\\#?\x00-\x1f\x7f-\x9f]")  # disallowed in PartitionKey/RowKey (and % itself)


def key(value: str) -> str:
    """A PartitionKey/RowKey value for any string: the characters Tables refuses in keys
    (/ \\ # ? and U+0000-U+001F, U+007F-U+009F) and % are percent-escaped."""
    return KEY_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), value)


def unkey(value: str) -> str:
    return unquote(value) if "%" in value else value


def utf16_chunks(text: str, units: int = STRING_UNITS) -> list[str]:
    """`text` in pieces of at most `units` UTF-16 code units, never splitting a character."""
    if text.isascii():
        return [text[i:i + units] for i in range(0, len(text), units)] or [""]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > units:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    chunks.append("".join(current))
    return chunks


def payload_properties(payload: str) -> dict[str, str]:
    return {f"Payload{i or ''}": chunk for i, chunk in enumerate(utf16_chunks(payload))}


def payload_of(e) -> str:
    parts, i = [e["Payload"]], 1
    while f"Payload{i}" in e:
        parts.append(e[f"Payload{i}"])
        i += 1
    return "".join(parts)


def _connection(e) -> Connection:
    return Connection(unkey(e["PartitionKey"]), unkey(e["RowKey"]), e.get("HubName", ""),
                      int(e.get("ConnectionStatus", 0)), float(e.get("Updated", 0)))


def _presence(e) -> Presence:
    return Presence(unkey(e["PartitionKey"]), e["Status"], e["PresenceText"], e.get("BasePresenceStatus") or None,
                    e.get("PresenceId") or None, float(e["Updated"]))


def _message(e) -> Message:
    return Message(unkey(e["PartitionKey"]), e["UserId"], e["HubName"], payload_of(e), e["Status"], float(e["Created"]),
                   float(e["Expires"]), e.get("Reason") or None, e.get("Sent"), e.get("Completed"), int(e.get("Deliveries", 0)))


def _dial(e) -> Dial:
    return Dial(unkey(e["PartitionKey"]), e["UserId"], e["HubName"], payload_of(e), e["Status"], float(e["Created"]),
                int(e.get("Attempts", 0)), e.get("NextAttempt") or None, e.get("Completed") or None, e.get("Error") or None)


class TableStore:
    def __init__(self, connection_string: str, table: str):
        if connection_string.strip().lower() == "usedevelopmentstorage=true":
            connection_string = DEV_STORAGE
        try:
            # The SDK's default retries back off for tens of seconds: a function would hold
            # its caller that long before answering 503. Two quick retries, then report.
            service = TableServiceClient.from_connection_string(
                connection_string, retry_total=2, retry_backoff_factor=0.2, retry_backoff_max=2,
                connection_timeout=3, read_timeout=10)
        except ValueError as exc:
            raise StoreUnavailable(f"AzureWebJobsStorage is not a storage connection string: {exc}") from exc
        self.connections = self._call(lambda: service.create_table_if_not_exists(table))
        self.messages = self._call(lambda: service.create_table_if_not_exists(f"{table}Messages"))
        self.presence = self._call(lambda: service.create_table_if_not_exists(f"{table}Presence"))
        self.dials = self._call(lambda: service.create_table_if_not_exists(f"{table}Dials"))

    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ResourceExistsError, ResourceNotFoundError, ResourceModifiedError):
            raise
        except AzureError as exc:
            raise StoreUnavailable(f"Azure Table Storage: {exc.__class__.__name__}: {str(exc)[:200]}") from exc

    # connections
    def upsert_connection(self, conn: Connection) -> bool:
        entity = {"PartitionKey": key(conn.user_id), "RowKey": key(conn.connection_id), "HubName": conn.hub,
                  "ConnectionStatus": conn.status, "Updated": conn.updated}
        previous = self.get_connection(conn.connection_id)
        if previous is not None and previous.user_id != conn.user_id:
            self._call(partial(self.connections.delete_entity, key(previous.user_id), key(previous.connection_id)))
        try:
            self._call(lambda: self.connections.create_entity(entity))
            return True
        except ResourceExistsError:
            self._call(lambda: self.connections.upsert_entity(entity, mode=UpdateMode.REPLACE))
            return False

    def get_connection(self, connection_id: str) -> Connection | None:
        rows = self._call(lambda: list(self.connections.query_entities(
            "RowKey eq @id", parameters={"id": key(connection_id)})))
        return _connection(rows[0]) if rows else None

    def remove_connection(self, connection_id: str) -> bool:
        conn = self.get_connection(connection_id)
        if conn is None:
            return False
        try:
            self._call(lambda: self.connections.delete_entity(key(conn.user_id), key(connection_id)))
        except ResourceNotFoundError:
            return False
        return True

    def user_connections(self, user_id: str, hub: str) -> list[Connection]:
        rows = self._call(lambda: list(self.connections.query_entities(
            "PartitionKey eq @u and HubName eq @h and ConnectionStatus eq 1", parameters={"u": key(user_id), "h": hub})))
        return [_connection(r) for r in rows]

    def all_connections(self, hub: str) -> list[Connection]:
        rows = self._call(lambda: list(self.connections.query_entities("HubName eq @h", parameters={"h": hub})))
        return sorted((_connection(r) for r in rows), key=lambda c: (c.user_id, c.updated))

    def clear_connections(self, hub: str) -> int:
        stale = self.all_connections(hub)
        for conn in stale:
            try:
                self._call(partial(self.connections.delete_entity, key(conn.user_id), key(conn.connection_id)))
            except ResourceNotFoundError:
                pass
        return len(stale)

    # messages
    def add_message(self, m: Message) -> None:
        entity = {"PartitionKey": key(m.message_id), "RowKey": MESSAGE_ROW, "UserId": m.user_id, "HubName": m.hub,
                  **payload_properties(m.payload), "Status": m.status, "Created": m.created, "Expires": m.expires,
                  "Deliveries": m.deliveries}
        self._insert(self.messages, entity, f"message {m.message_id}")

    def _insert(self, table, entity: dict, what: str) -> None:
        """Create the entity (its None properties left out); StoreConflict when it exists."""
        try:
            self._call(lambda: table.create_entity({k: v for k, v in entity.items() if v is not None}))
        except ResourceExistsError as exc:
            raise StoreConflict(f"{what} exists") from exc

    def _read(self, table, row_key: str, ident: str):
        try:
            return self._call(lambda: table.get_entity(key(ident), row_key))
        except ResourceNotFoundError:
            return None

    def _entity(self, message_id: str):
        return self._read(self.messages, MESSAGE_ROW, message_id)

    def get_message(self, message_id: str) -> Message | None:
        e = self._entity(message_id)
        return _message(e) if e is not None else None

    def _update_if(self, message_id: str, change: Callable[[dict], dict | None]) -> bool:
        """Read-modify-write with the ETag; retried when another writer got there first."""
        for _ in range(10):
            e = self._entity(message_id)
            if e is None:
                return False
            patch = change(e)
            if patch is None:
                return False
            try:
                self._call(partial(self.messages.update_entity, {"PartitionKey": key(message_id), "RowKey": MESSAGE_ROW,
                                                                 **patch}, mode=UpdateMode.MERGE, etag=e.metadata["etag"],
                                   match_condition=MatchConditions.IfNotModified))
                return True
            except ResourceModifiedError:
                continue
        raise StoreUnavailable(f"message {message_id}: too many concurrent updates")

    def mark_sent(self, message_id: str, now: float) -> None:
        def change(e):
            patch: dict[str, Any] = {"Deliveries": int(e.get("Deliveries", 0)) + 1}
            if e["Status"] == MessageStatus.QUEUED:
                patch["Status"] = MessageStatus.SENT
            if e.get("Sent") is None:
                patch["Sent"] = now
            return patch
        self._update_if(message_id, change)

    def complete_message(self, message_id: str, status: str, reason: str | None, now: float) -> bool:
        def change(e):
            if e["Status"] not in MessageStatus.OPEN:
                return None
            return {"Status": status, "Reason": reason or "", "Completed": now}
        return self._update_if(message_id, change)

    def open_messages(self, user_id: str, hub: str) -> list[Message]:
        rows = self._call(lambda: list(self.messages.query_entities(
            # the SDK substitutes @names split on spaces: keep them apart from parentheses
            "UserId eq @u and HubName eq @h and ( Status eq @q or Status eq @s )",
            parameters={"u": user_id, "h": hub, "q": MessageStatus.QUEUED, "s": MessageStatus.SENT})))
        return sorted((_message(r) for r in rows), key=lambda m: m.created)

    def recent_messages(self, limit: int) -> list[Message]:
        rows = self._call(lambda: list(self.messages.list_entities()))
        return sorted((_message(r) for r in rows), key=lambda m: m.created, reverse=True)[:limit]

    # presence
    def set_presence(self, p: Presence) -> None:
        entity = {"PartitionKey": key(p.user_id), "RowKey": PRESENCE_ROW, "Status": p.status,
                  "PresenceText": p.presence_text, "BasePresenceStatus": p.base_presence_status or "",
                  "PresenceId": p.presence_id or "", "Updated": p.updated}
        self._call(lambda: self.presence.upsert_entity(entity, mode=UpdateMode.REPLACE))

    def get_presence(self, user_id: str) -> Presence | None:
        try:
            return _presence(self._call(lambda: self.presence.get_entity(key(user_id), PRESENCE_ROW)))
        except ResourceNotFoundError:
            return None

    def all_presence(self) -> list[Presence]:
        rows = self._call(lambda: list(self.presence.list_entities()))
        return sorted((_presence(r) for r in rows), key=lambda p: p.user_id)

    # dials: `<table>Dials`, PartitionKey = dial id; the request JSON split as a message's payload is
    def add_dial(self, d: Dial) -> None:
        entity = {"PartitionKey": key(d.dial_id), "RowKey": DIAL_ROW, "UserId": d.user_id, "HubName": d.hub,
                  **payload_properties(d.request), "Status": d.status, "Created": d.created, "Attempts": d.attempts,
                  "NextAttempt": d.next_attempt, "Completed": d.completed, "Error": d.error or ""}
        self._insert(self.dials, entity, f"dial {d.dial_id}")

    def get_dial(self, dial_id: str) -> Dial | None:
        e = self._read(self.dials, DIAL_ROW, dial_id)
        return _dial(e) if e is not None else None

    def record_dial_attempt(self, d: Dial, attempts_before: int) -> bool:
        e = self._read(self.dials, DIAL_ROW, d.dial_id)
        if e is None or e["Status"] != DialStatus.PENDING or int(e.get("Attempts", 0)) != attempts_before:
            return False
        patch = {"PartitionKey": key(d.dial_id), "RowKey": DIAL_ROW, "Status": d.status, "Attempts": d.attempts,
                 "NextAttempt": d.next_attempt if d.next_attempt is not None else 0.0,
                 "Completed": d.completed if d.completed is not None else 0.0, "Error": d.error or ""}
        try:
            self._call(partial(self.dials.update_entity, patch, mode=UpdateMode.MERGE, etag=e.metadata["etag"],
                               match_condition=MatchConditions.IfNotModified))
        except ResourceModifiedError:
            return False  # another worker recorded this attempt first
        return True

    def due_dials(self, now: float, limit: int) -> list[Dial]:
        rows = self._call(lambda: list(self.dials.query_entities(
            "Status eq @p and NextAttempt le @now", parameters={"p": DialStatus.PENDING, "now": now})))
        return sorted((_dial(r) for r in rows), key=lambda d: d.created)[:limit]

    def close(self) -> None:
        pass
