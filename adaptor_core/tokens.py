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
