"""The error every handler raises for a client error, and its JSON body
`{"error", "message"}` (framework-free: Flask and Azure Functions both render it)."""
from __future__ import annotations


class ApiError(Exception):
    """Raised by handlers for a client error: status, machine code, human message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @property
    def body(self) -> dict[str, str]:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}
