"""Calls into Microsoft.CIFramework (Dynamics' CIF 2.0 library) from Python: every API
returns a promise; rejections become CifError with the message CIF gave."""
import asyncio
import json

from js import JSON, Object, window
from pyodide.ffi import JsException, create_proxy, to_js

from adaptor_core.errors import AdaptorError


class CifError(AdaptorError):
    """A Microsoft.CIFramework call that rejected (or no library at all)."""

    code = "cif_failed"


def _to_js(value):
    return to_js(value, dict_converter=Object.fromEntries)


async def wait_for_library(timeout: float = 10.0):
    """The library is injected by cif-loader.js; wait for it (None when not framed by a host)."""
    waited = 0.0
    while waited < timeout:
        cif = getattr(getattr(window, "Microsoft", None), "CIFramework", None)
        if cif is not None:
            return CifApi(cif)
        status = window.cifLibrary  # None until cif-loader.js (async) has run
        if status is not None and ((not status.requested) or status.error):
            return None
        await asyncio.sleep(0.05)
        waited += 0.05
    return None


class CifApi:
    def __init__(self, cif):
        self.cif = cif
        self._handlers = []

    async def call(self, method: str, *args):
        try:
            return await getattr(self.cif, method)(*[_to_js(a) if isinstance(a, (dict, list)) else a for a in args])
        except JsException as exc:
            raise CifError(f"{method}: {exc}") from None
        except Exception as exc:  # a rejected promise with a plain object
            detail = getattr(exc, "message", None) or str(exc)
            raise CifError(f"{method}: {detail}") from None

    async def add_handler(self, name: str, fn) -> None:
        """fn(payload) -> awaitable; CIF expects the handler to return a promise."""
        def js_handler(payload):
            text = payload if isinstance(payload, str) else JSON.stringify(payload)
            try:
                data = json.loads(text) if text else {}
            except (TypeError, ValueError):
                data = {"value": text}
            return asyncio.ensure_future(fn(name, data))

        proxy = create_proxy(js_handler)
        self._handlers.append(proxy)  # kept alive for the page's lifetime
        await self.call("addHandler", name, proxy)
