"""Our own request/response objects, so the handlers don't know which host called them
(Flask locally, Azure Functions in production), JSON body helpers, and `dispatch`, the
one place where a handler's errors become responses for both hosts."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, overload

from ..errors import ApiError
from ..jsonbody import json_object, mimetype

log = logging.getLogger("functions")


class Headers:
    """Case-insensitive, read-only view of request headers."""

    def __init__(self, items: Mapping[str, str] | None = None):
        self._items = {k.lower(): v for k, v in (items or {}).items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)


@dataclass
class FunctionRequest:
    method: str
    url: str
    headers: Headers
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    route: Mapping[str, str] = field(default_factory=dict)

    @property
    def mimetype(self) -> str:
        return mimetype(self.headers.get("Content-Type"))

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a 413/415/400 ApiError (server/jsonbody.py)."""
        return json_object(self.body, self.headers.get("Content-Type"))


@dataclass
class FunctionResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def iso(ts: float | None) -> str | None:
    """An instant (Unix seconds) as the API writes times: ISO 8601 UTC with milliseconds; None for none."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds") if ts else None


def field_ci(obj: Mapping[str, Any], *names: str) -> Any:
    """Field lookup ignoring case (docs/functions-api.md); the first of `names` present wins."""
    lowered = {k.lower(): v for k, v in obj.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


@overload
def want_str(value: Any, name: str, *, required: Literal[True] = True, max_len: int = 256,
             allow_empty: bool = False) -> str: ...
@overload
def want_str(value: Any, name: str, *, required: bool, max_len: int = 256, allow_empty: bool = False) -> str | None: ...
def want_str(value: Any, name: str, *, required: bool = True, max_len: int = 256,
             allow_empty: bool = False) -> str | None:
    """`value` as a string field: 400 `missing_field` when required and absent, 422
    `invalid_field` when not a (non-empty, unless allow_empty) string of at most max_len."""
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"'{name}' is required.")
        return None
    if not isinstance(value, str) or not (value.strip() or allow_empty):
        raise ApiError(422, "invalid_field", f"'{name}' must be a {'' if allow_empty else 'non-empty '}string.")
    if len(value) > max_len:
        raise ApiError(422, "invalid_field", f"'{name}' is longer than {max_len} characters.")
    return value


def dispatch(call: Callable[[], FunctionResponse]) -> FunctionResponse:
    """Run one handler call (e.g. `lambda: functions.negotiate(request)`) for either host.
    Any ApiError — a client error, a store outage (503 `store_unavailable`), a missing or
    malformed app setting, also while the handlers are built (500 `misconfigured`) — is
    its own status with `{"error", "message"}`; server-side ones are logged."""
    try:
        return call()
    except ApiError as exc:
        if exc.status >= 500:
            log.warning("%s: %s", exc.code, exc)
        return FunctionResponse(exc.status, exc.body, dict(exc.headers))
