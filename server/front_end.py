"""What Azure's front ends do before a request reaches the functions or the SignalR
service, done here for the local stack: response headers for browsers (HSTS, a
Referrer-Policy) on every answer."""
from __future__ import annotations

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
