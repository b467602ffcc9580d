"""Agent sign-in in the browser with msal's PublicClientApplication (auth code + PKCE).

Silent first (token cache kept in sessionStorage, refresh token), else an interactive
popup: window.open to the authorize URL; auth-redirect.html hands the response back by
postMessage (origin and source checked); then acquire_token_by_auth_code_flow.
msal talks HTTP through requests, which pyodide-http turns into browser XHR."""
import asyncio
import time
import warnings
from urllib.parse import parse_qsl, urlsplit

from js import window
from pyodide.ffi import create_proxy

from adaptor_core.errors import AdaptorError
from adaptor_core.tokens import cached_access_token

CACHE_KEY = "cif-adaptor.msal-cache"


def _import_msal():
    """msal (and the XHR patch it needs) cost ~0.1 s to import: only when msal has work."""
    import msal
    import pyodide_http

    pyodide_http.patch_all()
    # msal suggests form_post; our redirect page is static and reads the query instead.
    warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
    return msal


def cached_sign_in(client_id: str, authority: str, scope: str) -> tuple[str, str | None, float] | None:
    """(token, username, seconds left) when this tab's msal cache holds a token good for a while (a
    reload): the widget connects without importing msal. None: ask BrowserSignIn."""
    storage = _session_storage()
    saved = storage.getItem(CACHE_KEY) if storage is not None else None
    return cached_access_token(saved, client_id, scope, urlsplit(authority).hostname or "", time.time())


def _session_storage():
    """sessionStorage, or None where the browser denies storage to this frame (third-party
    storage blocked): then the token cache lives only as long as the page."""
    try:
        storage = window.sessionStorage
        storage.getItem(CACHE_KEY)
        return storage
    except Exception:
        return None


class SignInRequired(AdaptorError):
    """Interactive sign-in is needed and could not start (e.g. popup blocked)."""

    code = "signin_required"


class SignInFailed(AdaptorError):
    """The identity provider refused or the popup gave no usable answer."""

    code = "signin_failed"


class BrowserSignIn:
    def __init__(self, client_id: str, authority: str, scope: str, redirect_uri: str):
        msal = _import_msal()
        self.scope, self.redirect_uri = scope, redirect_uri
        self.cache = msal.SerializableTokenCache()
        self.storage = _session_storage()
        saved = self.storage.getItem(CACHE_KEY) if self.storage is not None else None
        if saved:
            self.cache.deserialize(saved)
        kwargs = {"oidc_authority": authority} if authority.rstrip("/").endswith("/v2.0") else \
            {"authority": authority, "instance_discovery": False}
        self.app = msal.PublicClientApplication(client_id, token_cache=self.cache, **kwargs)
        self.username = None

    def _save(self) -> None:
        if self.cache.has_state_changed and self.storage is not None:
            self.storage.setItem(CACHE_KEY, self.cache.serialize())

    def silent(self, force_refresh: bool = False) -> str | None:
        """An access token from the cache or the refresh token; None if a person must sign in."""
        for account in self.app.get_accounts():
            result = self.app.acquire_token_silent([self.scope], account=account, force_refresh=force_refresh)
            if result and "access_token" in result:
                self.username = account.get("username")
                self._save()
                return result["access_token"]
        return None

    async def interactive(self) -> str:
        flow = self.app.initiate_auth_code_flow([self.scope], redirect_uri=self.redirect_uri,
                                                prompt="select_account")
        # A fresh window each time: a named one still open (or closing) from another tab's
        # sign-in would be reused, and its redirect page would answer that tab instead.
        popup = window.open(flow["auth_uri"], "_blank", "popup,width=480,height=640")
        if not popup:
            raise SignInRequired("The sign-in popup was blocked. Press Sign in.")
        params = await self._wait_for_redirect(popup)
        result = self.app.acquire_token_by_auth_code_flow(flow, params)
        if "access_token" not in result:
            raise SignInFailed(f"{result.get('error')}: {result.get('error_description') or 'sign-in failed'}")
        self.username = (result.get("id_token_claims") or {}).get("preferred_username")
        self._save()
        return result["access_token"]

    async def _wait_for_redirect(self, popup) -> dict:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future = loop.create_future()
        origin = window.location.origin

        def on_message(event):
            data = event.data
            if event.origin != origin or event.source != popup or answer.done():
                return
            try:
                if data.type == "cif-auth-response":
                    answer.set_result(dict(parse_qsl(str(data.search).lstrip("?"))))
            except AttributeError:
                pass

        handler = create_proxy(on_message)
        window.addEventListener("message", handler)
        try:
            while not answer.done():
                if popup.closed:
                    await asyncio.sleep(0.5)  # a last message may still be in flight
                    if not answer.done():
                        raise SignInRequired("The sign-in window was closed. Press Sign in.")
                await asyncio.sleep(0.2)
            params = answer.result()
        finally:
            window.removeEventListener("message", handler)
            handler.destroy()
            # The redirect page closes itself, but Chromium refuses that for a popup opened
            # from a cross-site iframe (the Dynamics panel); its opener may close it.
            if not popup.closed:
                popup.close()
        if "error" in params:
            raise SignInFailed(f"{params['error']}: {params.get('error_description', '')}")
        return params
