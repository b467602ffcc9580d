"""Authorization codes (in memory, minutes) and rotating refresh tokens (SQLite, so a
restarted stack still renews agents silently). A refresh token works once; presenting a
spent one again revokes every token of its sign-in (its family), as OAuth 2.1 asks of
rotation and Entra ID does: one of the two holders is a thief, and we can't tell which."""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CODE_LIFETIME = 300
REFRESH_LIFETIME = 24 * 3600


@dataclass(frozen=True)
class CodeGrant:
    client_id: str
    redirect_uri: str
    username: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires: float


@dataclass(frozen=True)
class RefreshGrant:
    client_id: str
    username: str
    scope: str
    family: str | None = None  # the sign-in this token descends from (None: a new sign-in)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class GrantStore:
    def __init__(self, db_path: Path):
        self._codes: dict[str, CodeGrant] = {}
        self._lock = threading.Lock()
        self._db_path = db_path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS refresh_tokens (token_hash TEXT PRIMARY KEY, client_id TEXT,"
                       " username TEXT, scope TEXT, expires REAL, used INTEGER DEFAULT 0, family TEXT)")
            if "family" not in {row[1] for row in db.execute("PRAGMA table_info(refresh_tokens)")}:
                db.execute("ALTER TABLE refresh_tokens ADD COLUMN family TEXT")  # a state dir from before

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._db_path, timeout=10, isolation_level=None)

    def new_code(self, grant: CodeGrant) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._codes = {k: v for k, v in self._codes.items() if v.expires > now}
            self._codes[code] = grant
        return code

    def take_code(self, code: str) -> CodeGrant | None:
        """One use only: a replayed code finds nothing."""
        with self._lock:
            grant = self._codes.pop(code, None)
        return grant if grant and grant.expires > time.time() else None

    def new_refresh_token(self, grant: RefreshGrant) -> str:
        token = secrets.token_urlsafe(48)
        with self._connect() as db:
            db.execute("INSERT INTO refresh_tokens (token_hash, client_id, username, scope, expires, family)"
                       " VALUES (?,?,?,?,?,?)", (_hash(token), grant.client_id, grant.username, grant.scope,
                                                 time.time() + REFRESH_LIFETIME, grant.family or _hash(token)))
        return token

    def redeem_refresh_token(self, token: str) -> RefreshGrant | None:
        """Rotation: a refresh token works once; the caller issues a new one of the same
        family. A spent token presented again revokes its whole family (None returned)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT client_id, username, scope, expires, used, family FROM refresh_tokens"
                             " WHERE token_hash=?", (_hash(token),)).fetchone()
            family = row and (row[5] or _hash(token))
            if row is not None and row[4]:
                db.execute("UPDATE refresh_tokens SET used=1 WHERE family=?", (family,))
            if row is None or row[4] or row[3] < time.time():
                db.execute("COMMIT")
                return None
            db.execute("UPDATE refresh_tokens SET used=1 WHERE token_hash=?", (_hash(token),))
            db.execute("DELETE FROM refresh_tokens WHERE expires < ?", (time.time(),))
            db.execute("COMMIT")
        return RefreshGrant(row[0], row[1], row[2], family)
