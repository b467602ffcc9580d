"""Content-hashed URLs for the widget's vendor files (Pyodide, PyScript, the wheels' zip,
the memory snapshot: everything tools/setup.py builds into web/vendor/), so a browser
keeps them for a year and never asks again: `./vendor/x` in index.html and pyscript.toml
becomes `./vendor-<hash>/x`, served with `Cache-Control: immutable`. The hash covers
every byte under web/vendor, so new contents always come under a new URL."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from .settings import WEB_DIR

VENDOR_DIR = WEB_DIR / "vendor"
IMMUTABLE = "public, max-age=31536000, immutable"
PREFIX = "./vendor/"

_lock = threading.Lock()
_cache: dict[tuple, str] = {}


def _listing(vendor: Path) -> tuple:
    return tuple(sorted((p.relative_to(vendor).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in vendor.rglob("*") if p.is_file()))


def vendor_version(vendor: Path = VENDOR_DIR) -> str:
    """16 hex digits of SHA-256 over web/vendor's file names and contents; recomputed only
    when a file's size or modification time changed (a set-up run)."""
    listing = _listing(vendor)
    with _lock:
        if listing not in _cache:
            digest = hashlib.sha256()
            for name, _size, _mtime in listing:
                digest.update(name.encode() + b"\0")
                with (vendor / name).open("rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
            _cache.clear()
            _cache[listing] = digest.hexdigest()[:16]
        return _cache[listing]


def versioned(text: str, version: str) -> str:
    """index.html or pyscript.toml with its vendor URLs under the hashed directory."""
    return text.replace(PREFIX, f"./vendor-{version}/")
