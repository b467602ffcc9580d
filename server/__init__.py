"""The CIF 2.0 SignalR adaptor's server side: the function handlers and what they need
(auth, settings, store, SignalR client) import no web framework, so the same package
runs on Azure Functions; the local stack's Flask app lives in `server.flask_app`."""

__version__ = "0.1.0"
