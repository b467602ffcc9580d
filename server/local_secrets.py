"""Secrets of the local stand-ins, generated on first run into the state dir (never git):
the SignalR emulator's primary/secondary access keys, the functions' webhook key and the
managed identity endpoint's header secret (App Service's IDENTITY_HEADER) and the
click-to-dial webhook's signing secret (shared with `python -m telephony listen`)."""
from __future__ import annotations

import json
import secrets
from pathlib import Path

GENERATORS = {
    "signalr_primary_key": lambda: secrets.token_hex(16),
    "signalr_secondary_key": lambda: secrets.token_hex(16),
    "functions_key": lambda: secrets.token_urlsafe(24),
    "identity_header": lambda: secrets.token_hex(16),
    "dial_webhook_secret": lambda: secrets.token_urlsafe(32),  # signs dial requests to `telephony listen`
}


def load_local_secrets(state_dir: Path) -> dict[str, str]:
    """The secrets of `state_dir`, creating the file, or the keys it lacks, once."""
    path = state_dir / "local-secrets.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    missing = {k: make() for k, make in GENERATORS.items() if k not in values}
    if missing:
        state_dir.mkdir(parents=True, exist_ok=True)
        values.update(missing)
        path.write_text(json.dumps(values, indent=2))
        path.chmod(0o600)
    return values
