"""Drive the local identity provider's sign-in page through the real msal auth code +
PKCE flow (local provider only: real Entra ID needs a person at a browser)."""
from __future__ import annotations

import warnings
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import msal
import requests


class SignInForm(HTMLParser):
    """The sign-in page's form: its action, hidden fields (the CSRF token among them), users."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.users: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a.get("name", "")] = a.get("value", "")
        elif tag == "button" and a.get("name") == "user":
            self.users.append(a.get("value", ""))


class SignInError(RuntimeError):
    pass


def sign_in(app: msal.PublicClientApplication, http: requests.Session, username: str, scopes: list[str],
            redirect_uri: str) -> dict:
    """Return msal's token result for `username` (a seeded test user)."""
    # msal suggests form_post; the widget's redirect page is static, so it reads the query.
    warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri, login_hint=f"{username}@contoso.test")
    page = http.get(flow["auth_uri"], timeout=10)
    if page.status_code != 200:
        raise SignInError(f"sign-in page answered {page.status_code}: {page.text[:200]}")
    form = SignInForm()
    form.feed(page.text)
    if username not in form.users:
        raise SignInError(f"'{username}' is not a test user here (known: {', '.join(form.users)})")
    answer = http.post(urljoin(flow["auth_uri"], form.action or urlsplit(flow["auth_uri"]).path),
                       data={**form.fields, "user": username}, allow_redirects=False, timeout=10)
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or not location.startswith(redirect_uri):
        raise SignInError(f"sign-in did not redirect back ({answer.status_code}): {answer.text[:200]}")
    result = app.acquire_token_by_auth_code_flow(flow, dict(parse_qsl(urlsplit(location).query)))
    if "access_token" not in result:
        raise SignInError(f"{result.get('error')}: {result.get('error_description')}")
    return result
