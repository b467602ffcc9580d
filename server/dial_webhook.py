"""The click-to-dial webhook's wire format, both ways (docs/dial-webhook.md): the body the
functions POST to the telephony system, its HMAC-SHA256 signature, the receiver's check,
and what an answer means for the next attempt. No sockets here.

    headers = signed_headers(secret, body, timestamp)          # the functions' side
    verify(secret, headers, body, now)                         # the receiver's side (WebhookRejected)
    outcome = attempt_outcome(status)                          # 2xx delivered, 4xx refused, else retry
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

SIGNATURE = "X-Dial-Signature"  # "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>' with the secret>"
TIMESTAMP = "X-Dial-Timestamp"  # Unix seconds when the attempt was signed (each attempt is signed anew)
DIAL_ID = "X-Dial-Id"  # the same on every attempt: the receiver's idempotency key
TOLERANCE = 300  # seconds a receiver accepts a timestamp away from its clock (replay window)
MIN_SECRET = 32  # characters of DialWebhookSecret
# Delays before attempts 2, 3, …: bounded, doubling; the dial fails after the last attempt.
BACKOFF = (2.0, 4.0, 8.0, 16.0)
MAX_ATTEMPTS = len(BACKOFF) + 1
ATTEMPT_TIMEOUT = 5.0  # seconds one POST may take
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class WebhookRejected(ValueError):
    """A webhook request the receiver must refuse (bad or stale signature)."""


def webhook_settings(url: str | None, secret: str | None) -> tuple[str, str] | None:
    """DialWebhookUrl and DialWebhookSecret as (url, secret); None when the URL is unset
    (click-to-dial off). ConfigError naming the setting: an URL that is not https (http
    only on a loopback host), or a secret shorter than MIN_SECRET characters."""
    if not url or not url.strip():
        return None
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or (parts.scheme == "http" and host not in LOOPBACK):
        raise ConfigError(f"DialWebhookUrl: '{url}' must be an https URL (http only on 127.0.0.1, ::1 or localhost)")
    if not secret or len(secret) < MIN_SECRET:
        raise ConfigError(f"DialWebhookSecret: at least {MIN_SECRET} characters are needed to sign the dial webhook")
    return url.strip(), secret


def body(dial_id: str, user_id: str, request: Mapping[str, Any], requested_at: str) -> bytes:
    """The webhook body: `{"dialId", "userId", "number", "extension", "requestedNumber",
    "record", "requestedAt"}` as compact UTF-8 JSON; the signature covers these bytes."""
    document = {"dialId": dial_id, "userId": user_id, **request, "requestedAt": requested_at}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, content: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 over `<timestamp>.` followed by the body bytes, keyed
    with the UTF-8 secret."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + content, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, content: bytes, timestamp: int, dial_id: str) -> dict[str, str]:
    return {"Content-Type": "application/json", TIMESTAMP: str(timestamp), SIGNATURE: signature(secret, timestamp, content),
            DIAL_ID: dial_id}


def verify(secret: str, headers: Mapping[str, str], content: bytes, now: float, tolerance: float = TOLERANCE) -> dict:
    """The receiver's check: a timestamp within `tolerance` seconds of `now` and a matching
    signature (compared in constant time). Returns the parsed body; WebhookRejected saying
    what is wrong otherwise. `headers` must look names up case-insensitively."""
    stamp = headers.get(TIMESTAMP) or ""
    if not stamp.isdigit():
        raise WebhookRejected(f"{TIMESTAMP} must be Unix seconds")
    if abs(now - int(stamp)) > tolerance:
        raise WebhookRejected(f"{TIMESTAMP} is more than {tolerance:g} s away from now (replayed or clock skew)")
    if not hmac.compare_digest((headers.get(SIGNATURE) or "").encode(), signature(secret, int(stamp), content).encode()):
        raise WebhookRejected(f"{SIGNATURE} does not match the body and the secret")
    try:
        document = json.loads(content)
    except ValueError:
        raise WebhookRejected("the body is not JSON") from None
    if not isinstance(document, dict):
        raise WebhookRejected("the body is not a JSON object")
    return document


def attempt_outcome(status: int | None) -> str:
    """What an attempt's answer means: "delivered" (2xx), "refused" (a 4xx other than 408
    and 429: sending it again would not help), "retry" (no answer, 408, 429, 5xx, other)."""
    if status is not None and 200 <= status < 300:
        return "delivered"
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return "refused"
    return "retry"
