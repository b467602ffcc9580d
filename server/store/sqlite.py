"""Embedded SQLite store: WAL for concurrent readers, one short transaction per call,
a connection per thread (Flask runs handlers on a thread pool)."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from .base import Connection, Dial, DialStatus, Message, MessageStatus, Presence, StoreConflict, StoreUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
  connection_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, hub TEXT NOT NULL,
  status INTEGER NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS connections_user ON connections (user_id, hub);
CREATE TABLE IF NOT EXISTS messages (
  message_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, hub TEXT NOT NULL, payload TEXT NOT NULL,
  status TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, reason TEXT,
  sent REAL, completed REAL, deliveries INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS messages_open ON messages (user_id, hub, status);
CREATE INDEX IF NOT EXISTS messages_created ON messages (created);
CREATE TABLE IF NOT EXISTS presence (
  user_id TEXT PRIMARY KEY, status TEXT NOT NULL, presence_text TEXT NOT NULL, base_presence_status TEXT,
  presence_id TEXT, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dials (
  dial_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, hub TEXT NOT NULL, request TEXT NOT NULL,
  status TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt REAL, completed REAL, error TEXT);
CREATE INDEX IF NOT EXISTS dials_due ON dials (status, next_attempt);
"""
BUSY_TIMEOUT = 5.0  # seconds a write waits for the database (then 503 store_unavailable)
PRESENCE_COLUMNS = "user_id, status, presence_text, base_presence_status, presence_id, updated"
DIAL_COLUMNS = "dial_id, user_id, hub, request, status, created, attempts, next_attempt, completed, error"
MESSAGE_COLUMNS = "message_id, user_id, hub, payload, status, created, expires, reason, sent, completed, deliveries"


class SqliteStore:
    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT):
        self.path, self.busy_timeout = path, busy_timeout
        self._local = threading.local()
        # Writers of this process queue here rather than in SQLite: its busy handler sleeps
        # 1, 2, 5 … 100 ms between retries, which under 32 concurrent writers left the CPU
        # idle while requests waited (throughput fell to ~110/s). SQLite's own lock still
        # guards against other processes.
        self._write_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self, write: bool = False):
        if write and not self._write_lock.acquire(timeout=self.busy_timeout):
            raise StoreUnavailable(f"SQLite store {self.path.name}: writers queued for {self.busy_timeout:g} s")
        try:
            db = self._db()
            if write:
                db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if write and db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            if write:
                db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from exc
        except sqlite3.Error as exc:  # locked, read-only, disk I/O: nothing was committed
            raise StoreUnavailable(f"SQLite store {self.path.name}: {exc}") from exc
        finally:
            if write:
                self._write_lock.release()

    # connections
    def upsert_connection(self, conn: Connection) -> bool:
        with self._tx(write=True) as db:
            known = db.execute("SELECT 1 FROM connections WHERE connection_id=?", (conn.connection_id,)).fetchone()
            db.execute("INSERT INTO connections VALUES (?,?,?,?,?) ON CONFLICT(connection_id) DO UPDATE SET"
                       " user_id=excluded.user_id, hub=excluded.hub, status=excluded.status, updated=excluded.updated",
                       (conn.connection_id, conn.user_id, conn.hub, conn.status, conn.updated))
            return known is None

    def get_connection(self, connection_id: str) -> Connection | None:
        with self._tx() as db:
            row = db.execute("SELECT user_id, connection_id, hub, status, updated FROM connections"
                             " WHERE connection_id=?", (connection_id,)).fetchone()
        return Connection(*row) if row else None

    def remove_connection(self, connection_id: str) -> bool:
        with self._tx(write=True) as db:
            return db.execute("DELETE FROM connections WHERE connection_id=?", (connection_id,)).rowcount > 0

    def user_connections(self, user_id: str, hub: str) -> list[Connection]:
        with self._tx() as db:
            rows = db.execute("SELECT user_id, connection_id, hub, status, updated FROM connections"
                              " WHERE user_id=? AND hub=? AND status=1", (user_id, hub)).fetchall()
        return [Connection(*r) for r in rows]

    def all_connections(self, hub: str) -> list[Connection]:
        with self._tx() as db:
            rows = db.execute("SELECT user_id, connection_id, hub, status, updated FROM connections"
                              " WHERE hub=? ORDER BY user_id, updated", (hub,)).fetchall()
        return [Connection(*r) for r in rows]

    def clear_connections(self, hub: str) -> int:
        with self._tx(write=True) as db:
            return db.execute("DELETE FROM connections WHERE hub=?", (hub,)).rowcount

    # messages
    def add_message(self, m: Message) -> None:
        with self._tx(write=True) as db:
            db.execute(f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (m.message_id, m.user_id, m.hub, m.payload, m.status, m.created, m.expires, m.reason,
                        m.sent, m.completed, m.deliveries))

    def get_message(self, message_id: str) -> Message | None:
        with self._tx() as db:
            row = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE message_id=?", (message_id,)).fetchone()
        return Message(*row) if row else None

    def mark_sent(self, message_id: str, now: float) -> None:
        with self._tx(write=True) as db:
            db.execute("UPDATE messages SET status=CASE WHEN status='queued' THEN 'sent' ELSE status END,"
                       " sent=COALESCE(sent, ?), deliveries=deliveries+1 WHERE message_id=?", (now, message_id))

    def complete_message(self, message_id: str, status: str, reason: str | None, now: float) -> bool:
        with self._tx(write=True) as db:
            return db.execute("UPDATE messages SET status=?, reason=?, completed=? WHERE message_id=?"
                              " AND status IN (?, ?)", (status, reason, now, message_id, *MessageStatus.OPEN)
                              ).rowcount > 0

    def open_messages(self, user_id: str, hub: str) -> list[Message]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE user_id=? AND hub=?"
                              " AND status IN (?, ?) ORDER BY created", (user_id, hub, *MessageStatus.OPEN)).fetchall()
        return [Message(*r) for r in rows]

    def recent_messages(self, limit: int) -> list[Message]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY created DESC LIMIT ?",
                              (limit,)).fetchall()
        return [Message(*r) for r in rows]

    # presence
    def set_presence(self, p: Presence) -> None:
        with self._tx(write=True) as db:
            db.execute(f"INSERT OR REPLACE INTO presence ({PRESENCE_COLUMNS}) VALUES (?,?,?,?,?,?)",
                       (p.user_id, p.status, p.presence_text, p.base_presence_status, p.presence_id, p.updated))

    def get_presence(self, user_id: str) -> Presence | None:
        with self._tx() as db:
            row = db.execute(f"SELECT {PRESENCE_COLUMNS} FROM presence WHERE user_id=?", (user_id,)).fetchone()
        return Presence(*row) if row else None

    def all_presence(self) -> list[Presence]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {PRESENCE_COLUMNS} FROM presence ORDER BY user_id").fetchall()
        return [Presence(*r) for r in rows]

    # dials
    def add_dial(self, d: Dial) -> None:
        with self._tx(write=True) as db:
            db.execute(f"INSERT INTO dials ({DIAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (d.dial_id, d.user_id, d.hub, d.request, d.status, d.created, d.attempts, d.next_attempt,
                        d.completed, d.error))

    def get_dial(self, dial_id: str) -> Dial | None:
        with self._tx() as db:
            row = db.execute(f"SELECT {DIAL_COLUMNS} FROM dials WHERE dial_id=?", (dial_id,)).fetchone()
        return Dial(*row) if row else None

    def record_dial_attempt(self, d: Dial, attempts_before: int) -> bool:
        with self._tx(write=True) as db:
            return db.execute("UPDATE dials SET status=?, attempts=?, next_attempt=?, completed=?, error=?"
                              " WHERE dial_id=? AND status=? AND attempts=?",
                              (d.status, d.attempts, d.next_attempt, d.completed, d.error, d.dial_id,
                               DialStatus.PENDING, attempts_before)).rowcount > 0

    def due_dials(self, now: float, limit: int) -> list[Dial]:
        with self._tx() as db:
            rows = db.execute(f"SELECT {DIAL_COLUMNS} FROM dials WHERE status=? AND next_attempt<=?"
                              " ORDER BY created LIMIT ?", (DialStatus.PENDING, now, limit)).fetchall()
        return [Dial(*r) for r in rows]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
