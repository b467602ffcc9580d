"""One structured-log helper for the server: one JSON object a line, `{"event": name, …}`,
with fixed key names for the ids that let a person follow one call through the
functions, the emulator and the Azure host — `user`, `connection`, `message` (a message
id) and `hub` — so a grep for one id finds every line about it."""
from __future__ import annotations

import json
import logging
from typing import Any

FIXED_KEYS = ("user", "connection", "message", "hub")
# names that mean one of the fixed keys and must not be used instead of it
SYNONYMS = {"userId": "user", "user_id": "user", "connectionId": "connection", "connection_id": "connection",
            "messageId": "message", "message_id": "message"}


def log_event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `{"event": name, **fields}` as one JSON line; the ids go under the fixed keys
    (a synonym such as `userId` is a programming error: ValueError)."""
    wrong = [k for k in fields if k in SYNONYMS]
    if wrong:
        raise ValueError(f"log_event: use {', '.join(SYNONYMS[k] for k in wrong)} instead of {', '.join(wrong)}")
    if logger.isEnabledFor(level):
        logger.log(level, json.dumps({"event": name, **fields}, default=str))
