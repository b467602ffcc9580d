"""The local OpenID Connect provider driven by the real msal library over HTTPS, and the
resource-server check (TokenValidator) on what it issues — with the provider issuing
v2.0 and (ADAPTOR_IDP_ACCESS_TOKEN_VERSION=1) v1.0 access tokens."""
import base64
import hashlib
import secrets
from urllib.parse import parse_qsl, urlsplit

import jwt
import msal
import pytest

from server.auth import Principal, TokenValidator
from server.http_client import make_client
from telephony.local_signin import SignInForm

pytestmark = pytest.mark.token_versions


@pytest.fixture(scope="module")
def validator(identity, stack):
    http = make_client(stack.certs.ca)
    return TokenValidator(identity.authority, (identity.api_client_id, f"api://{identity.api_client_id}"), http,
                          tenant_id=identity.data["tenant_id"])


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_msal_accepts_both_authority_styles(identity, stack):
    entra = identity.public_app()
    assert entra.authority.token_endpoint.endswith("/oauth2/v2.0/token")
    oidc = msal.PublicClientApplication(identity.api_client_id, oidc_authority=f"{identity.authority}/v2.0",
                                        http_client=stack.session())
    assert oidc.authority.token_endpoint == entra.authority.token_endpoint


def test_pkce_sign_in_gives_api_access_token_and_account(identity, validator):
    result = identity.agent_result("alice")
    assert result["token_type"] == "Bearer"
    assert result["id_token_claims"]["preferred_username"] == "alice@contoso.test"
    assert "refresh_token" in result
    principal = validator.validate(result["access_token"])
    assert principal.user_id == identity.oid("alice")
    assert principal.scopes == ["access_as_user"]


def test_agent_access_token_has_entras_claim_shapes(identity, token_version):
    """v1.0: sts.windows.net issuer, the resource as requested (api://<id>), appid, upn and
    unique_name, x5t beside kid; v2.0: the v2.0 issuer, the client id, azp, preferred_username.
    The id token is v2.0 either way (it comes from the v2.0 endpoint) and has neither appid nor azp."""
    result = identity.agent_result("bob")
    claims, header = claims_of(result["access_token"]), jwt.get_unverified_header(result["access_token"])
    tenant, client = identity.data["tenant_id"], identity.api_client_id
    assert claims["tid"] == tenant and claims["oid"] == identity.oid("bob") and claims["scp"] == "access_as_user"
    if token_version == "1":
        assert claims["ver"] == "1.0" and claims["iss"] == f"https://sts.windows.net/{tenant}/"
        assert claims["aud"] == f"api://{client}" and claims["appid"] == client and claims["appidacr"] == "0"
        assert claims["upn"] == claims["unique_name"] == "bob@contoso.test" and "azp" not in claims
        assert header["x5t"] == header["kid"]
    else:
        assert claims["ver"] == "2.0" and claims["iss"] == f"{identity.authority}/v2.0"
        assert claims["aud"] == client and claims["azp"] == client and "appid" not in claims
        assert claims["preferred_username"] == "bob@contoso.test" and "x5t" not in header
    id_claims = claims_of(result["id_token"])
    assert id_claims["ver"] == "2.0" and id_claims["aud"] == client
    assert "azp" not in id_claims and "appid" not in id_claims


def test_sender_app_token_has_entras_claim_shapes(identity, token_version):
    claims = claims_of(identity.sender_token())
    sender = identity.data["sender"]
    assert claims["roles"] == ["Notifications.Send"] and claims["oid"] == sender["oid"] and "scp" not in claims
    if token_version == "1":
        assert claims["ver"] == "1.0" and claims["aud"] == f"api://{identity.api_client_id}"
        assert claims["appid"] == sender["client_id"] and claims["appidacr"] == "1"
        assert claims["idp"] == claims["iss"] == f"https://sts.windows.net/{identity.data['tenant_id']}/"
    else:
        assert claims["ver"] == "2.0" and claims["aud"] == identity.api_client_id
        assert claims["azp"] == sender["client_id"] and claims["azpacr"] == "1"


def test_both_metadata_documents_name_their_issuer_and_one_key_set(identity, stack):
    v2 = stack.session().get(f"{identity.authority}/v2.0/.well-known/openid-configuration").json()
    v1 = stack.session().get(f"{identity.authority}/.well-known/openid-configuration").json()
    assert v2["issuer"] == f"{identity.authority}/v2.0"
    assert v1["issuer"] == f"https://sts.windows.net/{identity.data['tenant_id']}/"
    keys = [stack.session().get(doc["jwks_uri"]).json() for doc in (v1, v2)]
    assert keys[0] == keys[1] and keys[0]["keys"]


def test_silent_refresh_rotates_refresh_token(identity, stack, validator):
    app = identity.public_app()
    from telephony.local_signin import sign_in

    first = sign_in(app, stack.session(), "bob", [identity.api_scope], f"{stack.widget_url}auth-redirect.html")
    account = app.get_accounts(username="bob@contoso.test")[0]
    renewed = app.acquire_token_silent([identity.api_scope], account, force_refresh=True)
    assert renewed and renewed["access_token"] != first["access_token"]
    assert validator.validate(renewed["access_token"]).user_id == identity.oid("bob")
    # The first refresh token was spent by the renewal: replaying it fails.
    token_endpoint = app.authority.token_endpoint
    replay = stack.session().post(token_endpoint, data={
        "grant_type": "refresh_token", "client_id": identity.api_client_id, "refresh_token": first["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_replaying_a_spent_refresh_token_revokes_its_family(identity, stack):
    """Reuse of a rotated refresh token means two parties hold it: the newer tokens of the
    same sign-in are revoked too (OAuth 2.1 refresh token rotation; Entra ID does the same)."""
    token_url = f"{identity.authority}/oauth2/v2.0/token"

    def refresh(token: str):
        return stack.session().post(token_url, data={"grant_type": "refresh_token", "client_id": identity.api_client_id,
                                                     "refresh_token": token, "scope": identity.api_scope})

    first = identity.agent_result("alice")["refresh_token"]
    renewed = refresh(first)
    assert renewed.status_code == 200
    second = renewed.json()["refresh_token"]
    assert refresh(first).json()["error"] == "invalid_grant"  # the replay (thief or victim)
    revoked = refresh(second)  # the newer token of that sign-in no longer works either
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"
    other = identity.agent_result("alice")["refresh_token"]  # another sign-in is another family
    assert refresh(other).status_code == 200


def test_client_credentials_carry_the_sender_role(identity, validator):
    principal = validator.validate(identity.sender_token())
    assert "Notifications.Send" in principal.roles
    assert principal.user_id == identity.data["sender"]["oid"]


def test_client_credentials_with_wrong_secret_is_401(identity, stack):
    app = msal.ConfidentialClientApplication(identity.data["sender"]["client_id"], client_credential="wrong",
                                             authority=identity.authority, instance_discovery=False,
                                             http_client=stack.session())
    result = app.acquire_token_for_client([f"api://{identity.api_client_id}/.default"])
    assert result["error"] == "invalid_client"


def _authorize_and_sign_in(identity, stack, challenge: str, state: str = "s1"):
    auth = f"{identity.authority}/oauth2/v2.0/authorize"
    params = {"client_id": identity.api_client_id, "response_type": "code", "state": state,
              "redirect_uri": f"{stack.widget_url}auth-redirect.html", "scope": f"{identity.api_scope} openid",
              "code_challenge": challenge, "code_challenge_method": "S256", "nonce": "n1"}
    page = stack.session().get(auth, params=params)
    form = SignInForm()
    form.feed(page.text)
    answer = stack.session().post(auth, data={**form.fields, "user": "alice"}, allow_redirects=False)
    return page, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)), params


def _verifier_pair():
    verifier = secrets.token_urlsafe(40)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_token_endpoint_checks_pkce_and_single_use_codes(identity, stack):
    verifier, challenge = _verifier_pair()
    _, query, params = _authorize_and_sign_in(identity, stack, challenge)
    token_url = f"{identity.authority}/oauth2/v2.0/token"
    base = {"grant_type": "authorization_code", "client_id": identity.api_client_id, "code": query["code"],
            "redirect_uri": params["redirect_uri"]}
    wrong = stack.session().post(token_url, data={**base, "code_verifier": "x" * 43})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # A failed attempt consumed the code too (no guessing loops against one code).
    again = stack.session().post(token_url, data={**base, "code_verifier": verifier})
    assert again.json()["error"] == "invalid_grant"

    verifier, challenge = _verifier_pair()
    _, query, _ = _authorize_and_sign_in(identity, stack, challenge)
    ok = stack.session().post(token_url, data={**base, "code": query["code"], "code_verifier": verifier})
    assert ok.status_code == 200
    assert jwt.decode(ok.json()["id_token"], options={"verify_signature": False})["nonce"] == "n1"
    replay = stack.session().post(token_url, data={**base, "code": query["code"], "code_verifier": verifier})
    assert replay.json()["error"] == "invalid_grant"


def test_sign_in_page_escapes_request_parameters(identity, stack):
    page, _, _ = _authorize_and_sign_in(identity, stack, _verifier_pair()[1], state='"><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text or "&#34;&gt;&lt;script&gt;" in page.text


def test_unregistered_redirect_uri_is_refused_without_redirect(identity, stack):
    r = stack.session().get(f"{identity.authority}/oauth2/v2.0/authorize", allow_redirects=False, params={
        "client_id": identity.api_client_id, "response_type": "code", "redirect_uri": "https://evil.example/cb",
        "scope": identity.api_scope, "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert r.status_code == 400 and "Location" not in r.headers


def test_token_endpoint_answers_cors_preflight_for_the_widget_origin(identity, stack):
    origin = f"https://localhost:{stack.port}"
    r = stack.session().options(f"{identity.authority}/oauth2/v2.0/token", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-client-sku,x-client-ver,content-type"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert "x-client-sku" in r.headers["Access-Control-Allow-Headers"]
    foreign = stack.session().options(f"{identity.authority}/oauth2/v2.0/token", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_validator_rejects_forged_and_stale_tokens(identity, stack, validator):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from server.errors import ApiError
    from server.idp.directory import load_directory

    directory = load_directory(stack.state_dir)
    good = jwt.decode(identity.sender_token(), options={"verify_signature": False})

    def forge(key=directory.private_key, kid=directory.kid, **changes):
        return jwt.encode({**good, **changes}, key, algorithm="RS256", headers={"kid": kid})

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "token_expired": forge(exp=good["iat"] - 600, iat=good["iat"] - 4000, nbf=good["iat"] - 4000),
        "invalid_audience": forge(aud="api://someone-else"),
        "invalid_issuer": forge(iss="https://login.example/other/v2.0"),
        "invalid_token": forge(key=other_key),
    }
    for code, token in cases.items():
        with pytest.raises(ApiError) as err:
            validator.validate(token)
        assert (err.value.status, err.value.code) == (401, code)
    # within the ±2 min clock-skew leeway an expired token still passes
    assert isinstance(validator.validate(forge(exp=int(good["iat"]) - 60)), Principal)
    with pytest.raises(ApiError) as err:
        validator.validate(jwt.encode(good, "s" * 32, algorithm="HS256"))
    assert err.value.status == 401


def test_refresh_tokens_stored_before_families_existed_still_rotate(tmp_path):
    import sqlite3
    import time

    from server.idp.grants import GrantStore, _hash

    db = sqlite3.connect(tmp_path / "identity.db")
    db.execute("CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, client_id TEXT, username TEXT, scope TEXT,"
               " expires REAL, used INTEGER DEFAULT 0)")
    db.execute("INSERT INTO refresh_tokens VALUES (?, 'c', 'alice', 's', ?, 0)", (_hash("old"), time.time() + 60))
    db.commit()
    db.close()
    grants = GrantStore(tmp_path / "identity.db")
    grant = grants.redeem_refresh_token("old")
    assert grant is not None and grant.family == _hash("old")
    assert grants.redeem_refresh_token("old") is None
