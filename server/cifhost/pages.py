"""Responses of the local stand-ins' pages and files (the CIF host, the Dataverse web
resources, the dev console): each with its Content-Security-Policy, no MIME sniffing,
revalidated on every load."""
from __future__ import annotations

from pathlib import Path

from flask import Response, abort, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}


def page(body: str | bytes, csp: str | None, content_type: str = "text/html; charset=utf-8") -> Response:
    """A page (or web resource) with its CSP when given."""
    response = Response(body, content_type=content_type)
    if csp:
        response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


def static_file(path: str, folder: Path = STATIC_DIR) -> Response:
    """A .js/.css/.json file of `folder`, revalidated on every load; 404 for other kinds."""
    suffix = Path(path).suffix
    if suffix not in STATIC_TYPES:
        abort(404)
    response = send_from_directory(folder, path, mimetype=STATIC_TYPES[suffix])
    response.headers["Cache-Control"] = "no-cache"
    return response
