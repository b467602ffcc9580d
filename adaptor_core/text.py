"""Text that crosses a boundary (sans-IO): is it well-formed Unicode, make it so for
display, and cut it to a byte budget without splitting a character.

JSON may carry a lone UTF-16 surrogate as a legal escape (`"\\ud83d"`); Python decodes
it to a str that cannot be encoded as UTF-8, so it can be neither sent on (HTTP, the
WebSocket, a store) nor handed to the browser unchanged."""
from __future__ import annotations

REPLACEMENT = "\ufffd"


def is_well_formed(text: str) -> bool:
    """True when `text` encodes as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def well_formed(text: str) -> str:
    """`text` with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if is_well_formed(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `well_formed(text)` whose UTF-8 form fits in `max_bytes`
    (e.g. a WebSocket close reason: at most 123 bytes, or `WebSocket.close` throws)."""
    encoded = well_formed(text).encode("utf-8")
    if len(encoded) <= max_bytes:
        return encoded.decode("utf-8")
    return encoded[:max_bytes].decode("utf-8", "ignore")  # drops a character cut in half
