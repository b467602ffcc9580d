"""A local click-to-dial receiver: what a telephony system's webhook does with the dial
requests the functions POST (docs/dial-webhook.md). It listens on loopback only, checks
each request's HMAC-SHA256 signature and timestamp (401 otherwise), prints the dial as one
JSON line, answers 200 — the same dial id twice is acknowledged once more but printed
once — and can ring the agent back with SendMessageToUser, as a phone system that dialled
the number for the agent would.

    with Receiver(secret, port=0, on_dial=print) as receiver:   # receiver.url → DialWebhookUrl
        ...
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address

from server.dial_webhook import DIAL_ID, WebhookRejected, verify

MAX_BODY = 64 * 1024  # the functions' dial bodies are a few hundred bytes
PATH = "/dials"
REMEMBERED = 1000  # dial ids kept to answer a redelivery without a second dial


class Receiver:
    """An HTTP server on a loopback address taking POST /dials; `on_dial(document)` runs
    for each new, correctly signed dial. `received` keeps the documents in order."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 7075,
                 on_dial: Callable[[dict], None] | None = None, clock: Callable[[], float] = time.time):
        if not ip_address(host.strip("[]")).is_loopback:
            raise ValueError(f"the receiver listens on loopback only, not {host}")
        self.secret, self.on_dial, self.clock = secret, on_dial, clock
        self.received: list[dict] = []
        self.rejected: list[str] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:  # noqa: A002  (the stdlib's name)
                pass  # the dials themselves are the output

            def _answer(self, status: int, body: dict) -> None:
                content = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                if self.path != PATH:
                    return self._answer(404, {"error": "not_found", "message": f"POST dial requests to {PATH}."})
                length = self.headers.get("Content-Length") or ""
                if not length.isdigit() or int(length) > MAX_BODY:
                    return self._answer(413, {"error": "body_too_large", "message": f"At most {MAX_BODY} bytes."})
                content = self.rfile.read(int(length))
                try:
                    document = verify(receiver.secret, self.headers, content, receiver.clock())  # type: ignore[arg-type]
                except WebhookRejected as exc:
                    receiver.rejected.append(str(exc))
                    return self._answer(HTTPStatus.UNAUTHORIZED, {"error": "invalid_signature", "message": str(exc)})
                receiver.take(self.headers.get(DIAL_ID) or str(document.get("dialId")), document)
                return self._answer(200, {"received": document.get("dialId")})

        return Handler

    def take(self, dial_id: str, document: dict) -> None:
        with self._lock:
            if dial_id in self._seen:
                return
            self._seen[dial_id] = None
            if len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
            self.received.append(document)
        if self.on_dial is not None:
            self.on_dial(document)

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def __enter__(self) -> Receiver:
        self._thread = threading.Thread(target=self.serve_forever, name="dial-receiver", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)
