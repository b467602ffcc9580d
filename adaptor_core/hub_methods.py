"""The hub methods this adaptor speaks (the seed's names), the loader of a notification's
message, and a table of handlers by target — the vocabulary the functions, the widget,
the simulated agents and the Azure triggers share (docs/signalr-protocol.md).

    handlers = Handlers()
    handlers.on(RECEIVE_NOTIFICATION, show_call)      # as pysignalr's client.on(...)
    for fn in handlers.get(invocation.target): fn(invocation.arguments)
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import NotificationError

RECEIVE_NOTIFICATION = "ReceiveNotification"  # server → widget: [message object] (seed)
SEND_MESSAGE = "sendMessage"  # widget → functions: [acknowledgement] (seed: SendMessageAcknowlegement)
# Withdraw a ringing call (the caller hung up, or another tab answered):
# server → widget: [{"messageId", "status", "reason"?}] — notifications.parse_withdrawal
CANCEL_NOTIFICATION = "CancelNotification"
# The agent's CIF presence: widget → functions: [{"presenceText", "basePresenceStatus"?,
# "presenceId"?}] — presence.PresenceReport
REPORT_PRESENCE = "reportPresence"
# click-to-dial (docs/functions-api.md, "Click-to-dial"; the shapes: dialing.py)
REQUEST_DIAL = "requestDial"  # widget → functions: [dial request] (a click on a phone number)
RECEIVE_DIAL_STATUS = "ReceiveDialStatus"  # server → widget: [dial status] (to every connection of the agent)


def message_object(value: Any, name: str = "the notification") -> dict:
    """A notification's message: the object itself, or its JSON text as the seed sent it.
    NotificationError "<name> is text but not JSON" / "<name> must be an object" otherwise."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise NotificationError(f"{name} is text but not JSON") from None
    if not isinstance(value, dict):
        raise NotificationError(f"{name} must be an object")
    return value


class Handlers:
    """Functions registered by hub method name (target), several per target allowed."""

    def __init__(self) -> None:
        self._by_target: dict[str, list[Callable[[list], Any]]] = {}

    def on(self, target: str, fn: Callable[[list], Any]) -> None:
        """Call `fn(arguments)` for every invocation of `target`."""
        self._by_target.setdefault(target, []).append(fn)

    def get(self, target: str) -> list[Callable[[list], Any]]:
        return list(self._by_target.get(target, ()))
