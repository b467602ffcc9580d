"""The server's one error base, `ApiError` (an HTTP status, a machine code, a human
message), its kinds, and the JSON body `{"error", "message"}` every one of them becomes —
framework-free: the Flask app, the Azure Functions host and the emulator all render it.

A handler raises an ApiError for a client error (4xx); the kinds below are what the
server's own parts raise when something it relies on fails (5xx), so one `except
ApiError` turns any of them into a response (server/functions/http.py, `dispatch`)."""
from __future__ import annotations


class ApiError(Exception):
    """Status, machine code, human message. `message` is what the caller sees; `detail`
    (default: the message) is what the log gets."""

    def __init__(self, status: int, code: str, message: str, detail: str | None = None):
        super().__init__(detail or message)
        self.status, self.code, self.message = status, code, message
        self.headers: dict[str, str] = {}  # e.g. Retry-After on a 429

    @property
    def body(self) -> dict[str, str]:
        return error_body(self.code, self.message)


class ConfigError(ApiError, ValueError):
    """A setting is missing or malformed; the message names the key (500 `misconfigured`
    when a request meets it, a start-up refusal otherwise)."""

    def __init__(self, message: str):
        super().__init__(500, "misconfigured", message)


class StoreUnavailable(ApiError):
    """The store cannot be reached or written (locked, read-only, down): 503. The caller
    is told to retry; the log gets what went wrong."""

    def __init__(self, detail: str):
        super().__init__(503, "store_unavailable", "The connection store is unavailable; try again shortly.", detail)


class StoreConflict(ApiError):
    """A record with this key exists already (e.g. a reused messageId): 409."""

    def __init__(self, detail: str):
        super().__init__(409, "conflict", "A record with this key exists already.", detail)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}
