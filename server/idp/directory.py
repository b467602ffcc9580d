"""The local tenant: seeded agents, the API/widget app, the telephony sender app, the
function app's identities for Azure SignalR (managed identities and an app registration)
and the RS256 signing key. Generated on first run into the state dir and kept (stable oids)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import ConfigError

API_SCOPE_NAME = "access_as_user"
SENDER_ROLE = "Notifications.Send"
SEED_USERS = (("alice", "Alice Agent"), ("bob", "Bob Agent"))
LOAD_USERS_ENV = "ADAPTOR_IDP_LOAD_USERS"  # N extra users for load tests (bench/), never persisted
LOAD_USER_PREFIX = "load"


@dataclass(frozen=True)
class User:
    username: str
    name: str
    oid: str
    listed: bool = True  # shown on the sign-in page (load users are not)

    @property
    def email(self) -> str:
        return f"{self.username}@contoso.test"


@dataclass(frozen=True)
class SenderApp:
    client_id: str
    client_secret: str
    oid: str  # service principal object id: what `oid` carries in app tokens
    roles: tuple[str, ...]


@dataclass(frozen=True)
class ServicePrincipal:
    """An application's identity in the tenant: its tokens carry `appid`/`azp` = client_id
    and `oid` = object id; an app registration also has a secret."""
    client_id: str
    oid: str
    client_secret: str | None = None


@dataclass(frozen=True)
class Directory:
    tenant_id: str
    api_client_id: str  # one registration for the API and the widget (SPA), as in the sample
    users: dict[str, User]
    sender: SenderApp
    private_key: rsa.RSAPrivateKey
    kid: str
    # The function app's identities towards Azure SignalR: its system-assigned managed
    # identity, a user-assigned one, and an app registration (AuthType=azure.msi / azure.app).
    system_identity: ServicePrincipal | None = None
    user_identity: ServicePrincipal | None = None
    signalr_app: ServicePrincipal | None = None

    @property
    def api_scope(self) -> str:
        return f"api://{self.api_client_id}/{API_SCOPE_NAME}"

    @property
    def api_audiences(self) -> tuple[str, ...]:
        return (self.api_client_id, f"api://{self.api_client_id}")

    @property
    def listed_users(self) -> list[User]:
        """The users the sign-in page offers: the seeded ones, not the load users."""
        return [u for u in self.users.values() if u.listed]

    @property
    def signalr_principals(self) -> frozenset[str]:
        """Object ids holding the "SignalR App Server" role on the local SignalR service."""
        return frozenset(p.oid for p in (self.system_identity, self.user_identity, self.signalr_app) if p)

    def confidential_client(self, client_id: str) -> tuple[str, str, tuple[str, ...]] | None:
        """(secret, oid, app roles) of an app registration that may use client credentials."""
        if client_id == self.sender.client_id:
            return self.sender.client_secret, self.sender.oid, self.sender.roles
        if self.signalr_app and client_id == self.signalr_app.client_id:
            return self.signalr_app.client_secret or "", self.signalr_app.oid, ()
        return None

    def user_by_oid(self, oid: str) -> User | None:
        return next((u for u in self.users.values() if u.oid == oid), None)

    def jwks(self) -> dict:
        numbers = self.private_key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                          "n": _b64uint(numbers.n), "e": _b64uint(numbers.e)}]}


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _thumbprint(key: rsa.RSAPrivateKey) -> str:
    """RFC 7638 JWK thumbprint, used as `kid`."""
    n = key.public_key().public_numbers()
    canonical = json.dumps({"e": _b64uint(n.e), "kty": "RSA", "n": _b64uint(n.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def load_users(tenant_id: str, count: int) -> dict[str, User]:
    """`load00001`… with oids derived from the tenant and the name, so every run (and
    every process of a load generator) agrees on them without storing anything."""
    namespace = uuid.UUID(tenant_id)
    users = {}
    for i in range(1, count + 1):
        name = f"{LOAD_USER_PREFIX}{i:05d}"
        users[name] = User(name, f"Load Agent {i:05d}", str(uuid.uuid5(namespace, name)), listed=False)
    return users


def _load_user_count() -> int:
    raw = os.environ.get(LOAD_USERS_ENV, "").strip()
    if not raw:
        return 0
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{LOAD_USERS_ENV} must be a whole number, not {raw!r}") from None
    if not 0 <= count <= 99_999:
        raise ValueError(f"{LOAD_USERS_ENV} must be from 0 to 99999, not {count}")
    return count


def load_directory(state_dir: Path) -> Directory:
    """Load the tenant from state_dir, creating it (keys, secrets, oids) the first time;
    ADAPTOR_IDP_LOAD_USERS=N adds N load users (see `load_users`), kept in memory only."""
    state_dir.mkdir(parents=True, exist_ok=True)
    meta_path, key_path = state_dir / "identity.json", state_dir / "idp-signing-key.pem"
    if not meta_path.exists() or not key_path.exists():
        new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_path.write_bytes(new_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        meta = {
            "tenant_id": str(uuid.uuid4()),
            "api_client_id": str(uuid.uuid4()),
            "users": {name: {"name": display, "oid": str(uuid.uuid4())} for name, display in SEED_USERS},
            "sender": {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(32),
                       "oid": str(uuid.uuid4()), "roles": [SENDER_ROLE]},
        }
        meta_path.write_text(json.dumps(meta, indent=2))
        meta_path.chmod(0o600)
    meta = json.loads(meta_path.read_text())
    if "service_principals" not in meta:  # state dirs from before the SignalR identities existed
        meta["service_principals"] = {
            name: {"client_id": str(uuid.uuid4()), "oid": str(uuid.uuid4()),
                   **({"client_secret": secrets.token_urlsafe(32)} if name == "signalr_app" else {})}
            for name in ("system_identity", "user_identity", "signalr_app")}
        meta_path.write_text(json.dumps(meta, indent=2))
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{key_path} is not an RSA private key (delete it to generate a new tenant)")
    s = meta["sender"]
    users = {k: User(k, v["name"], v["oid"]) for k, v in meta["users"].items()}
    users.update({k: u for k, u in load_users(meta["tenant_id"], _load_user_count()).items() if k not in users})
    return Directory(
        tenant_id=meta["tenant_id"],
        api_client_id=meta["api_client_id"],
        users=users,
        sender=SenderApp(s["client_id"], s["client_secret"], s["oid"], tuple(s["roles"])),
        private_key=key,
        kid=_thumbprint(key),
        **{name: ServicePrincipal(**p) for name, p in meta["service_principals"].items()},
    )
