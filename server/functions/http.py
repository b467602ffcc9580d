"""Our own request/response objects, so the handlers don't know which host called them
(Flask locally, Azure Functions in production), JSON body helpers, and `dispatch`, the
one place where a handler's errors become responses for both hosts."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from adaptor_core.text import is_well_formed, well_formed

from ..errors import ApiError, error_body
from ..settings import ConfigError
from ..store import StoreUnavailable

log = logging.getLogger("functions")

MAX_BODY = 64 * 1024  # the one size limit of a notification (adaptor_core.hub_protocol.MAX_RECORD)
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only a \uD800-\uDFFF escape can make a lone surrogate


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
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a 413/415/400 ApiError."""
        if len(self.body) > MAX_BODY:
            raise ApiError(413, "body_too_large", f"The body is {len(self.body):,} bytes; the limit is "
                                                  f"{MAX_BODY:,} bytes (64 KiB).")
        if self.mimetype != "application/json":
            raise ApiError(415, "unsupported_media_type", "Send the body as Content-Type: application/json.")
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, "malformed_json", f"The body is not valid JSON: {exc}.") from None
        except RecursionError:
            raise ApiError(400, "malformed_json", "The body is nested too deeply.") from None
        if not isinstance(value, dict):
            raise ApiError(400, "malformed_json", "The body must be a JSON object.")
        if SURROGATE_ESCAPE.search(self.body.decode("utf-8")):
            require_sendable(value)
        return value


def require_sendable(value: Any, prefix: str = "") -> None:
    """A 400 naming the first string of a parsed JSON value (key or value) that cannot be
    encoded as UTF-8, so could be sent on to no service, store or browser unchanged."""
    where = unsendable_text(value)
    if where is not None:
        where = f"{prefix}.{where}" if prefix and where != "(body)" else prefix or where
        raise ApiError(400, "invalid_text", f"'{where}' is not valid Unicode: it holds a lone UTF-16 surrogate "
                                            "(a \\uD800-\\uDFFF escape without its pair), which cannot be sent "
                                            "on as UTF-8. Send well-formed text.")


def unsendable_text(value: Any) -> str | None:
    """The path (`message.comments`, `a[2]`, a key) of the first string in a parsed JSON
    value, key or value, that cannot be encoded as UTF-8; None when all can."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:  # iterative: bodies may nest deeply
        item, path = pending.pop()
        if isinstance(item, str):
            if not is_well_formed(item):
                return path or "(body)"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                child_path = f"{path}.{well_formed(key)}" if path else well_formed(key)
                if not is_well_formed(key):
                    return f"{child_path} (a key)"
                pending.append((child, child_path))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(item))))
    return None


@dataclass
class FunctionResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def field_ci(obj: Mapping[str, Any], *names: str) -> Any:
    """Field lookup ignoring case (SPEC §4); the first of `names` present wins."""
    lowered = {k.lower(): v for k, v in obj.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def want_str(value: Any, name: str, *, required: bool = True, max_len: int = 256,
             allow_empty: bool = False) -> str | None:
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
    A client error (ApiError) is its own status with `{"error", "message"}`; a store
    outage is 503 `store_unavailable`; a missing or malformed app setting (also while the
    handlers are built) is 500 `misconfigured` naming the setting."""
    try:
        return call()
    except ApiError as exc:
        return FunctionResponse(exc.status, exc.body)
    except StoreUnavailable as exc:
        log.warning("store unavailable: %s", exc)
        return FunctionResponse(503, error_body("store_unavailable",
                                                "The connection store is unavailable; try again shortly."))
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return FunctionResponse(500, error_body("misconfigured", str(exc)))
