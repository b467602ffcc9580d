"""Withdrawing a ringing call (docs/cif.md, "Withdraw"): the functions push
CANCEL_NOTIFICATION when the caller hung up (the sender cancelled the message) or when
another of the agent's tabs answered it; the tab still ringing takes its toast down with
CIF's `cancelEvent(cancellationToken)` — the token it gave `notifyEvent` — and records
nothing (no task, no acknowledgement: the functions have the outcome already).

    token = ringing.start(n.key, fresh)                # before the lookup; None: withdrawn already
    notifyEvent(input, correlation_id(token), token)
    withdrawal = parse_withdrawal(argument)            # CANCEL_NOTIFICATION
    if ringing.withdraw(withdrawal.message_id): cancelEvent(token); row shows withdrawn_outcome(withdrawal)
    ringing.finish(n.key)                              # answered here; False: withdrawn meanwhile
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .errors import NotificationError
from .hub_methods import message_object

# the message's final status the functions name in a withdrawal
STATUSES = ("cancelled", "accepted", "rejected", "missed", "failed")
CORRELATION_SPACE = uuid.UUID("6f0b0d3e-51a8-4c1e-9d36-0c4f3f3c2a17")  # correlation ids from tokens


@dataclass(frozen=True)
class Withdrawal:
    message_id: str
    status: str  # one of STATUSES: "cancelled" (the sender's cancel) or the outcome another tab recorded
    reason: str | None = None


def parse_withdrawal(argument: Any) -> Withdrawal:
    """A CANCEL_NOTIFICATION argument `{"messageId", "status", "reason"?}` (or its JSON
    text); NotificationError naming what is wrong."""
    body = message_object(argument, "the withdrawal")
    message_id, status, reason = body.get("messageId"), body.get("status"), body.get("reason")
    if not isinstance(message_id, str) or not message_id:
        raise NotificationError("the withdrawal has no messageId")
    if status not in STATUSES:
        raise NotificationError(f"the withdrawal's status must be one of {', '.join(STATUSES)}")
    return Withdrawal(message_id, status, reason[:1024] if isinstance(reason, str) and reason else None)


def withdrawn_outcome(withdrawal: Withdrawal) -> str:
    """What the tab shows for a call withdrawn from it."""
    if withdrawal.status == "cancelled":
        return f"Withdrawn: {withdrawal.reason}" if withdrawal.reason else "Withdrawn"
    return f"Answered in another tab ({withdrawal.status})"


def correlation_id(token: str) -> str:
    """notifyEvent's and cancelEvent's correlationId (a GUID, for Dynamics' telemetry): the
    same for both calls of one notification."""
    return str(uuid.uuid5(CORRELATION_SPACE, token))


class Ringing:
    """The calls this tab is showing (from receipt until answered or withdrawn), by key
    (message id, else interaction id), and the keys withdrawn before they arrived — a
    redelivery racing the withdrawal must not ring."""

    def __init__(self, capacity: int = 1000) -> None:
        self._tokens: dict[str, str] = {}
        self._withdrawn: dict[str, None] = {}
        self.capacity = capacity

    def start(self, key: str | None, fallback: str) -> str | None:
        """The cancellation token for a call about to ring (the key; `fallback` — a fresh
        unique string — for a call without one); None when the call was withdrawn already."""
        if key is None:
            return fallback
        if key in self._withdrawn:
            return None
        self._tokens[key] = key
        return key

    def withdraw(self, key: str) -> str | None:
        """Mark `key` withdrawn; the token to cancel when it is ringing here, else None."""
        self._withdrawn[key] = None
        while len(self._withdrawn) > self.capacity:
            del self._withdrawn[next(iter(self._withdrawn))]
        return self._tokens.pop(key, None)

    def finish(self, key: str | None) -> bool:
        """The call is answered here (or failed); False when it was withdrawn meanwhile."""
        if key is None:
            return True
        return self._tokens.pop(key, None) is not None
