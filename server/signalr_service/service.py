"""The emulator's endpoints, as Azure SignalR Service speaks them (serverless mode):
`POST /client/negotiate`, WebSocket `/client/`, REST `/api/v1/hubs/...` and
`POST /api/hubs/{hub}/:generateToken`. REST calls carry a token signed with an access key
(`aud` = the request URL) or, as Azure accepts them, an Entra ID token of the service's
tenant for `https://signalr.azure.com` from a principal holding a SignalR role.

Negotiate answers version 1 (`connectionToken`, the WebSocket's `id=`) when asked for
`negotiateVersion=1` or later, version 0 (`connectionId` is the `id=`) otherwise; a
WebSocket without `id` (clients that skip negotiation after the functions' redirect, as
pysignalr and signalrcore do) gets a new connection. Message types a client sends that
the service does not speak are skipped (docs/signalr-protocol.md)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from adaptor_core import hub_protocol as hp

from .. import upstream as upstream_protocol
from ..auth import TokenValidator
from ..azure_signalr import client_audience, decode_service_token, sign_client_token, token_user_id
from ..errors import ApiError
from ..log import log_event
from .limits import Negotiations, Refused
from .registry import ClientConnection, Registry
from .upstream import Upstream

log = logging.getLogger("signalr")
HANDSHAKE_TIMEOUT = 15
MAX_FRAME = 256 * 1024  # uvicorn drops larger frames (1009); hub records are capped lower
MAX_REST_BODY = 1024 * 1024  # Azure SignalR's REST API: 1 MB a message body
MAX_USER_ID = 1024  # Azure SignalR's REST API takes user ids of 1 to 1024 characters


def _event(name: str, **fields) -> None:
    log_event(log, name, **fields)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


# Data-plane API versions that have :generateToken (Azure answers 400 for others).
GENERATE_TOKEN_API_VERSIONS = ("2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01")
DEFAULT_CLIENT_TOKEN_MINUTES = 60


@dataclass(frozen=True)
class EntraAccess:
    """Who may call the REST API with an Entra ID token: `validator` checks signature,
    issuer/tenant and `aud` = https://signalr.azure.com; `principals` are the object ids
    holding a SignalR role on this resource (what Azure RBAC decides there)."""
    validator: TokenValidator
    principals: frozenset[str]


@dataclass
class ServiceConfig:
    endpoint: str  # how clients and the functions address this service (its public URL)
    keys: list[str]  # primary, secondary AccessKey
    # Browser origins answered on negotiate (CORS), as Azure SignalR's `cors.allowedOrigins`;
    # "*" answers any origin without credentials.
    allowed_origins: tuple[str, ...] = ()
    entra: EntraAccess | None = None
    keepalive: float = 15.0  # seconds without sending before a Ping
    timeout: float = 30.0  # seconds without hearing from a client before it is closed


@dataclass
class Negotiation:
    connection_id: str
    hub: str
    user_id: str


class SignalRService:
    """The emulator. Its REST API answers from construction; clients are taken once
    `start(upstream)` has given it the app server to send their events to."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.upstream: Upstream | None = None
        self.registry = Registry()
        self.negotiations: Negotiations[Negotiation] = Negotiations()
        self._sweeper: asyncio.Task | None = None

    def _upstream(self) -> Upstream:
        if self.upstream is None:
            raise RuntimeError("the emulator takes clients only after start(upstream)")
        return self.upstream

    # --- auth helpers -------------------------------------------------------------
    def _client_claims(self, token: str | None, hub: str) -> dict | None:
        if not token:
            return None
        try:
            claims = decode_service_token(token, self.config.keys, client_audience(self.config.endpoint, hub))
        except jwt.InvalidTokenError:
            return None
        return claims if token_user_id(claims) else None

    @staticmethod
    def _bearer(request: Request | WebSocket) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    @staticmethod
    def _hub(value: str | None) -> str | None:
        return value.lower() if value and value.replace("_", "").isalnum() and len(value) <= 128 else None

    # --- client negotiate -----------------------------------------------------------
    def _cors(self, request: Request, response: Response) -> Response:
        """Browsers negotiate cross-origin. A configured origin is echoed with credentials
        allowed (the JS client sends them); with "*" any origin is answered "*", without
        credentials; `null` and other origins get no CORS headers, so browsers refuse."""
        origin = request.headers.get("origin")
        response.headers["Vary"] = "Origin"
        if origin and origin != "null" and origin in self.config.allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
        elif origin and "*" in self.config.allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS" and "Access-Control-Allow-Origin" in response.headers:
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "access-control-request-headers", "authorization, content-type")
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    async def negotiate(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return self._cors(request, Response(status_code=204))
        return self._cors(request, await self._negotiate(request))

    async def _negotiate(self, request: Request) -> Response:
        hub = self._hub(request.query_params.get("hub"))
        if hub is None:
            return _error(400, "invalid_hub", "The 'hub' query parameter is missing or invalid.")
        requested = request.query_params.get("negotiateVersion", "0")
        if not (requested.isascii() and requested.isdigit()):
            return _error(400, "invalid_negotiate_version", "'negotiateVersion' must be a non-negative integer.")
        claims = self._client_claims(self._bearer(request), hub)
        if claims is None:
            return _error(401, "unauthorized", "A valid client access token for this hub is required.")
        connection_id = uuid.uuid4().hex
        version = min(int(requested), 1)
        # version 1: a secret token is the WebSocket's id; version 0: the connection id is
        key = self.negotiations.add(Negotiation(connection_id, hub, token_user_id(claims) or ""), time.monotonic(),
                                    key=None if version >= 1 else connection_id)
        if isinstance(key, Refused):
            return _error(429, "too_many_negotiations", key.error)
        answer = {"negotiateVersion": version, "connectionId": connection_id}
        if version >= 1:
            answer["connectionToken"] = key
        answer["availableTransports"] = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]
        return JSONResponse(answer)

    # --- WebSocket --------------------------------------------------------------------
    async def websocket(self, websocket: WebSocket) -> None:
        params = websocket.query_params
        hub = self._hub(params.get("hub"))
        # Browsers can't set headers on a WebSocket, so they send access_token in the
        # query; other clients (the JS client under Node) send the Authorization header.
        token = params.get("access_token") or self._bearer(websocket)
        claims = self._client_claims(token, hub or "")
        if "id" in params:
            negotiation = self.negotiations.take(params["id"], time.monotonic())
        elif hub is not None and claims is not None:  # no negotiate: a new connection (transport protocol)
            negotiation = Negotiation(uuid.uuid4().hex, hub, token_user_id(claims) or "")
        else:
            negotiation = None
        if hub is None or claims is None or negotiation is None or negotiation.hub != hub \
                or negotiation.user_id != token_user_id(claims):
            await websocket.close(code=1008)  # before accept: the client sees HTTP 403
            return
        await websocket.accept()
        reader = hp.RecordReader()
        try:
            first = await asyncio.wait_for(self._receive_records(websocket, reader, handshake=True), HANDSHAKE_TIMEOUT)
            request = hp.decode_handshake_request(first[0])
        except (TimeoutError, hp.ProtocolError, WebSocketDisconnect) as exc:
            await self._refuse(websocket, f"Handshake failed: {exc or 'timed out'}")
            return
        if request.protocol != "json" or request.version != 1:
            await self._refuse(websocket, f"The protocol '{request.protocol}' v{request.version} is not supported;"
                                          " this service speaks 'json' v1.")
            return
        query = urlencode([(k, v) for k, v in params.multi_items() if k not in ("access_token", "id")])
        conn = ClientConnection(negotiation.connection_id, hub, negotiation.user_id, websocket,
                                {k: v for k, v in claims.items() if k not in ("aud", "exp", "iat", "nbf")}, query)
        await websocket.send_text(hp.encode_handshake_response())
        self.registry.add(conn)
        _event("connected", connection=conn.connection_id, user=conn.user_id, hub=hub)
        error = None
        # The connected event runs beside the read loop (a slow webhook must not starve the
        # keepalive); invocations and the disconnected event wait for it, keeping the order.
        conn.connected_event = asyncio.get_running_loop().create_task(self._upstream().connected(conn))
        try:
            for record in first[1:]:
                await self._on_record(conn, record)
            while not conn.closed:
                for record in await self._receive_records(websocket, reader):
                    conn.last_received = time.monotonic()
                    await self._on_record(conn, record)
        except WebSocketDisconnect:
            pass
        except _TooManyMessages as exc:
            error = str(exc)
            await self._close(conn, error)
        except hp.ProtocolError as exc:
            error = str(exc)
            await self._close(conn, f"Protocol error: {error}")
        except _ClientClosed as exc:
            error = exc.error
        finally:
            conn.closed = True
            self.registry.remove(conn)
            _event("disconnected", connection=conn.connection_id, user=conn.user_id, error=error)
            if conn.connected_event is not None:
                await conn.connected_event
            await self._upstream().disconnected(conn, error)

    @staticmethod
    async def _receive_records(websocket: WebSocket, reader: hp.RecordReader, handshake: bool = False) -> list[str]:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            text = message.get("text")
            if text is None:  # as ASP.NET Core's transport: a binary frame's bytes are read as well
                try:
                    text = (message.get("bytes") or b"").decode("utf-8")
                except UnicodeDecodeError:
                    raise hp.ProtocolError("a binary frame that is not UTF-8 text") from None
            records = reader.feed(text)
            if records:
                return records

    async def _on_record(self, conn: ClientConnection, record: str) -> None:
        if not conn.inbound.take(time.monotonic()):
            raise _TooManyMessages(f"Too many messages: more than {conn.inbound.burst} at once or "
                                   f"{conn.inbound.rate:g} a second.")
        message = hp.decode(record)
        if isinstance(message, hp.Ping) or isinstance(message, hp.Completion):
            return
        if isinstance(message, hp.Close):
            raise _ClientClosed(message.error)
        if isinstance(message, hp.Unsupported):  # skipped; a StreamInvocation still gets its answer
            if message.invocation_id is not None:
                await conn.send_text(hp.encode(hp.Completion(
                    message.invocation_id, error="Streaming invocations are not supported in serverless mode.")))
            return
        if conn.connected_event is not None:  # the functions hear of the connection before its messages
            await conn.connected_event
        response = await self._upstream().invocation(conn, message.target, message.arguments, message.invocation_id)
        if message.invocation_id is None:
            return
        completion = hp.Completion(message.invocation_id, error="The upstream server is unavailable.")
        if response is not None:
            result, error = upstream_protocol.read_completion(response.status_code, response.content)
            completion = hp.Completion(message.invocation_id, result=result, error=error)
        await conn.send_text(hp.encode(completion))

    @staticmethod
    async def _refuse(websocket: WebSocket, error: str) -> None:
        try:
            await websocket.send_text(hp.encode_handshake_response(error))
            await websocket.close(code=1000)
        except Exception:
            pass

    async def _close(self, conn: ClientConnection, error: str | None, allow_reconnect: bool = False) -> None:
        await conn.send_text(hp.encode(hp.Close(error, allow_reconnect)))
        conn.closed = True
        try:
            await conn.websocket.close(code=1000)
        except Exception:
            pass

    # --- keepalive ----------------------------------------------------------------------
    async def sweep_forever(self) -> None:
        ping = hp.encode(hp.Ping())
        while True:
            await asyncio.sleep(1)
            now = time.monotonic()
            for conn in list(self.registry.by_id.values()):
                if now - conn.last_received > self.config.timeout:
                    _event("timeout", connection=conn.connection_id, user=conn.user_id)
                    # as ASP.NET Core SignalR closes a client that went quiet: it may come back
                    await self._close(conn, "Server timeout elapsed without receiving a message from the client.",
                                      allow_reconnect=True)
                elif now - conn.last_sent >= self.config.keepalive:
                    await conn.send_text(ping)

    def start(self, upstream: Upstream) -> None:
        """Take clients from now on, sending their events through `upstream` (on the running loop)."""
        self.upstream = upstream
        self._sweeper = asyncio.get_running_loop().create_task(self.sweep_forever())

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        for conn in list(self.registry.by_id.values()):
            await self._close(conn, "Server is shutting down.", allow_reconnect=True)

    # --- REST API ----------------------------------------------------------------------
    @staticmethod
    def _raw_path(request: Request) -> str:
        """The path as the caller sent it (percent-escapes kept): `alice%40contoso.com`
        stays so, as in the REST token's audience and in Azure's routing."""
        raw = request.scope.get("raw_path")
        return raw.decode("latin-1") if raw else quote(request.url.path)

    async def _rest_auth(self, request: Request) -> JSONResponse | None:
        token = self._bearer(request) or ""
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except (jwt.InvalidTokenError, ValueError, RecursionError):  # refused below, as no key's token
            alg = None
        if alg == "RS256" and self.config.entra is not None:
            return await self._entra_auth(self.config.entra, token)
        audience = f"{request.url.scheme}://{request.url.netloc}{self._raw_path(request)}"
        try:
            decode_service_token(token, self.config.keys, audience)
        except jwt.InvalidTokenError:
            return _error(401, "unauthorized", "A REST token signed with an access key (aud = this URL), or an "
                                               "Entra ID token for https://signalr.azure.com, is required.")
        return None

    async def _entra_auth(self, entra: EntraAccess, token: str) -> JSONResponse | None:
        try:  # the validator may fetch the authority's keys: not on the event loop
            principal = await asyncio.to_thread(entra.validator.validate, token)
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        if principal.user_id not in entra.principals:
            return _error(403, "forbidden", f"The principal {principal.user_id} has no SignalR role on this resource "
                                            "(assign SignalR App Server or SignalR REST API Owner).")
        return None

    async def _rest_hub(self, request: Request) -> str | Response:
        """The authenticated REST call's hub (lower-case), or the error response."""
        denied = await self._rest_auth(request)
        if denied is not None:
            return denied
        hub = self._hub(request.path_params["hub"])
        return hub if hub is not None else _error(400, "invalid_hub", "Invalid hub name.")

    async def generate_token(self, request: Request) -> Response:
        """`POST /api/hubs/{hub}/:generateToken?api-version=…&userId=…&minutesToExpire=…`
        → `{"token"}`: a client access token made by the service (for app servers
        without an access key)."""
        hub = await self._rest_hub(request)
        if isinstance(hub, Response):
            return hub
        if request.query_params.get("api-version") not in GENERATE_TOKEN_API_VERSIONS:
            return _error(400, "invalid_api_version", f"api-version must be one of {', '.join(GENERATE_TOKEN_API_VERSIONS)}.")
        minutes = request.query_params.get("minutesToExpire", str(DEFAULT_CLIENT_TOKEN_MINUTES))
        if not minutes.isdigit() or not 0 < int(minutes) <= DEFAULT_CLIENT_TOKEN_MINUTES:
            return _error(400, "invalid_minutes", f"minutesToExpire must be 1 to {DEFAULT_CLIENT_TOKEN_MINUTES}.")
        token = sign_client_token(self.config.keys[0], client_audience(self.config.endpoint, hub),
                                  request.query_params.get("userId"), int(minutes) * 60)
        return JSONResponse({"token": token})

    async def _invocation_body(self, request: Request) -> str | JSONResponse:
        raw = bytearray()
        async for chunk in request.stream():  # chunked or not: never more than the limit in memory
            raw += chunk
            if len(raw) > MAX_REST_BODY:
                return _error(413, "payload_too_large", "A REST message body may be at most 1 MB.")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "malformed_json", "The body must be JSON: {\"target\", \"arguments\"}.")
        if not isinstance(body, dict) or not isinstance(body.get("target"), str) or not body["target"] \
                or not isinstance(body.get("arguments", []), list):
            return _error(400, "invalid_message", "The body needs 'target' (string) and 'arguments' (array).")
        return hp.encode(hp.Invocation(body["target"], body.get("arguments", [])))

    async def rest(self, request: Request) -> Response:
        hub = await self._rest_hub(request)
        if isinstance(hub, Response):
            return hub
        kind, ident = request.path_params.get("kind"), ""
        if kind is not None:
            segments = self._raw_path(request).split("/")  # ['', 'api', 'v1', 'hubs', hub, kind, ident]
            if len(segments) != 7:
                return _error(404, "not_found", "Unknown REST resource.")
            try:
                ident = unquote(segments[6], errors="strict")
            except UnicodeDecodeError:
                return _error(400, "invalid_path", "The path is not percent-encoded UTF-8.")
            if kind == "users" and not 1 <= len(ident) <= MAX_USER_ID:
                return _error(400, "invalid_user_id", f"A user id is 1 to {MAX_USER_ID} characters.")
        if kind is None:
            targets = self.registry.for_hub(hub)
        elif kind == "users":
            targets = self.registry.for_user(hub, ident)
        elif kind == "connections":
            conn = self.registry.get(hub, ident)
            targets = [conn] if conn else []
        else:
            return _error(404, "not_found", "Unknown REST resource.")
        if request.method in ("HEAD", "GET") and kind is not None:
            return Response(status_code=200 if targets else 404)
        if request.method == "DELETE" and kind == "connections":
            for conn in targets:
                await self._close(conn, request.query_params.get("reason"))
            return Response(status_code=200 if targets else 404)
        if request.method != "POST":
            return _error(405, "method_not_allowed", "Method not allowed here.")
        frame = await self._invocation_body(request)
        if isinstance(frame, JSONResponse):
            return frame
        await asyncio.gather(*(c.send_text(frame) for c in targets))
        return Response(status_code=202)

    def routes(self) -> list:
        return [
            Route("/client/negotiate", self.negotiate, methods=["POST", "OPTIONS"]),
            WebSocketRoute("/client/", self.websocket),
            Route("/api/hubs/{hub}/:generateToken", self.generate_token, methods=["POST"]),
            Route("/api/v1/hubs/{hub}", self.rest, methods=["POST"]),
            Route("/api/v1/hubs/{hub}/{kind}/{ident:path}", self.rest, methods=["POST", "HEAD", "GET", "DELETE"]),
        ]


class _TooManyMessages(hp.ProtocolError):
    """A client over its message rate (server/signalr_service/limits.py): closed with this reason."""


class _ClientClosed(Exception):
    def __init__(self, error: str | None):
        super().__init__(error)
        self.error = error

