"""The local CIF host: the page that plays the Dynamics 365 agent workspace around the
widget (docs/cif.md, "The local host"), the CIF library it serves as Dynamics does, and
its static files."""
from __future__ import annotations

import math
from urllib.parse import urljoin, urlsplit

from flask import Blueprint, current_app, render_template, request

from ..errors import ApiError
from . import dataverse
from .pages import page, static_file

LIBRARY = "msdyn_ciLibrary.js"
LIBRARY_PATH = f"/webresources/Widget/{LIBRARY}"  # where Dynamics serves its web resource

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
MAX_TIMEOUT = 3600.0

bp = Blueprint("cifhost", __name__, template_folder="templates")
bp.register_blueprint(dataverse.bp)  # the solution's web resources and Web API, on the host's origin


# --- helpers --------------------------------------------------------------------------------

def _origin(url: str) -> str | None:
    """scheme://host[:port] of an absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]  # browsers leave default ports out of origins
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _is_loopback(url: str) -> bool:
    if _origin(url) is None:
        return False
    return urlsplit(url).hostname in LOOPBACK_HOSTS


def _host_origin() -> str:
    """The origin this page was opened on (what the library's data-crmurl must name)."""
    return request.host_url.rstrip("/")


def _timeout_param() -> float | None:
    """?timeout=<seconds> overrides the notification templates' msdyn_timeout (tests, demos)."""
    raw = request.args.get("timeout")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_TIMEOUT):  # also rejects NaN and inf
        raise ApiError(400, "bad_timeout", f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}]")
    return value


# --- the host page ----------------------------------------------------------------------------

@bp.get("/")
def host_page():
    config = current_app.extensions["config"]
    host_origin = _host_origin()
    override = request.args.get("widget")
    if override is not None:
        if not _is_loopback(override):
            raise ApiError(400, "bad_widget_url", "widget must be an http(s) URL on a loopback host "
                                                  "(localhost, 127.0.0.1 or [::1])")
        widget_url = override
        widget_origin = _origin(widget_url)
    else:
        # As Dynamics: frame the channel provider's landing URL (the solution's web resource,
        # on this origin); it opens the widget on the provider's trusted domain.
        provider = dataverse.local_solution()[1].provider
        widget_url = urljoin(host_origin + "/", provider.channel_url)
        widget_origin = _origin(provider.trusted_domain or "")
    if widget_origin is None:  # a misconfigured public_url; never frame something unknown
        raise ApiError(500, "bad_widget_origin", "the widget origin could not be determined")
    timeout = _timeout_param()
    html = render_template("host.html", widget_url=widget_url, widget_origin=widget_origin,
                           host_origin=host_origin, timeout=f"{timeout:g}" if timeout else "",
                           org_id=config.local_directory.tenant_id, templates=dataverse.templates_json())
    response = page(html, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          f"connect-src 'self'; frame-src 'self' {widget_origin}; base-uri 'none'; "
                          "form-action 'none'; frame-ancestors 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get(LIBRARY_PATH)
def ci_library():
    """The widget loads this cross-origin with a plain <script src>, as from Dynamics."""
    response = static_file(LIBRARY)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/cifhost/static/<path:path>")
def host_static(path: str):
    return static_file(path)
