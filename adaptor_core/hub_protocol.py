"""SignalR JSON hub protocol codec (sans-IO): text in, message objects out, and back.

Records end with the record separator 0x1E. The first record on a connection is the
handshake; after it come typed messages (1 Invocation, 3 Completion, 6 Ping, 7 Close).
Streaming (2, 4, 5), stateful reconnect (8, 9) and any type number the protocol adds
later decode to `Unsupported`: the protocol reserves new types and a peer ignores those
it does not know (the official JS client logs and skips them), so one such record never
costs the records around it. Reference: aspnetcore's HubProtocol.md (docs/signalr-protocol.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import AdaptorError

RS = "\x1e"
# Longer records are refused. One limit holds end to end: the functions take request
# bodies of at most 64 KiB (UTF-8), and JSON-escaping grows text at most threefold (a
# 2-byte é becomes \u00e9, a 4-byte emoji a 12-character surrogate pair), so every
# notification the functions accept fits in one record here, whichever way the service
# encodes it (docs/signalr-protocol.md, "Sizes").
MAX_RECORD = 256 * 1024


class ProtocolError(AdaptorError):
    """A frame that breaks the protocol; the connection must be closed with this message."""

    code = "protocol_error"


@dataclass(frozen=True)
class HandshakeRequest:
    protocol: str
    version: int


@dataclass(frozen=True)
class HandshakeResponse:
    error: str | None = None


@dataclass(frozen=True)
class Invocation:
    target: str
    arguments: list = field(default_factory=list)
    invocation_id: str | None = None


@dataclass(frozen=True)
class Completion:
    invocation_id: str
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Close:
    error: str | None = None
    allow_reconnect: bool = False


@dataclass(frozen=True)
class Unsupported:
    """A message this side does not speak: streaming (2, 4, 5), stateful reconnect (8, 9)
    or a type added to the protocol later. Ignored by the receiver; `invocation_id` is kept
    so a StreamInvocation (4), which awaits an answer, can be given an error Completion."""
    type: int
    invocation_id: str | None = None


Message = Invocation | Completion | Ping | Close | Unsupported

TYPE_OF = {Invocation: 1, Completion: 3, Ping: 6, Close: 7}


def _record(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":")) + RS  # ASCII: any str can be sent, lone surrogates too


def encode_handshake_request(protocol: str = "json", version: int = 1) -> str:
    return _record({"protocol": protocol, "version": version})


def encode_handshake_response(error: str | None = None) -> str:
    return _record({"error": error} if error else {})


def encode(message: Message) -> str:
    if isinstance(message, Invocation):
        obj = {"type": 1, "target": message.target, "arguments": list(message.arguments)}
        if message.invocation_id is not None:
            obj["invocationId"] = message.invocation_id
    elif isinstance(message, Completion):
        obj = {"type": 3, "invocationId": message.invocation_id}
        if message.error is not None:
            obj["error"] = message.error
        elif message.result is not None:
            obj["result"] = message.result
    elif isinstance(message, Ping):
        obj = {"type": 6}
    elif isinstance(message, Close):
        obj = {"type": 7}
        if message.error:
            obj["error"] = message.error
        if message.allow_reconnect:
            obj["allowReconnect"] = True
    else:
        raise TypeError(f"cannot encode {message!r}")
    return _record(obj)


class RecordReader:
    """Splits a text stream into records; a record may span several WebSocket frames."""

    def __init__(self, max_record: int = MAX_RECORD):
        self._buffer = ""
        self._max = max_record

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        *records, self._buffer = self._buffer.split(RS)
        if len(self._buffer) > self._max or any(len(r) > self._max for r in records):
            raise ProtocolError(f"record larger than {self._max} characters")
        return records


def _load(record: str) -> dict:
    try:
        obj = json.loads(record)
    except ValueError as exc:
        raise ProtocolError(f"malformed JSON record: {getattr(exc, 'msg', exc)}") from None
    except RecursionError:  # thousands of nested [ or {: valid JSON, but not a hub message
        raise ProtocolError("JSON record nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a record must be a JSON object")
    return obj


def decode_handshake_request(record: str) -> HandshakeRequest:
    obj = _load(record)
    protocol, version = obj.get("protocol"), obj.get("version")
    if not isinstance(protocol, str) or not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError("handshake needs 'protocol' (string) and 'version' (integer)")
    return HandshakeRequest(protocol, version)


def decode_handshake_response(record: str) -> HandshakeResponse:
    obj = _load(record)
    error = obj.get("error")
    if error is not None and not isinstance(error, str):
        raise ProtocolError("handshake 'error' must be a string")
    return HandshakeResponse(error)


def _opt_str(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string")
    return value


def decode(record: str) -> Message:
    obj = _load(record)
    kind = obj.get("type")
    if isinstance(kind, bool) or not isinstance(kind, int):  # JSON true == 1 in Python
        raise ProtocolError(f"unknown message type {kind!r}")
    if kind == 1:
        target, arguments = obj.get("target"), obj.get("arguments", [])
        if not isinstance(target, str) or not target:
            raise ProtocolError("invocation needs a 'target' string")
        if not isinstance(arguments, list):
            raise ProtocolError("invocation 'arguments' must be an array")
        return Invocation(target, arguments, _opt_str(obj, "invocationId"))
    if kind == 3:
        invocation_id = _opt_str(obj, "invocationId")
        if not invocation_id:
            raise ProtocolError("completion needs an 'invocationId'")
        return Completion(invocation_id, obj.get("result"), _opt_str(obj, "error"))
    if kind == 6:
        return Ping()
    if kind == 7:
        return Close(_opt_str(obj, "error"), obj.get("allowReconnect") is True)
    invocation_id = obj.get("invocationId") if kind == 4 else None
    return Unsupported(kind, invocation_id if isinstance(invocation_id, str) and invocation_id else None)
