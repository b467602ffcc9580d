"""GET /healthz — liveness for people, scripts and tests."""
from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    from .. import __version__

    return jsonify(status="ok", version=__version__)
