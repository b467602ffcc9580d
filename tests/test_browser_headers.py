"""What browsers are told (README, Security): the sign-in page can't be framed and its
form is CSRF-protected, responses carry HSTS and a Referrer-Policy, and the SignalR
emulator's negotiate answers CORS only for the origins configured for it."""
from __future__ import annotations

import json

import pytest

from telephony.local_signin import SignInForm


def authorize_url(identity) -> str:
    return f"{identity.authority}/oauth2/v2.0/authorize"


def authorize_params(identity, stack, state: str = "s1") -> dict:
    return {"client_id": identity.api_client_id, "response_type": "code", "state": state,
            "redirect_uri": f"{stack.widget_url}auth-redirect.html", "scope": identity.api_scope,
            "code_challenge": "x" * 43, "code_challenge_method": "S256"}


def test_sign_in_pages_cannot_be_framed(identity, stack):
    s = stack.session()
    page = s.get(authorize_url(identity), params=authorize_params(identity, stack))
    refused = s.get(authorize_url(identity), params={**authorize_params(identity, stack), "client_id": "nobody"})
    assert (page.status_code, refused.status_code) == (200, 400)
    for r in (page, refused):
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_a_cross_site_post_signs_nobody_in(identity, stack):
    """What a page on another site can send: the authorize parameters and a chosen user,
    without the token only our own sign-in page carries."""
    s = stack.session()
    forged = {**authorize_params(identity, stack), "user": "bob"}
    for extra in ({}, {"csrf_token": ""}, {"csrf_token": "1.abc"}, {"csrf_token": "é"}):
        r = s.post(authorize_url(identity), data={**forged, **extra}, allow_redirects=False,
                   headers={"Origin": "https://evil.example"})
        assert r.status_code == 403 and "Location" not in r.headers and "code=" not in r.text, (extra, r.status_code)
    # a token of our page is bound to that page's parameters: not reusable for others
    form = SignInForm()
    form.feed(s.get(authorize_url(identity), params=authorize_params(identity, stack, state="mine")).text)
    assert form.fields["csrf_token"]
    r = s.post(authorize_url(identity), data={**forged, "csrf_token": form.fields["csrf_token"]},
               allow_redirects=False)
    assert r.status_code == 403 and "Location" not in r.headers
    # the page's own form still signs in
    r = s.post(authorize_url(identity), data={**form.fields, "user": "bob"}, allow_redirects=False)
    assert r.status_code == 302 and "code=" in r.headers["Location"]


def test_responses_carry_hsts_and_a_referrer_policy(stack, tokens):
    s = stack.session()
    answers = {path: s.get(stack.url + path) for path in ("/healthz", "/console", "/widget/", "/")}
    answers["negotiate"] = s.post(stack.url + "/api/negotiate", headers={"Authorization": f"Bearer {tokens['alice']}"})
    info = answers["negotiate"].json()
    answers["service negotiate"] = s.post(f"{stack.url}/client/negotiate?hub=myhub",
                                          headers={"Authorization": f"Bearer {info['accessToken']}"})
    for name, r in answers.items():
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000", name
        assert r.headers["Referrer-Policy"] in ("same-origin", "no-referrer"), name
    assert answers["/console"].headers["Referrer-Policy"] == "same-origin"
    assert answers["/widget/"].headers["Referrer-Policy"] == "same-origin"
    # HSTS holds for a host name, not a port: on `localhost` it would force https onto
    # every other local server of the browser for a year, so it is left out there
    assert "Strict-Transport-Security" not in s.get(f"https://localhost:{stack.port}/healthz").headers


@pytest.mark.parametrize("method", ["OPTIONS", "POST"])
def test_service_negotiate_cors_answers_configured_origins_only(stack, tokens, method):
    s = stack.session()
    info = s.post(stack.url + "/api/negotiate", headers={"Authorization": f"Bearer {tokens['alice']}"}).json()
    url = f"{stack.url}/client/negotiate?hub=myhub"

    def ask(origin: str):
        headers = {"Origin": origin, "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "authorization"}
        if method == "POST":
            headers["Authorization"] = f"Bearer {info['accessToken']}"
        return s.request(method, url, headers=headers)

    widget = f"https://localhost:{stack.port}"
    r = ask(widget)
    assert r.headers["Access-Control-Allow-Origin"] == widget
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    for origin in ("null", "https://evil.example", f"https://localhost:{stack.port + 1}", f"{widget}.evil.example"):
        r = ask(origin)
        assert "Access-Control-Allow-Origin" not in r.headers, origin
        assert "Access-Control-Allow-Credentials" not in r.headers, origin
    if method == "POST":
        assert json.loads(r.content)["connectionId"]  # CORS is the browser's check: the answer is still given
