"""Unit tests for adaptor_core.tokens: reading `exp`/`iat` from an unverified JWT and
deciding when to renew (five minutes before the end of its own lifetime, or at half-life
if shorter), counted from when it was received — whatever the browser clock says."""
from __future__ import annotations

import base64
import json

import msal
import pytest

from adaptor_core.tokens import (
    MIN_MARGIN_FRACTION,
    MIN_RENEW_DELAY,
    RENEW_MARGIN,
    TokenKeeper,
    cached_access_token,
    renewal_delay,
    unverified_claims,
)


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


# --- renewal_delay: judged by the token's own lifetime, from when it was received ----------------

def test_one_hour_token_renews_five_minutes_before_its_end():
    assert renewal_delay(jwt({"iat": 1000, "exp": 4600})) == 3300.0


def test_ten_minute_token_renews_five_minutes_early():
    assert renewal_delay(jwt({"iat": 1000, "exp": 1600})) == 300.0


def test_short_token_renews_at_half_life():
    assert renewal_delay(jwt({"iat": 1000, "exp": 1300})) == 150.0
    assert renewal_delay(jwt({"iat": 1000, "exp": 1060})) == 30.0


def test_margin_crossover_at_ten_minutes():
    assert renewal_delay(jwt({"iat": 0, "exp": 599})) == 299.5
    assert renewal_delay(jwt({"iat": 0, "exp": 601})) == 301.0


def test_nbf_stands_in_for_a_missing_iat():
    assert renewal_delay(jwt({"nbf": 1000, "exp": 4600})) == 3300.0


def test_float_times():
    assert renewal_delay(jwt({"iat": 0.5, "exp": 100.5})) == 50.0


@pytest.mark.parametrize("claims", [{}, {"exp": "4600"}, {"exp": None}, {"iat": 1}, {"exp": [1]},
                                    {"exp": 5000}, {"exp": 2000, "iat": "1000"}, {"exp": True, "iat": 0}])
def test_unknown_lifetime_renews_soon_but_never_at_once(claims):
    assert renewal_delay(jwt(claims)) == MIN_RENEW_DELAY


def test_not_a_jwt_renews_soon_but_never_at_once():
    assert renewal_delay("opaque-token") == MIN_RENEW_DELAY
    assert renewal_delay(jwt(b64url(b"[1]"))) == MIN_RENEW_DELAY


@pytest.mark.parametrize("claims", [{"iat": 2000, "exp": 1500}, {"iat": 0, "exp": 0}, {"iat": 0, "exp": 5}])
def test_broken_or_tiny_lifetimes_never_spin(claims):
    assert renewal_delay(jwt(claims)) == MIN_RENEW_DELAY


def test_remaining_time_from_the_cache_counts_instead_of_the_whole_lifetime():
    token = jwt({"iat": 0, "exp": 3600})
    assert renewal_delay(token, remaining=1000.0) == 700.0
    assert renewal_delay(token, remaining=100.0) == MIN_RENEW_DELAY
    assert renewal_delay("opaque", remaining=1000.0) == 700.0
    assert renewal_delay("opaque", remaining=400.0) == 200.0  # margin: half of what is left


# --- TokenKeeper under clock skew --------------------------------------------------------------

def simulate_renewals(browser_offset: float, hours: float = 10.0, lifetime: float = 3600.0) -> list[float]:
    """The widget keeps a token for `hours`: each renewal the issuer stamps iat/exp with
    its clock; the browser's clock is `browser_offset` seconds off. Returns the instants
    (issuer time) tokens were fetched."""
    keeper, fetched, issuer_now = TokenKeeper(), [], 0.0
    while issuer_now < hours * 3600:
        browser_now = issuer_now + browser_offset
        if keeper.fresh(browser_now) is None:
            token = jwt({"iat": issuer_now, "exp": issuer_now + lifetime})
            keeper.received(token, browser_now)
            fetched.append(issuer_now)
            assert len(fetched) < 100, f"renewal spins with a browser clock {browser_offset:+.0f} s off"
        issuer_now = min(keeper.renew_at - browser_offset, issuer_now + 5.0)  # the widget wakes every ≤ 5 s
    return fetched


@pytest.mark.parametrize("offset", [0.0, 3600.0, -600.0, 86400.0, -86400.0])
def test_renewal_holds_whatever_the_browser_clock_says(offset):
    fetched = simulate_renewals(offset)
    assert len(fetched) == 11  # one at start, then every 55 minutes for 10 hours
    assert all(b - a == 3300.0 for a, b in zip(fetched, fetched[1:], strict=False))  # always before the 3600 s end


def test_keeper_hands_out_the_token_until_renewal_is_due():
    keeper = TokenKeeper()
    assert keeper.fresh(0.0) is None
    token = jwt({"iat": 50_000, "exp": 53_600})
    assert keeper.received(token, 10.0) == 3310.0
    assert keeper.fresh(3309.9) == token
    assert keeper.fresh(3310.0) is None


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
    assert cached_access_token(msal_cache(1000), CID, SCOPE, HOST, 1000) == ("AT", "alice@contoso.test", 3600.0)
    assert cached_access_token(msal_cache(1000), CID, SCOPE.upper(), HOST.upper(), 1000) == ("AT", "alice@contoso.test", 3600.0)


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
    assert cached_access_token(json.dumps(cache), CID, SCOPE, HOST, 1000) == ("AT", None, 3600.0)
    del cache["Account"]
    assert cached_access_token(json.dumps(cache), CID, SCOPE, HOST, 1000) == ("AT", None, 3600.0)
