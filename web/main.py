"""The widget's start-up (the script PyScript runs): resolve the configuration (URL,
config.json, the channel provider's custom parameters), set CIF up (click-to-act,
handlers, docked mode), then start the adaptor (adaptor.py). Also publishes
window.adaptorDiagnostics for tests and benchmarks."""
# ruff: noqa: E402 (the clock is read first; the later imports come from zips put on the path)
from js import performance

STARTED = round(performance.now(), 1)  # when PyScript handed over: the boot breakdown's split

import asyncio
import json
import sys
from urllib.parse import parse_qsl

sys.path += ["/lib/adaptor_core.zip", "/lib/site-packages.zip"]  # pyscript.toml [files]: imported, never unpacked

from adaptor import MARKS, Adaptor, mark
from js import Object, document, window
from pyodide.ffi import create_proxy, to_js
from pyodide.http import pyfetch
from ui import WidgetUI

import adaptor_core
from adaptor_core.config import ConfigMissing, resolve_config


async def fetch_config_file() -> dict | None:
    try:
        response = await pyfetch("./config.json", cache="no-cache")
        return await response.json() if response.ok else None
    except Exception:
        return None


CIF_SETUP_TIMEOUT = 10.0  # seconds for the host to answer the set-up calls (not notifyEvent: that waits for the agent)


async def environment_values(cif) -> dict:
    """Dynamics passes per-org settings to the widget as the channel provider's custom
    parameters (getEnvironment → customParams); we read extn_<Key> from there."""
    if cif is None:
        return {}
    try:
        env = json.loads(str(await asyncio.wait_for(cif.call("getEnvironment"), CIF_SETUP_TIMEOUT)))
        custom = env.get("customParams") or {}
        return json.loads(custom) if isinstance(custom, str) else custom
    except Exception:
        return {}


async def init_cif(cif, adaptor: Adaptor) -> None:
    await cif.call("setClickToAct", True)
    await cif.add_handler("onclicktoact", adaptor.on_click_to_act)
    for name in ("onSessionSwitched", "onSessionClosed", "onPageNavigate", "onmodechanged"):
        await cif.add_handler(name, adaptor.on_cif_event)
    await cif.add_handler("onPresenceChange", adaptor.on_presence_change)
    await cif.call("setMode", 1)
    adaptor.spawn(adaptor.read_presence())  # reported once the connection is registered; start-up doesn't wait


def diagnostics():
    import importlib
    import os

    imported = "msal" in sys.modules  # before this function imports it: did sign-in need msal?
    found = {name: getattr(importlib.import_module(name), "__version__", "?")
             for name in ("msal", "requests", "jwt", "pyodide_http")}
    msal = sys.modules["msal"]
    # imported from the zip: zipimport names the .pyc it ran as __file__
    found["bytecode"] = (msal.__file__ or "").endswith(".pyc") or bool(msal.__cached__ and os.path.exists(msal.__cached__))
    found["python"] = sys.version.split()[0]
    found["msal_was_imported"] = imported
    found["marks"] = dict(MARKS)
    import gc

    found["python_objects"] = len(gc.get_objects())
    try:
        import pyodide_js

        found["wasm_bytes"] = pyodide_js._module.HEAP8.length  # the wasm linear memory
    except (ImportError, AttributeError):
        found["wasm_bytes"] = None
    return to_js(found, dict_converter=Object.fromEntries)


async def main() -> None:
    MARKS["adaptor_started"] = STARTED
    mark("python_ready")
    ready = document.getElementById("python-ready")
    ready.textContent = f"Python ready — Python {sys.version.split()[0]}, core {adaptor_core.__version__}"
    ready.dataset.ms = str(MARKS["python_ready"])
    ready.hidden = False
    window.adaptorDiagnostics = create_proxy(diagnostics)

    ui = WidgetUI()
    from cif import wait_for_library

    config_file, cif = await asyncio.gather(fetch_config_file(), wait_for_library())
    query = dict(parse_qsl(str(window.location.search).lstrip("?")))
    try:
        env = await environment_values(cif)
        config = resolve_config(query, config_file, env.get)
    except ConfigMissing as exc:
        ui.set_status("error", str(exc), exc.code)
        return
    adaptor = Adaptor(config, ui, cif)
    window.adaptor = adaptor  # for the console and tests: adaptor.delivered, adaptor.core.state
    ui.signin_button.addEventListener("click", create_proxy(adaptor.signin_clicked))
    if cif is not None:
        # Before sign-in: msal's HTTP is synchronous XHR, which would stall these
        # postMessage round trips to the host while it runs.
        from cif import CifError

        try:  # a host that never answers must not keep the agent from signing in
            await asyncio.wait_for(init_cif(cif, adaptor), CIF_SETUP_TIMEOUT)
        except CifError as exc:
            ui.set_status("disconnected", f"CIF set-up failed: {exc}", exc.code)
        except TimeoutError:
            ui.set_status("disconnected", f"CIF set-up failed: no answer from the host in {CIF_SETUP_TIMEOUT:g} s",
                          CifError.code)
    adaptor.start_connection()


asyncio.ensure_future(main())
