"""The local stack in this process, for handler tests without sockets: the stack built by
its composition root (server/stack.py), its ASGI lifespan running on a loop thread (the
emulator takes REST calls there, as when served), tokens from its own identity provider's
endpoints (through ASGI), and handlers built on a fresh store for each call.

    with InProcess(tmp_path) as local:
        response = local.call("SendMessageToUser", token=local.tokens["sender"], body={...})
"""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx

from server.auth import TokenValidator
from server.functions.handlers import Functions
from server.functions.http import FunctionRequest, FunctionResponse, Headers, dispatch
from server.store.memory import MemoryStore

from .server import local_stack
from .tenant import Tenant, agent_tokens, sender_token


class InProcess:
    def __init__(self, state_dir: Path, **settings: str):
        self.stack = local_stack(state_dir, **settings)
        self.config = self.stack.config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="inprocess-loop", daemon=True)
        self._lifespan: Any = None
        # The authority's metadata and keys, read from the provider in this process.
        self.validator = TokenValidator(self.config.authority, self.config.audiences,
                                        httpx.Client(transport=httpx.WSGITransport(app=self.stack.flask_app)),
                                        tenant_id=self.config.tenant_id)
        self.tokens: dict[str, str] = {}

    def _run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> InProcess:
        self._thread.start()
        app = self.stack.asgi_app
        self._lifespan = app.router.lifespan_context(app)
        self._run(self._lifespan.__aenter__())
        self.tokens = self._run(self._sign_in())
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._run(self._lifespan.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self.stack.functions.store.close()

    async def _sign_in(self) -> dict[str, str]:
        """alice's, bob's and the sender's access tokens, from the provider's real endpoints."""
        directory = self.config.local_directory
        tenant = Tenant(self.config.public_url, directory.tenant_id, directory.api_client_id,
                        directory.sender.client_id, directory.sender.client_secret)
        transport = httpx.ASGITransport(app=self.stack.asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url=self.config.public_url) as http:
            tokens = await agent_tokens(http, tenant, ["alice", "bob"], concurrency=1)
            tokens["sender"] = await sender_token(http, tenant)
        return tokens

    def oid(self, username: str) -> str:
        return self.config.local_directory.users[username].oid

    def functions(self) -> Functions:
        """The handlers on a fresh, empty store (the stack's service and token check)."""
        return Functions(self.config, self.validator, MemoryStore(), self.stack.functions.signalr)

    def call(self, handler: str, method: str = "POST", token: str | None = None, body: Any = None,
             raw: bytes | None = None, content_type: str = "application/json", headers: dict | None = None,
             query: dict | None = None, route: dict | None = None,
             functions: Functions | None = None) -> FunctionResponse:
        """One handler call as either host makes it (`dispatch`), on `functions` or a fresh store."""
        all_headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {}),
                       **(headers or {})}
        payload = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        request = FunctionRequest(method, f"{self.config.public_url}/api/{handler}", Headers(all_headers),
                                  query=query or {}, body=payload, route=route or {})
        fns = functions or self.functions()
        return dispatch(lambda: getattr(fns, handler)(request))
