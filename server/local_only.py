"""What only this machine may reach, and only on a local stack: the dev console and the
local identity provider (README, Security).

Both answer loopback peers only, judged on the connection's own address (WSGI REMOTE_ADDR
as the server sets it from the socket, never a header such as X-Forwarded-For), and both
are left out of the app entirely when any setting points at real Azure or Entra ID."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import request

from .errors import ApiError

LOOPBACK_NAMES = {"localhost"}


def is_loopback_host(host: str | None) -> bool:
    """`localhost`, 127.0.0.0/8, ::1 (and ::ffff:127.x); False for names and anything else."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def is_local_peer(peer: str | None, local: str | None) -> bool:
    """A loopback peer, or one whose address is the very address it reached us on (a
    process of this machine calling its own non-loopback address: the kernel routes that
    over loopback, and drops such a source arriving from outside)."""
    if is_loopback_host(peer):
        return True
    if not peer or not local:
        return False
    try:
        return ipaddress.ip_address(peer) == ipaddress.ip_address(local.strip("[]"))
    except ValueError:
        return False


def require_local_peer() -> None:
    """Flask before_request hook: 403 `loopback_only` for a peer that is not this machine."""
    peer = request.environ.get("REMOTE_ADDR")
    if not is_local_peer(peer, request.environ.get("SERVER_NAME")):
        raise ApiError(403, "loopback_only", f"{request.path} answers only clients on this machine (loopback); "
                                             f"not {peer or 'an unknown peer'}. See README, Security.")


def _storage_is_local(connection_string: str) -> bool:
    """Azurite: UseDevelopmentStorage=true, or an explicit TableEndpoint on a loopback host."""
    fields = {}
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        fields[key.strip().lower()] = value.strip()
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        return True
    return is_loopback_host(urlsplit(fields.get("tableendpoint", "")).hostname)


def real_azure_settings(authority: str | None, storage: str | None, signalr_endpoint: str | None) -> list[str]:
    """Names of the settings that point this stack at real Azure or Entra ID (an Authority
    of any kind, storage or a SignalR endpoint off this machine). Empty: a local stack."""
    found = ["Authority"] if authority else []
    if storage and not _storage_is_local(storage):
        found.append("AzureWebJobsStorage")
    if signalr_endpoint and not is_loopback_host(urlsplit(signalr_endpoint).hostname):
        found.append("AzureSignalRConnectionString")
    return found
