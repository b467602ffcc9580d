"""Access tokens as Entra ID issues them, against the running functions (/api/negotiate over
HTTPS): v1.0 and v2.0 × audience as client id or App ID URI × this tenant or another.
Entra signs every tenant's tokens with the same keys, so another tenant's token here is
signed with the local provider's key too; only `iss`/`tid` tell it apart. Everything but
this tenant's access tokens for this API is a 401 whose message names the claim."""
import base64
import json
import time

import jwt
import pytest

from server.idp import tokens
from server.idp.directory import load_directory

OTHER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.fixture(scope="module")
def forge(stack, identity):
    """forge(version, audience, tenant, **changes) → an agent access token in Entra's
    shape for that version, signed with the tenant's (shared) key."""
    directory = load_directory(stack.state_dir)

    def make(version="2.0", audience=None, tenant=None, headers=None, **changes):
        tenant = tenant or directory.tenant_id
        issuer = tokens.v1_issuer(tenant) if version == "1.0" else f"{stack.url}/{tenant}/v2.0"
        claims = tokens.user_access_claims(version, issuer, tenant, audience or directory.api_client_id,
                                           directory.api_client_id, oid=identity.oid("alice"), name="Alice Agent",
                                           username="alice@contoso.test", scopes="access_as_user",
                                           now=int(time.time()), lifetime=600)
        claims.update(changes)
        for key in [k for k, v in claims.items() if v is None]:
            del claims[key]
        return jwt.encode(claims, directory.private_key, algorithm="RS256",
                          headers=headers or tokens.signing_headers(version, directory.kid))

    make.directory = directory
    return make


MATRIX = [(version, form, tenant) for version in ("1.0", "2.0") for form in ("client id", "App ID URI")
          for tenant in ("this tenant", "another tenant")]


@pytest.mark.parametrize("version,form,tenant", MATRIX, ids=["-".join(m).replace(" ", "_") for m in MATRIX])
def test_version_x_audience_form_x_tenant(version, form, tenant, forge, stack):
    client = forge.directory.api_client_id
    token = forge(version, client if form == "client id" else f"api://{client}",
                  None if tenant == "this tenant" else OTHER_TENANT)
    r = stack.session().post(f"{stack.url}/api/negotiate", headers={"Authorization": f"Bearer {token}"})
    if tenant == "this tenant":
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 401 and r.json()["error"] == "invalid_issuer" and "'iss'" in r.json()["message"]


REFUSED = {
    # name: (token maker, expected error, the claim the message must name)
    "another API": (lambda f: f("2.0", "api://11111111-2222-3333-4444-555555555555"), "invalid_audience", "'aud'"),
    "another API, v1.0": (lambda f: f("1.0", "https://graph.microsoft.com"), "invalid_audience", "'aud'"),
    "expired": (lambda f: f("1.0", exp=int(time.time()) - 600, iat=int(time.time()) - 4000), "token_expired", "'exp'"),
    "not yet valid": (lambda f: f("2.0", nbf=int(time.time()) + 900), "invalid_token", "'nbf'"),
    "our issuer, another tid": (lambda f: f("2.0", tid=OTHER_TENANT), "invalid_tenant", "'tid'"),
    "v1.0 claims with the v2.0 issuer": (lambda f: f("1.0", iss=f"{f.stack_url}/{f.directory.tenant_id}/v2.0"),
                                         "invalid_issuer", "'iss'"),
    "no version": (lambda f: f("2.0", ver=None), "invalid_token", "'ver'"),
    "no azp (v2.0)": (lambda f: f("2.0", azp=None), "not_an_access_token", "'azp'"),
    "no appid (v1.0)": (lambda f: f("1.0", appid=None), "not_an_access_token", "'appid'"),
    "unknown kid": (lambda f: f("2.0", headers={"kid": "nope"}), "invalid_token", "'kid'"),
    "kid not a string": (lambda f: with_header(f("2.0"), {"alg": "RS256", "kid": 12345}), "invalid_token", "'kid'"),
}


def with_header(token: str, header: dict) -> str:
    """The token with another header (PyJWT won't encode some crafted ones)."""
    raw = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([raw, *token.split(".")[1:]])


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_with_401_naming_the_claim(name, forge, stack):
    make, error, claim = REFUSED[name]
    forge.stack_url = stack.url
    r = stack.session().post(f"{stack.url}/api/negotiate", headers={"Authorization": f"Bearer {make(forge)}"})
    assert r.status_code == 401, r.text
    assert r.json()["error"] == error and claim in r.json()["message"], r.json()


def test_an_id_token_is_not_an_access_token(identity, stack):
    """The widget's own id token has this API's client id as `aud` (one registration for
    both), the right issuer and signature — and still is no access token."""
    id_token = identity.agent_result("alice")["id_token"]
    r = stack.session().post(f"{stack.url}/api/negotiate", headers={"Authorization": f"Bearer {id_token}"})
    assert r.status_code == 401 and r.json()["error"] == "not_an_access_token"
    assert "'azp'" in r.json()["message"]
