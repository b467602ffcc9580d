"""Fuzz properties (hypothesis): the parsers that meet untrusted input raise only their own
error type — ProtocolError for the hub protocol (so the service answers with a Close and
the widget reconnects), ApiError for the functions (so a client gets a 4xx JSON body,
never a 500).

tests/test_fuzz.py runs each property with 2,000 examples; bench/fuzz.py with
≥ 100,000."""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from adaptor_core import hub_protocol as hp
from server.auth import Principal
from server.azure_signalr import ConnectionString
from server.config import Config
from server.errors import ApiError
from server.functions.handlers import Functions
from server.functions.http import FunctionRequest, Headers, field_ci, want_str
from server.settings import Settings
from server.store.memory import MemoryStore

# Hypothesis keeps caches in ./.hypothesis by default; keep the work tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cif-adaptor-hypothesis")
FIELD_NAMES = ["userId", "USERID", "userid", "message", "Message", "messageId", "MessageID", "ttlSeconds",
               "TTLSECONDS", "PhoneNumber", "phonenumber", "comments", "interactionId", "mediaType",
               "connectionId", "ConnectionId", "connectionStatus", "ConnctionStatus", "type", "target",
               "arguments", "invocationId", "error", "result", "allowReconnect", "protocol", "version"]

# --- strategies ------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**66, max_value=2**66) | st.text(max_size=12)
           | st.sampled_from([0.5, -0.0, 1e308, float("inf"), float("nan"), "json", "Accepted", "", "+15551234567"]))
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(keys, inner, max_size=3), max_leaves=6)
json_objects = st.dictionaries(keys, json_values, max_size=5)
hub_objects = st.fixed_dictionaries({}, optional={
    "type": st.integers(min_value=-1, max_value=10) | st.booleans() | st.text(max_size=3) | st.none(),
    "target": st.text(max_size=12) | json_values, "arguments": json_values,
    "invocationId": st.text(max_size=8) | json_values, "error": st.text(max_size=12) | json_values,
    "result": json_values, "allowReconnect": json_values,
    "protocol": st.sampled_from(["json", "messagepack"]) | json_values,
    "version": st.integers(min_value=-1, max_value=3) | json_values})


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


protocol_tokens = st.sampled_from(list('{}[]":,\x1e 01tfn-.e\\') + ['"type"', '"target"', '"arguments"', "\u00e9",
                                                                       "\ud7ff", "true", "null", "1e999"])
protocol_text = st.lists(protocol_tokens, max_size=30).map("".join)
record_text = hub_objects.map(_dumps) | protocol_text | st.text(max_size=40)
stream_chunks = st.lists(st.one_of(record_text, record_text.map(lambda s: s + hp.RS), st.just(hp.RS)), max_size=4)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                                 "text/plain", "", "application/x-www-form-urlencoded"]) | st.text(max_size=20)
bodies = (st.binary(max_size=100) | json_values.map(lambda v: _dumps(v).encode())
          | json_objects.map(lambda v: _dumps(v).encode()) | st.text(max_size=60).map(str.encode))
send_bodies = st.fixed_dictionaries({}, optional={
    "userId": json_values, "message": json_values | st.dictionaries(keys, json_values).map(_dumps),
    "messageId": json_values | st.text(alphabet="abZ09._:-/ ", min_size=1, max_size=130),
    "ttlSeconds": json_values | st.integers(min_value=-5, max_value=90_000)}).map(lambda v: _dumps(v).encode())
userclient_bodies = st.fixed_dictionaries({}, optional={
    "connectionId": json_values, "connectionStatus": json_values, "ConnctionStatus": json_values,
    "userId": json_values}).map(lambda v: _dumps(v).encode())


# --- stand-ins so the handlers run without a network or a disk -------------------------

class _Validator:
    def validate(self, token: str) -> Principal:
        return Principal("user-1", {"oid": "user-1", "roles": ["Notifications.Send"], "scp": "access_as_user"})


class _SignalR:
    def user_exists(self, hub: str, user_id: str) -> bool: return True
    def connection_exists(self, hub: str, connection_id: str) -> bool: return True
    def send_to_user(self, hub: str, user_id: str, target: str, arguments: list) -> None: ...
    def send_to_connection(self, hub: str, connection_id: str, target: str, arguments: list) -> None: ...


def _functions() -> Functions:
    config = Config(Settings(state_dir=Path(tempfile.gettempdir())), "https://login.test/t", "x",
                    "api://x/access_as_user", ("x",), ConnectionString("https://svc.test", "k" * 32), ("k" * 32,), None)
    return Functions(config, _Validator(), MemoryStore(), _SignalR())  # type: ignore[arg-type]


def _request(body: bytes, content_type: str = "application/json") -> FunctionRequest:
    return FunctionRequest("POST", "https://fn.test/api/x",
                           Headers({"Content-Type": content_type, "Authorization": "Bearer t"}), body=body)


# --- the properties: each returns normally or raises only the allowed error -------------

def check_hub_stream(chunks: list[str]) -> None:
    reader = hp.RecordReader()
    for chunk in chunks:
        try:
            records = reader.feed(chunk)
        except hp.ProtocolError:
            return
        for record in records:
            for decode in (hp.decode, hp.decode_handshake_request, hp.decode_handshake_response):
                try:
                    decode(record)
                except hp.ProtocolError:
                    pass


def check_hub_record(obj: dict) -> None:
    record = _dumps(obj)
    for decode in (hp.decode, hp.decode_handshake_request, hp.decode_handshake_response):
        try:
            message = decode(record)
        except hp.ProtocolError:
            continue
        if isinstance(message, (hp.Invocation, hp.Completion, hp.Ping, hp.Close)):  # hp.decode's, not Unsupported
            hp.decode(hp.encode(message).rstrip(hp.RS))  # what we decode we can encode and read back


def check_json_object(case: tuple[bytes, str]) -> None:
    body, content_type = case
    try:
        value = _request(body, content_type).json_object()
    except ApiError:
        return
    assert isinstance(value, dict)


def check_field_helpers(case: tuple[dict, list[str], dict]) -> None:
    obj, names, options = case
    value = field_ci(obj, *names) if names else None
    try:
        out = want_str(value, "field", **options)
    except ApiError:
        return
    assert out is None or isinstance(out, str)


def check_parse_payload(value: Any) -> None:
    try:
        out = Functions._parse_payload(value)
    except ApiError:
        return
    assert isinstance(out, dict)


def _refused_or_answered(handler: str, body: bytes, status: int) -> None:
    """A function either refuses the body with a 4xx or answers with `status`."""
    try:
        response = getattr(_functions(), handler)(_request(body))
    except ApiError as exc:
        assert 400 <= exc.status < 500
        return
    assert response.status == status


def check_send_message(body: bytes) -> None:
    _refused_or_answered("SendMessageToUser", body, 202)


def check_userclient(body: bytes) -> None:
    _refused_or_answered("userclient", body, 200)


PROPERTIES: dict[str, tuple[st.SearchStrategy, Callable[[Any], None]]] = {
    "hub_stream": (stream_chunks, check_hub_stream),
    "hub_record": (hub_objects, check_hub_record),
    "json_object": (st.tuples(bodies, content_types), check_json_object),
    "field_helpers": (st.tuples(json_objects, st.lists(st.sampled_from(FIELD_NAMES) | st.text(max_size=8),
                                                       max_size=3),
                                st.fixed_dictionaries({"required": st.booleans(),
                                                       "max_len": st.integers(0, 300),
                                                       "allow_empty": st.booleans()})), check_field_helpers),
    "parse_payload": (json_values | st.dictionaries(keys, json_values).map(_dumps) | json_objects,
                      check_parse_payload),
    "send_message_body": (send_bodies | bodies, check_send_message),
    "userclient_body": (userclient_bodies | bodies, check_userclient),
}


def property_test(name: str, examples: int, check: Callable[[Any], None] | None = None):
    """A runnable hypothesis test of one property (no example database: nothing written)."""
    strategy, default = PROPERTIES[name]
    return settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))(given(strategy)(check or default))


# --- found by reading, kept as a pinned example ------------------------------------------
# json.loads raises RecursionError (not ValueError) on deeply nested arrays/objects; both
# parsers only catch ValueError. A 64 KiB body or hub record is room for ~60,000 levels.
DEEP = "[" * 30_000 + "]" * 30_000  # 60,000 characters: under both 64 KiB limits
