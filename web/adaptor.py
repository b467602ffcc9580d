"""Adaptor widget entry point (runs in Pyodide via PyScript): the browser glue around
adaptor_core. Everything rendered goes through textContent, never innerHTML."""
import importlib
import os
import sys

from js import Object, document, performance, window
from pyodide.ffi import create_proxy, to_js

import adaptor_core


def diagnostics():
    """Versions and bytecode use of the widget's Python packages (for tests and support)."""
    found = {}
    for name in ("msal", "requests", "jwt", "pyodide_http"):
        module = importlib.import_module(name)
        found[name] = getattr(module, "__version__", "?")
    msal = sys.modules["msal"]
    found["bytecode"] = bool(msal.__cached__ and os.path.exists(msal.__cached__))
    found["python"] = sys.version.split()[0]
    return to_js(found, dict_converter=Object.fromEntries)


def show_python_ready() -> None:
    marker = document.getElementById("python-ready")
    elapsed = performance.now()
    marker.textContent = (
        f"Python ready — Python {sys.version.split()[0]}, core {adaptor_core.__version__}, "
        f"{elapsed / 1000:.2f} s after navigation"
    )
    marker.dataset.ms = str(round(elapsed))
    marker.hidden = False


window.adaptorDiagnostics = create_proxy(diagnostics)
show_python_ready()
