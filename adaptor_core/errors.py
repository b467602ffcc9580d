"""The widget side's one error base: `AdaptorError`, whose `code` names the kind of
failure (shown by the widget as `data-error` beside the message; the simulated agent
records it). The core's modules and the browser glue raise its subclasses only."""
from __future__ import annotations


class AdaptorError(ValueError):
    """A failure the widget shows or recovers from; `code` is machine-readable, the
    message is for people."""

    code = "adaptor_error"


class NotificationError(AdaptorError):
    """A ReceiveNotification argument that is not a call notification, or a CIF answer
    that is not what CIF documents."""

    code = "bad_notification"
