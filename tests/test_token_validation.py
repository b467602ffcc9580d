"""Crafted bearer tokens against the real validator (server/auth.py): whatever a token's
header or claims hold, the answer is a Principal or a 401 naming the problem — never
another exception (a 500 before any authentication).

The authority is the local identity provider itself, in process (httpx's WSGI transport
over the Flask app): real discovery document, real JWKS, tokens signed with its real key."""
from __future__ import annotations

import base64
import json
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from server.auth import MAX_TOKEN_LENGTH, Principal, TokenValidator
from server.errors import ApiError
from testkit.server import local_stack

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cif-adaptor-hypothesis")
EXAMPLES = 300
CODES_401 = {"invalid_token", "token_expired", "invalid_audience", "invalid_issuer", "invalid_tenant", "not_an_access_token"}


@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    """(validator, directory, good claims) for a fresh local tenant."""
    local = local_stack(tmp_path_factory.mktemp("tokens"))
    stack, directory = local.config, local.config.local_directory
    http = httpx.Client(transport=httpx.WSGITransport(app=local.flask_app))
    validator = TokenValidator(stack.authority, stack.audiences, http)
    now = int(time.time())
    user = directory.users["alice"]
    good = {"iss": f"{stack.authority}/v2.0", "aud": directory.api_client_id, "iat": now, "nbf": now,
            "exp": now + 3600, "oid": user.oid, "sub": user.oid, "tid": directory.tenant_id,
            "scp": "access_as_user", "azp": directory.api_client_id, "ver": "2.0"}
    yield validator, directory, good
    local.functions.store.close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(directory, header, claims) -> str:
    """A JWS signed with the authority's real key, whatever header and payload hold (a
    library's encoder would refuse most of what we want to send)."""
    signing_input = _b64(json.dumps(header, allow_nan=True).encode()) + "." + \
        _b64(json.dumps(claims, allow_nan=True).encode())
    signature = directory.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def outcome(validator, token: str):
    """The validator's answer: a Principal, or the 401's (code, message). Anything else fails."""
    try:
        return validator.validate(token)
    except ApiError as exc:
        assert exc.status == 401 and exc.code in CODES_401 and exc.message, (exc.status, exc.code, exc.message)
        return exc.code, exc.message


# --- pinned examples: what the penetration test sent, and its kind --------------------------

def good_header(directory) -> dict:
    return {"alg": "RS256", "kid": directory.kid, "typ": "JWT"}


@pytest.mark.parametrize("change,needle", [
    ({"kid": 1}, "kid"), ({"kid": {"a": 1}}, "kid"), ({"kid": [None]}, "kid"), ({"kid": None}, "kid"),
    ({"kid": ""}, "kid"), ({"kid": "not-our-key"}, "unknown key"), ({"alg": None}, "RS256"),
    ({"alg": ["RS256"]}, "RS256"), ({"alg": "none"}, "RS256"), ({"alg": "HS256"}, "RS256"),
    ({"typ": "at+jwt"}, "typ"), ({"typ": 7}, "typ"), ({"crit": ["exp"]}, "crit"),
])
def test_malformed_headers_are_401_naming_the_field(authority, change, needle):
    validator, directory, good = authority
    header = {k: v for k, v in {**good_header(directory), **change}.items() if v is not None or k != "alg"}
    code, message = outcome(validator, craft(directory, header, good))
    assert code == "invalid_token" and needle in message, message


def test_header_without_alg_is_401(authority):
    validator, directory, good = authority
    code, message = outcome(validator, craft(directory, {"kid": directory.kid}, good))
    assert code == "invalid_token" and "RS256" in message


@pytest.mark.parametrize("change,needle", [
    ({"exp": "99999999999"}, "'exp'"), ({"exp": True}, "'exp'"), ({"nbf": "0"}, "'nbf'"), ({"iat": [1]}, "'iat'"),
    ({"oid": 5}, "'oid'"), ({"oid": ["a"]}, "'oid'"), ({"sub": {"a": 1}}, "'sub'"), ({"scp": ["access_as_user"]}, "'scp'"),
    ({"tid": 1}, "'tid'"), ({"roles": "Notifications.Send"}, "'roles'"), ({"roles": [1]}, "'roles'"),
    ({"azp": None}, "'azp'"), ({"ver": 2.0}, "'ver'"),
])
def test_claims_of_the_wrong_type_are_401_naming_the_claim(authority, change, needle):
    validator, directory, good = authority
    code, message = outcome(validator, craft(directory, good_header(directory), {**good, **change}))
    assert code == "invalid_token" and needle in message, message


@pytest.mark.parametrize("token,needle", [
    ("a" * (MAX_TOKEN_LENGTH + 1), "longer than"), ("x.y", "not a JWT"), ("x.y.z.w", "not a JWT"),
    ("é.é.é", "not a JWT"), ("....", "not a JWT"), ("e30.e30.", "alg"),
    (_b64(b"[1]") + ".e30.", "JSON object"), (_b64(b"\xff\xfe") + ".e30.", "header"),
    (_b64(b"[" * 5000 + b"]" * 5000) + ".e30.", "header"),
])
def test_tokens_that_are_not_jwts_are_401(authority, token, needle):
    validator, _, _ = authority
    code, message = outcome(validator, token)
    assert code == "invalid_token" and needle in message, message


def test_the_well_formed_token_passes(authority):
    validator, directory, good = authority
    principal = outcome(validator, craft(directory, good_header(directory), good))
    assert isinstance(principal, Principal) and principal.user_id == good["oid"]


def test_a_remembered_token_still_expires(authority):
    """The validator remembers tokens that passed (server/auth.py); that never makes one
    live past its `exp` + leeway. (Waits for a real expiry: a bounded sleep, no timing.)"""
    validator, directory, good = authority
    now = int(time.time())
    token = craft(directory, good_header(directory), {**good, "exp": now - validator.leeway + 2})
    assert isinstance(outcome(validator, token), Principal)
    assert outcome(validator, token) == validator.validate(token)  # remembered: the same Principal
    time.sleep(3.5)
    assert outcome(validator, token)[0] == "token_expired"


# --- properties ------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.text(max_size=10)
           | st.sampled_from([0.5, -0.0, 1e308, float("inf"), float("nan"), "RS256", "JWT", "2.0", ""]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
HEADER_NAMES = ["alg", "kid", "typ", "crit", "b64", "jku", "x5u", "jwk", "x5t", "cty", "enc", "zip"]
CLAIM_NAMES = ["iss", "aud", "exp", "nbf", "iat", "oid", "sub", "tid", "scp", "roles", "azp", "appid", "ver",
               "idtyp", "jti", "name"]


def property_settings(fn):
    return settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))(fn)


def mutated(data, base: dict, names: list[str], values) -> object:
    """`base` with some of `names` dropped or set to drawn values; now and then not an
    object at all."""
    out = dict(base)
    for name in data.draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        if data.draw(st.booleans()):
            out.pop(name, None)
        else:
            out[name] = data.draw(values)
    return data.draw(st.just(out) | json_values)


@property_settings
@given(data=st.data())
def test_any_header_is_a_principal_or_a_401(authority, data):
    validator, directory, good = authority
    header = mutated(data, good_header(directory), HEADER_NAMES,
                     json_values | st.sampled_from([directory.kid, "RS256", "JWT"]))
    result = outcome(validator, craft(directory, header, good))
    if isinstance(result, Principal):
        assert header["alg"] == "RS256" and header["kid"] == directory.kid


@property_settings
@given(data=st.data())
def test_any_claims_are_a_principal_or_a_401(authority, data):
    validator, directory, good = authority
    result = outcome(validator, craft(directory, good_header(directory), mutated(data, good, CLAIM_NAMES, json_values)))
    if isinstance(result, Principal):
        assert isinstance(result.user_id, str) and result.user_id
        assert all(isinstance(result.claims.get(n, ""), str) for n in ("oid", "sub", "scp", "tid", "iss"))
        assert all(isinstance(r, str) for r in result.roles)


@property_settings
@given(token=st.text(max_size=200) | st.text(alphabet="abcXYZ019-_.=+/ ", max_size=300)
       | st.lists(json_values.map(lambda v: _b64(json.dumps(v, allow_nan=True).encode())), min_size=1,
                  max_size=4).map(".".join))
def test_any_string_is_a_401(authority, token):
    validator, _, _ = authority
    assert isinstance(outcome(validator, token), tuple)
