"""Local stack for the CIF 2.0 SignalR adaptor: a Flask app factory, one blueprint per concern."""
from __future__ import annotations

from flask import Flask

from .errors import register_error_handlers
from .settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    from .auth import TokenValidator
    from .blueprints import functions_routes, health, widget
    from .functions.handlers import Functions, FunctionsConfig
    from .functions.signalr_rest import SignalRRest
    from .http_client import make_client
    from .idp import provider
    from .idp.grants import GrantStore
    from .stack import resolve_stack
    from .store import open_store

    settings = settings or Settings.from_environment()
    stack = resolve_stack(settings)
    app = Flask(__name__, static_folder=None)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # SPEC §4: bodies over 64 KiB are 413
    app.extensions["stack"] = stack

    http = make_client(settings.certs_dir / "ca.pem")
    store = open_store(settings.AzureWebJobsStorage, settings.state_dir, settings.StorageUserTable)
    validator = TokenValidator(stack.authority, stack.audiences, http)
    app.extensions["validator"] = validator
    app.extensions["store"] = store
    app.extensions["functions"] = Functions(
        FunctionsConfig(hub=settings.HubName, api_scope=stack.api_scope, signalr=stack.signalr,
                        upstream_keys=stack.upstream_keys, functions_key=stack.functions_key),
        validator, store, SignalRRest(stack.signalr, http))

    app.register_blueprint(health.bp)
    app.register_blueprint(widget.bp)
    app.register_blueprint(functions_routes.bp)
    provider.init_app(app, stack.directory, GrantStore(settings.state_dir / "identity.db"))
    register_error_handlers(app)
    return app
