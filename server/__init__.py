"""Local stack for the CIF 2.0 SignalR adaptor: a Flask app factory, one blueprint per concern."""
from __future__ import annotations

from flask import Flask

from .errors import register_error_handlers
from .settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = settings or Settings.from_environment()
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # SPEC §4: bodies over 64 KiB are 413

    from .blueprints import health, widget

    app.register_blueprint(health.bp)
    app.register_blueprint(widget.bp)
    register_error_handlers(app)
    return app
