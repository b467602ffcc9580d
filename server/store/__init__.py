"""Connection, message, presence and dial store behind one small interface (`Store`): SQLite by default,
Azure Table Storage when `AzureWebJobsStorage` is set."""
from __future__ import annotations

from pathlib import Path

from .base import (
    Connection,
    Dial,
    DialStatus,
    Message,
    MessageStatus,
    Presence,
    Store,
    StoreConflict,
    StoreUnavailable,
)


def open_store(connection_string: str | None, state_dir: Path, table: str) -> Store:
    if not connection_string:
        from .sqlite import SqliteStore

        return SqliteStore(state_dir / "adaptor.db")
    from .tables import TableStore

    return TableStore(connection_string, table)


__all__ = ["Connection", "Dial", "DialStatus", "Message", "MessageStatus", "Presence", "Store", "StoreConflict",
           "StoreUnavailable", "open_store"]
