"""Secrets of the local stand-ins, generated on first run into the state dir (never git):
the SignalR emulator's primary/secondary access keys and the functions' webhook key."""
from __future__ import annotations

import json
import secrets
from pathlib import Path


def load_local_secrets(state_dir: Path) -> dict[str, str]:
    path = state_dir / "local-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    state_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "signalr_primary_key": secrets.token_hex(16),
        "signalr_secondary_key": secrets.token_hex(16),
        "functions_key": secrets.token_urlsafe(24),
    }
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values
