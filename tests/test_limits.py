"""Bounds on everything a client controls (README, Security): the request head as Azure's
front ends bound it (414, 431), bodies on the emulator's REST API, pending negotiations
per user and in all, and the token bucket behind the message rate of one WebSocket
connection (its end-to-end test: test_functions_bad_input, a misbehaving connection)."""
from __future__ import annotations

import json
import socket
import ssl
import uuid

import pytest

from server.azure_signalr import ConnectionString
from server.front_end import MAX_HEADER_COUNT, MAX_HEADER_FIELD, MAX_HEADERS_SIZE, MAX_REQUEST_LINE
from server.signalr_service.limits import MAX_PENDING_PER_USER, Negotiations, TokenBucket
from server.signalr_service.service import Negotiation


def raw_request(stack, head: bytes, stream: int = 0) -> tuple[int, dict]:
    """Send a request head over TLS (then `stream` more header bytes in chunks, as long as
    the server reads them) and return the status and JSON body of the answer."""
    ctx = ssl.create_default_context(cafile=str(stack.certs.ca))
    with socket.create_connection(("127.0.0.1", stack.port), timeout=15) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            try:
                tls.sendall(head)
                for _ in range(stream // 65536):
                    tls.sendall(b"a" * 65536)
                if not stream:
                    tls.sendall(b"\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the server answered and closed before we were done: that is the point
            data = b""
            try:
                while chunk := tls.recv(65536):
                    data += chunk
            except (ConnectionResetError, ssl.SSLError):
                pass
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body) if body.startswith(b"{") else {}


def head(path: str = "/healthz", headers: list[tuple[str, str]] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_request_heads_within_the_bounds_are_served(stack):
    assert raw_request(stack, head(headers=[("X-Big", "b" * (MAX_HEADER_FIELD - 10))]))[0] == 200
    assert raw_request(stack, head(headers=[(f"X-H{i}", "v") for i in range(MAX_HEADER_COUNT - 3)]))[0] == 200
    assert raw_request(stack, head("/healthz?" + "q" * (MAX_REQUEST_LINE - 100)))[0] == 200


@pytest.mark.parametrize("request_head,status,needle", [
    (head(headers=[("X-Big", "b" * (MAX_HEADER_FIELD + 1))]), 431, "X-Big"),
    (head(headers=[(f"X-Part{i}", "p" * 12_000) for i in range(3)]), 431, str(MAX_HEADERS_SIZE)),
    (head(headers=[(f"X-H{i}", "v") for i in range(MAX_HEADER_COUNT + 1)]), 431, str(MAX_HEADER_COUNT)),
    (head(headers=[(f"X-H{i}", "v") for i in range(20_000)]), 431, str(MAX_HEADER_COUNT)),
    (head("/healthz?" + "q" * MAX_REQUEST_LINE), 414, str(MAX_REQUEST_LINE)),
    (head("/client/?hub=myhub&id=x&access_token=" + "t" * MAX_REQUEST_LINE), 414, str(MAX_REQUEST_LINE)),
])
def test_oversized_request_heads_are_refused(stack, request_head, status, needle):
    got, body = raw_request(stack, request_head)
    assert got == status and needle in body["message"], (got, body)


def test_a_32_mib_header_is_refused_before_it_is_read(stack):
    got, body = raw_request(stack, head()[:-2] + b"\r\nX-Huge: ", stream=32 * 1024 * 1024)
    assert got == 431 and body["error"] == "request_header_fields_too_large"
    assert raw_request(stack, head())[0] == 200  # and the server is fine


def test_emulator_rest_bodies_over_1_mb_are_413(stack):
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())
    cs = ConnectionString(stack.url, secrets["signalr_primary_key"])
    url = cs.rest_url("myhub", "users", "nobody")
    big = json.dumps({"target": "x", "arguments": ["y" * (1024 * 1024)]})
    for chunked in (False, True):
        data = iter([big.encode()]) if chunked else big
        r = stack.session().post(url, data=data, headers={"Authorization": f"Bearer {cs.rest_token(url)}",
                                                           "Content-Type": "application/json"})
        assert r.status_code == 413 and "1 MB" in r.json()["message"], (chunked, r.status_code)


# --- the emulator: pending negotiations, message rate -------------------------------------------

def test_pending_negotiations_are_bounded_per_user(stack):
    secrets = json.loads((stack.state_dir / "local-secrets.json").read_text())
    cs = ConnectionString(stack.url, secrets["signalr_primary_key"])
    s = stack.session()

    def negotiate(user: str):
        return s.post(f"{stack.url}/client/negotiate?hub=myhub",
                      headers={"Authorization": f"Bearer {cs.client_token('myhub', user)}"})

    user = "flooder-" + uuid.uuid4().hex[:8]
    for _ in range(MAX_PENDING_PER_USER):
        assert negotiate(user).status_code == 200
    r = negotiate(user)
    assert r.status_code == 429 and r.json()["error"] == "too_many_negotiations"
    assert str(MAX_PENDING_PER_USER) in r.json()["message"]
    assert negotiate("bystander-" + uuid.uuid4().hex[:8]).status_code == 200


def test_negotiations_expire_and_are_bounded_in_all():
    pending = Negotiations(lifetime=60, per_user=2, total=3)
    ask = lambda user, now: pending.add(Negotiation(uuid.uuid4().hex, "myhub", user), now)  # noqa: E731
    first = ask("a", 0.0)
    assert isinstance(first, str) and isinstance(ask("a", 1.0), str)
    assert "per user" in ask("a", 2.0).error
    assert isinstance(ask("b", 3.0), str)
    assert "in all" in ask("c", 4.0).error
    assert pending.take(first, 5.0).user_id == "a" and pending.take(first, 5.0) is None  # once only
    assert isinstance(ask("c", 6.0), str)
    token = ask("d", 61.0)  # a's second, made at 1.0, has expired by 61.0
    assert isinstance(token, str) and pending.take(token, 200.0) is None  # expired before taken


def test_token_bucket():
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)  # one back per half second
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # never above the burst
