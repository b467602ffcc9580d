"""Entra ID credentials for identity-based Azure SignalR connection strings, built with
azure-identity from the same keys Azure SignalR's own SDK reads:

| connection string | credential |
|---|---|
| `AuthType=azure.msi` | ManagedIdentityCredential() — the app's system-assigned identity |
| `AuthType=azure.msi;ClientId=<id>` | ManagedIdentityCredential(client_id=<id>) — a user-assigned one |
| `AuthType=azure.app;ClientId;TenantId;ClientSecret` | ClientSecretCredential |
| `AuthType=azure` | DefaultAzureCredential |

Tokens are requested for `https://signalr.azure.com/.default` and cached by the credential.
On Azure Functions the managed identity is reached through IDENTITY_ENDPOINT and
IDENTITY_HEADER, which the platform sets."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..azure_signalr import ConnectionString

SIGNALR_SCOPE = "https://signalr.azure.com/.default"


def signalr_credential(connection: ConnectionString, authority: str | None, ca_bundle: Path | None) -> Any:
    """The azure-identity credential for `connection` (identity-based only).

    `authority` is the adaptor's Authority (`https://<host>/<tenant>`): its host is the
    Entra instance ClientSecretCredential signs in at (login.microsoftonline.com on Azure's
    public cloud, the local provider in tests). `ca_bundle` is a PEM file of the CAs to trust
    (the local dev CA beside the system ones), or None for the system ones. Proxy and
    CA-bundle variables of the environment are not read (as in server/http_client.py)."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

    transport: dict[str, Any] = {"use_env_settings": False}
    if ca_bundle is not None:
        transport["connection_verify"] = str(ca_bundle)
    if connection.auth_type == "azure.msi":
        return ManagedIdentityCredential(client_id=connection.client_id, **transport)
    if connection.auth_type == "azure.app":
        if not (connection.tenant_id and connection.client_id and connection.client_secret):
            raise ValueError(f"{connection} lacks TenantId, ClientId or ClientSecret")  # parse() refuses such a string
        host = urlsplit(authority).netloc if authority else None
        extra = {"authority": host, "disable_instance_discovery": True} if host else {}
        return ClientSecretCredential(connection.tenant_id, connection.client_id, connection.client_secret,
                                      **extra, **transport)
    if connection.auth_type == "azure":
        return DefaultAzureCredential(**transport)
    raise ValueError(f"{connection} is not identity-based")
