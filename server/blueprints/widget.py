"""Serves the adaptor widget (web/) and its Python core package at /widget/."""
from __future__ import annotations

import io
import zipfile
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, request, send_from_directory

from ..settings import CORE_DIR, WEB_DIR
from ..widget_assets import IMMUTABLE, VENDOR_DIR, vendor_version, versioned

bp = Blueprint("widget", __name__, url_prefix="/widget")

# Python's mimetypes table varies by distro; these must be right for module scripts
# and for WebAssembly.instantiateStreaming.
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".toml": "text/plain", ".py": "text/plain", ".zip": "application/zip",
         ".json": "application/json", ".css": "text/css", ".html": "text/html",
         ".gz": "application/gzip"}


def core_zip() -> bytes:
    """The pure-Python core as a zip for pyscript.toml [files]; built from the working
    tree on each request so edits show up on reload (it is a few KiB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(CORE_DIR.rglob("*.py")):
            if "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(CORE_DIR.parent).as_posix())
    return buf.getvalue()


@bp.get("")
def root():
    return redirect("/widget/", code=308)


@bp.get("/adaptor_core.zip")
def adaptor_core():
    return Response(core_zip(), mimetype="application/zip", headers={"Cache-Control": "no-cache"})


@bp.get("/config.json")
def config_json():
    """The sample solution's environment variables for this stack (README, Configuration)."""
    response = jsonify(current_app.extensions["config"].widget_config())
    response.headers["Cache-Control"] = "no-cache"
    return response


def _suffix(path: str) -> str:
    suffix = "." + path.rsplit(".", 1)[-1] if "." in path else ""
    if suffix not in TYPES:
        abort(404)
    return suffix


@bp.get("/vendor-<version>/<path:path>")
def vendor(version: str, path: str):
    """web/vendor under its content hash (server/widget_assets.py): kept for a year."""
    if version != vendor_version():
        abort(404)  # another build's URL: never cache these contents under it
    response = send_from_directory(VENDOR_DIR, path, mimetype=TYPES[_suffix(path)])
    response.headers["Cache-Control"] = IMMUTABLE
    if path.endswith(".bin.gz"):  # the memory snapshot: the browser inflates it while the page loads
        response.mimetype = "application/octet-stream"
        response.headers["Content-Encoding"] = "gzip"
    return response


# The pages naming vendor files: served with those names under the current hash.
VERSIONED_PAGES = {"index.html", "pyscript.toml"}


@bp.get("/", defaults={"path": "index.html"})
@bp.get("/<path:path>")
def static(path: str):
    suffix = _suffix(path)
    if path in VERSIONED_PAGES:
        text = versioned((WEB_DIR / path).read_text(encoding="utf-8"), vendor_version())
        response = Response(text, mimetype=TYPES[suffix])
        response.add_etag()
        response.make_conditional(request)
    else:
        response = send_from_directory(WEB_DIR, path, mimetype=TYPES[suffix])
    response.headers["Cache-Control"] = "no-cache"  # revalidate (ETag), never stale after an upgrade
    if suffix == ".html":
        response.headers["Content-Security-Policy"] = content_security_policy()
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy() -> str:
    """Framing only by the Dynamics origins; scripts from us (+ their CIF library);
    connections only to us, the functions (AdaptorFunctionUrl), the SignalR service's client
    endpoint (https + wss) and the authority.
    'wasm-unsafe-eval' is what Pyodide needs to compile its WebAssembly; 'unsafe-eval'
    is what PyScript needs (it composes its plugin hooks with `Function(...)` — measured
    in tests/test_widget_csp.py, which also proves nothing else is needed)."""
    config = current_app.extensions["config"]
    dynamics = " ".join(config.dynamics_origins)
    signalr = _origin(config.signalr.client_url(""))  # ClientEndpoint when set: where the browser connects
    signalr_ws = signalr.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' {dynamics}",
        "style-src 'self'",
        "img-src 'self' data:",
        f"connect-src 'self' {_origin(config.functions_url)} {signalr} {signalr_ws} {_origin(config.authority)}",
        f"frame-ancestors {dynamics}",
        "base-uri 'none'",
        "form-action 'none'",
        "object-src 'none'",
    ])
