"""Token timing: when to renew an access token before it expires (no crypto here: the
functions verify signatures; the widget only reads a token's lifetime to plan renewal).

A token's `exp` and `iat` are stamped by the issuer's clock; the browser's clock may be
minutes or hours off. So a token is judged by its own lifetime (`exp - iat`) counted
from when it was received, on the widget's monotonic clock — never by comparing `exp`
with the browser's time — and renewals are never closer together than MIN_RENEW_DELAY.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass

RENEW_MARGIN = 300.0  # renew five minutes before expiry …
MIN_MARGIN_FRACTION = 0.5  # … or at half-life for short-lived tokens
MIN_RENEW_DELAY = 10.0  # seconds: whatever a token or a clock says, never renew faster (no spin)


def unverified_claims(token: str) -> dict:
    """The payload of a JWT without verifying it; {} when it isn't one."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def lifetime(token: str) -> float | None:
    """`exp - iat` (else `exp - nbf`) in seconds: both stamped by the issuer, so the
    difference holds whatever the local clock says. None when the token doesn't say."""
    claims = unverified_claims(token)
    exp = _number(claims.get("exp"))
    start = _number(claims.get("iat"))
    start = start if start is not None else _number(claims.get("nbf"))
    return None if exp is None or start is None else exp - start


def renewal_delay(token: str, remaining: float | None = None) -> float:
    """Seconds from now until `token` should be renewed. `remaining`: how long it is still
    valid, when known from the same clock that stored it (msal's cache); otherwise the
    token was just received and has its whole lifetime ahead. Renew RENEW_MARGIN before
    the end, or at half-life for short tokens; never sooner than MIN_RENEW_DELAY."""
    life = lifetime(token)
    left = remaining if remaining is not None else life
    if left is None:
        return MIN_RENEW_DELAY  # unknown lifetime: renew soon, but never spin
    margin = min(RENEW_MARGIN, max(0.0, life if life is not None else left) * MIN_MARGIN_FRACTION)
    return max(MIN_RENEW_DELAY, left - margin)


@dataclass
class TokenKeeper:
    """The current access token and when to renew it, on the caller's monotonic clock."""
    token: str | None = None
    renew_at: float = 0.0

    def fresh(self, now: float) -> str | None:
        """The token while it is good to use; None when a new one is due."""
        return self.token if self.token is not None and now < self.renew_at else None

    def received(self, token: str, now: float, remaining: float | None = None) -> float:
        """Keep `token` (just received, or `remaining` seconds left); returns renew_at."""
        self.token, self.renew_at = token, now + renewal_delay(token, remaining)
        return self.renew_at


def cached_access_token(cache_text: str | None, client_id: str, scope: str, authority_host: str,
                        now: float) -> tuple[str, str | None, float] | None:
    """(access token, username, seconds it is still valid) from a serialized msal token
    cache when one for this client, scope and authority host is good beyond the renewal
    margin — so a warm start skips importing msal. `now` is the wall clock msal stamped
    `expires_on` with (the same browser), so the remaining time holds under skew. None
    whenever msal itself must decide (refresh, sign-in)."""
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
        return secret, username if isinstance(username, str) else None, expires_on - now
    return None
