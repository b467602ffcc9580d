"""What Azure's front ends do before a request reaches the functions or the SignalR
service, done here for the local stack: a bounded request head (414, 431) and response
headers for browsers (HSTS, a Referrer-Policy) on every answer."""
from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .errors import ApiError

# Kestrel's defaults (the Azure Functions host): request line 8 KB (414 past it), all
# headers 32 KB and 100 of them (431); Azure SignalR takes one header of at most 16 KB.
MAX_REQUEST_LINE = 8 * 1024
MAX_HEADERS_SIZE = 32 * 1024
MAX_HEADER_COUNT = 100
MAX_HEADER_FIELD = 16 * 1024
ERROR_CODES = {414: "uri_too_long", 431: "request_header_fields_too_large"}
MAX_HEAD = MAX_REQUEST_LINE + MAX_HEADERS_SIZE + 2 * (MAX_HEADER_COUNT + 2)  # + CRLFs: a head never larger

HSTS = (b"strict-transport-security", b"max-age=31536000")  # one year: the usual value
REFERRER_POLICY = (b"referrer-policy", b"same-origin")  # our URLs (tokens, ids in queries) stay with us


class SecurityHeaders:
    """ASGI middleware: HSTS and Referrer-Policy on every HTTP response that doesn't set
    its own. No HSTS to the host name `localhost`: HSTS binds a host, not a port, so it
    would force https onto every other local server of that browser for a year (browsers
    ignore it on IP addresses such as 127.0.0.1 anyway)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = dict(scope["headers"]).get(b"host", b"").rsplit(b":", 1)[0].lower()
        extra = [REFERRER_POLICY] + ([HSTS] if host != b"localhost" else [])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", [])) + [h for h in extra if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadTooLarge(ApiError):
    """A request head past a bound: 431 or 414 with the code ERROR_CODES names."""

    def __init__(self, status: int, message: str):
        super().__init__(status, ERROR_CODES[status], message)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request head bounded as above. httptools
    buffers a header of any size and any number of them; this counts what arrives and
    answers 414/431 (JSON `{"error", "message"}`, connection closed) once a bound is
    passed, before the rest is read. WebSocket upgrades are HTTP requests here too."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._in_head, self._head_bytes = True, 0
        self._refusal: HeadTooLarge | None = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._header_count, self._headers_size = True, 0, 0, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_REQUEST_LINE:
            self._refuse_in_parser(414, f"The request target is longer than {MAX_REQUEST_LINE} bytes.")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._headers_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count > MAX_HEADER_COUNT:
            self._refuse_in_parser(431, f"The request has more than {MAX_HEADER_COUNT} headers.")
        if len(name) + len(value) > MAX_HEADER_FIELD:
            shown = name[:40].decode("latin-1")
            self._refuse_in_parser(431, f"The header '{shown}' is longer than {MAX_HEADER_FIELD} bytes.")
        if self._headers_size > MAX_HEADERS_SIZE:
            self._refuse_in_parser(431, f"The request headers are larger than {MAX_HEADERS_SIZE} bytes.")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # a refusal raised in a parser callback ends in send_400_response
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:  # one header still arriving: httptools shows it only when whole
                self._refusal = HeadTooLarge(431, f"The request head is larger than {MAX_HEAD} bytes.")
                self.send_400_response("")

    def _refuse_in_parser(self, status: int, message: str) -> None:
        refusal = self._refusal = HeadTooLarge(status, message)
        raise refusal  # httptools stops parsing; uvicorn answers through send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            return super().send_400_response(msg)
        status = self._refusal.status
        body = json.dumps(self._refusal.body).encode()
        head = [STATUS_LINE[status]] + [b"%s: %s\r\n" % h for h in self.server_state.default_headers]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n", b"\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
