"""Bounds the emulator keeps on what one client controls: negotiations waiting for their
WebSocket (per user and in all) and the rate of hub messages on one connection. Azure
SignalR documents no such numbers; these are generous for a widget (one negotiation per
connect, a ping every 15 s, a few acknowledgements) and keep one client from taking the
process. Pure: time is passed in (monotonic seconds)."""
from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

NEGOTIATION_LIFETIME = 60  # seconds a connectionToken may wait for its WebSocket
MAX_PENDING_PER_USER = 20
MAX_PENDING = 10_000
MESSAGE_BURST = 100  # hub records a connection may send at once…
MESSAGE_RATE = 20.0  # …and per second, sustained


class Pending(Protocol):
    user_id: str


P = TypeVar("P", bound=Pending)


@dataclass(frozen=True)
class Refused:
    error: str


class Negotiations(Generic[P]):
    """connectionToken → negotiation, each taken once, within its lifetime."""

    def __init__(self, lifetime: float = NEGOTIATION_LIFETIME, per_user: int = MAX_PENDING_PER_USER,
                 total: int = MAX_PENDING):
        self.lifetime, self.per_user, self.total = lifetime, per_user, total
        self._pending: dict[str, tuple[float, P]] = {}  # insertion order = expiry order
        self._per_user: Counter[str] = Counter()

    def _expire(self, now: float) -> None:
        while self._pending:
            token, (expires, negotiation) = next(iter(self._pending.items()))
            if expires > now:
                break
            self._forget(token, negotiation)

    def _forget(self, token: str, negotiation: P) -> None:
        del self._pending[token]
        self._per_user[negotiation.user_id] -= 1
        if not self._per_user[negotiation.user_id]:
            del self._per_user[negotiation.user_id]

    def add(self, negotiation: P, now: float, key: str | None = None) -> str | Refused:
        """A new connectionToken for it (or `key`: a version 0 negotiate is taken by its
        connection id), or why not (too many waiting)."""
        self._expire(now)
        if self._per_user[negotiation.user_id] >= self.per_user:
            return Refused(f"{self.per_user} negotiations per user may wait for their WebSocket at once; "
                           f"connect with one of them or wait {self.lifetime:g} s")
        if len(self._pending) >= self.total:
            return Refused(f"{self.total} negotiations in all are waiting for their WebSocket; "
                           f"try again within {self.lifetime:g} s")
        token = key or secrets.token_urlsafe(24)
        self._pending[token] = (now + self.lifetime, negotiation)
        self._per_user[negotiation.user_id] += 1
        return token

    def take(self, token: str, now: float) -> P | None:
        """The negotiation of this token, once; None if unknown, taken or expired."""
        self._expire(now)
        entry = self._pending.get(token)
        if entry is None:
            return None
        self._forget(token, entry[1])
        return entry[1]


class TokenBucket:
    """`burst` messages at once, refilled at `rate` a second."""

    def __init__(self, rate: float = MESSAGE_RATE, burst: int = MESSAGE_BURST, now: float = 0.0):
        self.rate, self.burst, self._tokens, self._at = rate, burst, float(burst), now

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
