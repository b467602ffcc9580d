"""The local stack's Flask app: the app factory (one blueprint per concern) and JSON
error handlers, so browsers and scripts never see an HTML error page."""
from __future__ import annotations

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .config import Config
from .errors import ApiError, error_body
from .functions.handlers import Functions
from .jsonbody import MAX_BODY


def create_app(config: Config, functions: Functions) -> Flask:
    """The Flask app of the local stack, around handlers built already (server/stack.py).
    The dev console and the local identity provider are registered only on an all-local
    stack (server/local_only.py)."""
    from .blueprints import functions_routes, health, widget
    from .cifhost import host as cifhost
    from .console import views as console
    from .idp import provider
    from .idp.grants import GrantStore

    app = Flask("server", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY  # bodies over 64 KiB are 413 (docs/functions-api.md)
    app.extensions["config"] = config
    app.extensions["functions"] = functions

    app.register_blueprint(health.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(functions_routes.bp)
    app.register_blueprint(cifhost.bp)  # the local CIF host (/)
    if config.local_stand_ins:  # never beside real Azure/Entra ID; loopback clients only (server/local_only.py)
        app.register_blueprint(console.bp)
        provider.init_app(app, config.local_directory, GrantStore(config.settings.state_dir / "identity.db"),
                          config.identity_header)
    register_error_handlers(app)
    return app


def error_response(status: int, code: str, message: str):
    return jsonify(error_body(code, message)), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(exc.body), exc.status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return error_response(413, "body_too_large", f"The body is larger than the limit of {limit:,} bytes.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)
