"""JSON request bodies as the functions take them (the webhook too): at most 64 KiB,
`Content-Type: application/json`, one JSON object, and no text that cannot be sent on
(a lone UTF-16 surrogate, anywhere). Each refusal is an ApiError naming the rule."""
from __future__ import annotations

import json
import re
from typing import Any

from adaptor_core.text import is_well_formed, well_formed

from .errors import ApiError

MAX_BODY = 64 * 1024  # the one size limit of a notification (adaptor_core.hub_protocol.MAX_RECORD)
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # only a \uD800-\uDFFF escape can make a lone surrogate


def mimetype(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json`."""
    return (content_type or "").split(";")[0].strip().lower()


def json_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The body as a JSON object, or ApiError 413 `body_too_large`, 415
    `unsupported_media_type`, 400 `malformed_json` / `invalid_text`."""
    if len(body) > MAX_BODY:
        raise ApiError(413, "body_too_large", f"The body is {len(body):,} bytes; the limit is "
                                              f"{MAX_BODY:,} bytes (64 KiB).")
    if mimetype(content_type) != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as Content-Type: application/json.")
    try:
        text = body.decode("utf-8")
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "The body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_json", "The body must be a JSON object.")
    if SURROGATE_ESCAPE.search(text):
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
