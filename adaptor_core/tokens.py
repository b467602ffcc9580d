"""Token timing: when to renew an access token before it expires (no crypto here: the
functions verify signatures; the widget only needs `exp` to plan renewal)."""
from __future__ import annotations

import base64
import json

RENEW_MARGIN = 300.0  # renew five minutes before expiry …
MIN_MARGIN_FRACTION = 0.5  # … or at half-life for short-lived tokens


def unverified_claims(token: str) -> dict:
    """The payload of a JWT without verifying it; {} when it isn't one."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def renew_at(token: str, now: float) -> float:
    """The instant the widget should fetch a new token (silently)."""
    claims = unverified_claims(token)
    exp, iat = claims.get("exp"), claims.get("iat", now)
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        return now  # unknown lifetime: renew on next use
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        iat = now
    lifetime = max(0.0, exp - iat)
    return exp - min(RENEW_MARGIN, lifetime * MIN_MARGIN_FRACTION)


def needs_renewal(token: str | None, now: float) -> bool:
    return token is None or now >= renew_at(token, now)


def cached_access_token(cache_text: str | None, client_id: str, scope: str, authority_host: str,
                        now: float) -> tuple[str, str | None] | None:
    """(access token, username) from a serialized msal token cache when one for this
    client, scope and authority host is good beyond the renewal margin — so a warm start
    skips importing msal. None whenever msal itself must decide (refresh, sign-in)."""
    try:
        cache = json.loads(cache_text or "")
    except ValueError:
        return None
    if not isinstance(cache, dict):
        return None
    tokens, accounts = cache.get("AccessToken"), cache.get("Account")
    if not isinstance(tokens, dict):
        return None
    wanted = scope.lower()
    for entry in tokens.values():
        if not isinstance(entry, dict) or entry.get("client_id") != client_id:
            continue
        if str(entry.get("environment", "")).lower() != authority_host.lower():
            continue
        if wanted not in str(entry.get("target", "")).lower().split():
            continue
        secret = entry.get("secret")
        try:
            expires_on = float(entry.get("expires_on", ""))
        except (TypeError, ValueError):
            continue
        if not isinstance(secret, str) or not secret or expires_on - now <= RENEW_MARGIN:
            continue
        key = f"{entry.get('home_account_id')}-{entry.get('environment')}-{entry.get('realm')}".lower()
        account = accounts.get(key) if isinstance(accounts, dict) else None
        username = account.get("username") if isinstance(account, dict) else None
        return secret, username if isinstance(username, str) else None
    return None
