"""The local stack's Flask app: the app factory (one blueprint per concern) and JSON
error handlers, so browsers and scripts never see an HTML error page."""
from __future__ import annotations

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .errors import ApiError, error_body
from .settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from .blueprints import functions_routes, health, widget
    from .cifhost import host as cifhost
    from .functions.factory import FunctionsSetup, build_functions
    from .idp import provider
    from .idp.grants import GrantStore
    from .config import resolve_stack

    settings = settings or Settings.from_environment()
    stack = resolve_stack(settings)
    app = Flask("server", static_folder=None)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # SPEC §4: bodies over 64 KiB are 413
    app.extensions["stack"] = stack

    built = build_functions(settings, FunctionsSetup(stack.authority, stack.audiences, stack.api_scope, stack.signalr,
                                                     stack.upstream_keys, stack.functions_key, stack.tenant_id))
    app.extensions["validator"] = built.validator
    app.extensions["store"] = built.store
    app.extensions["functions"] = built.functions
    if stack.local_signalr:
        # The built-in emulator lives and dies with this process: rows of connections from
        # a previous run (a crash sends no disconnected events) are stale by definition.
        built.store.clear_connections(settings.HubName)

    app.register_blueprint(health.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(functions_routes.bp)
    app.register_blueprint(cifhost.bp)  # the local CIF host (/)
    if stack.local_stand_ins:  # never beside real Azure/Entra ID; loopback clients only (server/local_only.py)
        app.register_blueprint(cifhost.console_bp)
        provider.init_app(app, stack.directory, GrantStore(settings.state_dir / "identity.db"), stack.identity_header)
    register_error_handlers(app)
    return app


def error_response(status: int, code: str, message: str):
    return jsonify(error_body(code, message)), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return error_response(413, "body_too_large", f"The body is larger than the limit of {limit:,} bytes.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)
