"""Outbound HTTPS for the server: trusts the system CAs plus the local dev CA, and never
reads proxy or CA-bundle variables from the environment (docs/identity.md: they override verify=)."""
from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import httpx


def tls_context(dev_ca: Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certifi.where())
    if dev_ca is not None and dev_ca.exists():
        ctx.load_verify_locations(cafile=str(dev_ca))
    return ctx


def make_client(dev_ca: Path | None, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(verify=tls_context(dev_ca), trust_env=False, timeout=timeout,
                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))


def make_async_client(dev_ca: Path | None, timeout: float = 10.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=tls_context(dev_ca), trust_env=False, timeout=timeout,
                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
