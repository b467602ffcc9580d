"""Local stack for the CIF 2.0 SignalR adaptor: a Flask app factory, one blueprint per concern."""
from __future__ import annotations

from flask import Flask

from .errors import register_error_handlers
from .settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    from .blueprints import cifhost, functions_routes, health, widget
    from .functions.factory import FunctionsSetup, build_functions
    from .idp import provider
    from .idp.grants import GrantStore
    from .stack import resolve_stack

    settings = settings or Settings.from_environment()
    stack = resolve_stack(settings)
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # SPEC §4: bodies over 64 KiB are 413
    app.extensions["stack"] = stack

    built = build_functions(settings, FunctionsSetup(stack.authority, stack.audiences, stack.api_scope, stack.signalr,
                                                     stack.upstream_keys, stack.functions_key))
    app.extensions["validator"] = built.validator
    app.extensions["store"] = built.store
    app.extensions["functions"] = built.functions
    if stack.signalr.endpoint == settings.public_url:
        # The built-in emulator lives and dies with this process: rows of connections from
        # a previous run (a crash sends no disconnected events) are stale by definition.
        built.store.clear_connections(settings.HubName)

    app.register_blueprint(health.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(functions_routes.bp)
    app.register_blueprint(cifhost.bp)  # the local CIF host (/)
    if stack.local_stand_ins:  # never beside real Azure/Entra ID; loopback clients only (server/local_only.py)
        app.register_blueprint(cifhost.console_bp)
        provider.init_app(app, stack.directory, GrantStore(settings.state_dir / "identity.db"))
    register_error_handlers(app)
    return app
