"""Unit tests for adaptor_core.tokens: reading `exp`/`iat` from an unverified JWT and
deciding when to renew (five minutes before expiry, or at half-life if shorter)."""
from __future__ import annotations

import base64
import json

import msal
import pytest

from adaptor_core.tokens import (MIN_MARGIN_FRACTION, RENEW_MARGIN, cached_access_token, needs_renewal, renew_at,
                                 unverified_claims)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, header=None) -> str:
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode()) if not isinstance(claims, str) else claims
    return f"{head}.{body}.c2lnbmF0dXJl"


def test_constants():
    assert RENEW_MARGIN == 300.0
    assert MIN_MARGIN_FRACTION == 0.5


# --- unverified_claims ---------------------------------------------------------------------

def test_claims_of_a_jwt():
    assert unverified_claims(jwt({"sub": "agent1", "exp": 2000, "iat": 1000})) == \
        {"sub": "agent1", "exp": 2000, "iat": 1000}


@pytest.mark.parametrize("pad", range(4))  # payload lengths ≡ 2, 3, 0, 2 (mod 4): every valid padding
def test_claims_for_every_padding_length(pad):
    claims = {"n": "x" * pad, "exp": 1}
    token = jwt(claims)
    assert "=" not in token
    assert unverified_claims(token) == claims


def test_claims_with_url_safe_alphabet():
    claims = {"s": "\u00ff\u00fe?>"}  # encodes to base64 with '-' / '_'
    token = jwt(claims)
    assert set(token.split(".")[1]) & {"-", "_"}
    assert unverified_claims(token) == claims


def test_claims_of_a_padded_payload():
    payload = base64.urlsafe_b64encode(b'{"exp":1}').decode()
    assert unverified_claims(f"h.{payload}.s") == {"exp": 1}


@pytest.mark.parametrize("token", [
    "",
    "not-a-jwt",
    "a.!!!!.c",          # not base64 → decodes to nothing → not JSON
    jwt("bm90IGpzb24"),  # "not json"
    jwt("_-8"),          # invalid UTF-8
    "a.é.c",             # non-ASCII text
])
def test_claims_of_garbage(token):
    assert unverified_claims(token) == {}


def test_claims_without_a_signature_part_still_read():
    assert unverified_claims("a.eyJleHAiOjV9") == {"exp": 5}


@pytest.mark.parametrize("payload", [[1], 5, "text", None])
def test_claims_that_are_not_an_object_read_as_empty(payload):
    assert unverified_claims(jwt(b64url(json.dumps(payload).encode()))) == {}


def test_renew_at_a_token_with_a_non_object_payload_is_now():
    assert renew_at(jwt(b64url(b"[1]")), 100.0) == 100.0


# --- renew_at -------------------------------------------------------------------------------

def test_one_hour_token_renews_five_minutes_early():
    assert renew_at(jwt({"iat": 1000, "exp": 4600}), 1000.0) == 4300.0


def test_ten_minute_token_renews_five_minutes_early():
    assert renew_at(jwt({"iat": 1000, "exp": 1600}), 1000.0) == 1300.0


def test_short_token_renews_at_half_life():
    assert renew_at(jwt({"iat": 1000, "exp": 1300}), 1000.0) == 1150.0
    assert renew_at(jwt({"iat": 1000, "exp": 1060}), 1000.0) == 1030.0


def test_margin_crossover_at_ten_minutes():
    assert renew_at(jwt({"iat": 0, "exp": 599}), 0.0) == 299.5
    assert renew_at(jwt({"iat": 0, "exp": 601}), 0.0) == 301.0


def test_without_iat_now_is_the_issue_time():
    assert renew_at(jwt({"exp": 1100}), 1000.0) == 1050.0
    assert renew_at(jwt({"exp": 5000}), 1000.0) == 4700.0


def test_expired_token_renews_at_expiry():
    assert renew_at(jwt({"exp": 900}), 1000.0) == 900.0  # lifetime from now is negative → no margin


def test_iat_after_exp_renews_at_expiry():
    assert renew_at(jwt({"iat": 2000, "exp": 1500}), 1000.0) == 1500.0


def test_float_times():
    assert renew_at(jwt({"iat": 0.5, "exp": 100.5}), 0.0) == 50.5


@pytest.mark.parametrize("claims", [{}, {"exp": "4600"}, {"exp": None}, {"iat": 1}, {"exp": [1]}])
def test_unknown_lifetime_renews_now(claims):
    assert renew_at(jwt(claims), 1234.5) == 1234.5


def test_not_a_jwt_renews_now():
    assert renew_at("opaque-token", 77.0) == 77.0


# --- needs_renewal ---------------------------------------------------------------------------

def test_no_token_needs_one():
    assert needs_renewal(None, 0.0) is True


def test_fresh_token_does_not_need_renewal():
    token = jwt({"iat": 1000, "exp": 4600})
    assert needs_renewal(token, 1000.0) is False
    assert needs_renewal(token, 4299.9) is False


def test_token_needs_renewal_from_renew_at_on():
    token = jwt({"iat": 1000, "exp": 4600})
    assert needs_renewal(token, 4300.0) is True
    assert needs_renewal(token, 5000.0) is True


def test_opaque_token_always_needs_renewal():
    assert needs_renewal("opaque", 0.0) is True


def test_renew_at_with_a_non_numeric_iat_measures_from_now():
    token = "h." + b64url(json.dumps({"exp": 2000, "iat": "1000"}).encode()) + ".s"
    # lifetime counted from now (1000 s to go): renew five minutes before expiry
    assert renew_at(token, 1000.0) == 1700.0


# --- the warm-start shortcut: a good access token straight from msal's serialized cache ------

CID, SCOPE, HOST = "cid", "api://cid/access_as_user", "127.0.0.1"


def _seg(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def msal_cache(now: float, expires_in: int = 3600, scope: str = SCOPE, client_id: str = CID,
               host: str = HOST, username: str = "alice@contoso.test") -> str:
    """A cache serialized by the real msal library after a sign-in at `now`."""
    id_token = _seg({"alg": "none"}) + "." + _seg({
        "iss": f"https://{host}/t1/v2.0", "sub": "s", "aud": client_id, "oid": "o1", "tid": "t1",
        "preferred_username": username, "exp": int(now) + 3600}) + "."
    cache = msal.SerializableTokenCache()
    cache.add({"client_id": client_id, "scope": [scope], "token_endpoint": f"https://{host}:7071/t1/oauth2/v2.0/token",
               "response": {"access_token": "AT", "expires_in": expires_in, "token_type": "Bearer",
                            "id_token": id_token, "refresh_token": "RT", "scope": scope,
                            "client_info": _seg({"uid": "o1", "utid": "t1"})}}, now=now)
    return cache.serialize()


def test_a_good_token_and_the_username_come_from_the_cache():
    assert cached_access_token(msal_cache(1000), CID, SCOPE, HOST, 1000) == ("AT", "alice@contoso.test")
    assert cached_access_token(msal_cache(1000), CID, SCOPE.upper(), HOST.upper(), 1000) == ("AT", "alice@contoso.test")


@pytest.mark.parametrize("cache, client_id, scope, host, now", [
    (msal_cache(1000), "other", SCOPE, HOST, 1000),  # another app's token
    (msal_cache(1000), CID, "api://cid/other", HOST, 1000),  # another scope
    (msal_cache(1000), CID, SCOPE, "login.microsoftonline.com", 1000),  # another authority
    (msal_cache(1000), CID, SCOPE, HOST, 1000 + 3600 - RENEW_MARGIN),  # due for renewal: msal decides
    (msal_cache(1000, expires_in=60), CID, SCOPE, HOST, 1000),  # short-lived: renew at once
    (None, CID, SCOPE, HOST, 0), ("", CID, SCOPE, HOST, 0), ("not json", CID, SCOPE, HOST, 0),
    ("[]", CID, SCOPE, HOST, 0), ('{"AccessToken": []}', CID, SCOPE, HOST, 0),
    ('{"AccessToken": {"k": 1}}', CID, SCOPE, HOST, 0),
    ('{"AccessToken": {"k": {"client_id": "cid", "environment": "127.0.0.1", "target": "api://cid/access_as_user",'
     ' "secret": "AT", "expires_on": "soon"}}}', CID, SCOPE, HOST, 0),
    ('{"AccessToken": {"k": {"client_id": "cid", "environment": "127.0.0.1", "target": "api://cid/access_as_user",'
     ' "secret": "", "expires_on": "99999"}}}', CID, SCOPE, HOST, 0),
])
def test_anything_else_is_left_to_msal(cache, client_id, scope, host, now):
    assert cached_access_token(cache, client_id, scope, host, now) is None


def test_a_token_without_its_account_has_no_username():
    cache = json.loads(msal_cache(1000))
    cache["Account"] = {}
    assert cached_access_token(json.dumps(cache), CID, SCOPE, HOST, 1000) == ("AT", None)
    del cache["Account"]
    assert cached_access_token(json.dumps(cache), CID, SCOPE, HOST, 1000) == ("AT", None)
