"""The widget's Pyodide memory snapshot, made at set-up: `python -m tools.snapshot`.

Pyodide can save an interpreter's whole linear memory and start a later one from it
(`loadPyodide({_makeSnapshot: true})` + `makeMemorySnapshot()`, restored by
`_loadSnapshot`): the restored page skips Python's own start-up and every import the
snapshot holds. We make it in headless Chromium (the browsers agents use run the same
JavaScript engine): a Node-made snapshot records Node's lack of JavaScript Promise
Integration (JSPI) and fails in a browser that has it. The page loads Pyodide from
web/vendor/pyodide through Playwright routes, imports the standard-library and
`pyodide` modules the widget and PyScript import (read from their sources, so nothing
here goes stale), and saves the memory without its zero pages (`sparse`), gzip-compressed,
beside pyodide.mjs as `snapshot-jspi.bin.gz`. web/pyodide-boot.mjs uses it only where the page has JSPI too,
and boots the ordinary way otherwise.

Never in the snapshot: our own code (adaptor_core changes with every edit) and the
wheels' zip — a snapshot holds zipimport's table of a zip's contents, so it may only
know zips built in the same step as itself (the stdlib zip is)."""
from __future__ import annotations

import ast
import base64
import gzip
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYODIDE_DIR = REPO / "web" / "vendor" / "pyodide"
SNAPSHOT = "snapshot-jspi.bin.gz"
CHROMIUM = "/usr/bin/chromium"
ORIGIN = "https://snapshot.invalid"
# Whose imports the snapshot takes: the widget's modules, the core, PyScript's own package.
SOURCES = [REPO / "web", REPO / "adaptor_core", REPO / "node_modules" / "@pyscript" / "core" / "src" / "stdlib" / "pyscript"]
# Not standard library: the page's JS, PyScript's modules (registered after the boot),
# our own code and the wheels.
SKIP = {"js", "pyscript", "_pyscript", "polyscript", "adaptor_core", "main", "adaptor", "ui", "signin", "cif", "msal", "jwt",
        "requests", "urllib3", "idna", "certifi", "charset_normalizer", "pyodide_http", "__future__"}
EXTRA = ["os", "pathlib"]  # PyScript writes its package with these before the widget runs
TYPES = {".mjs": "text/javascript", ".wasm": "application/wasm", ".zip": "application/zip", ".json": "application/json"}

MAKE_JS = """async (modules) => {
  const { loadPyodide } = await import("./pyodide.mjs");
  if (!("Suspending" in WebAssembly)) throw new Error("this Chromium has no JSPI");
  const py = await loadPyodide({ indexURL: "./", _makeSnapshot: true });
  const imported = [], skipped = [];
  for (const name of modules) {
    try { py.pyimport(name); imported.push(name); } catch (e) { skipped.push(name); }
  }
  const memory = py.makeMemorySnapshot();
  const gz = await new Response(new Blob([memory]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
  const bytes = new Uint8Array(gz);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { imported, skipped, size: memory.length, gzip: btoa(text) };
}"""


SPARSE_MAGIC = b"SPRS"
PAGE = 64 * 1024


def sparse(memory: bytes, page: int = PAGE) -> bytes:
    """The snapshot without its all-zero pages (more than half of the 30 MiB are zeros,
    and the page must move every byte it gets): b"SPRS", total length, page size and
    count (u32 little-endian), the indices of the pages kept (u32 each), then those pages
    (the last one may be shorter). web/pyodide-boot.mjs puts them back into zeros."""
    kept = [i for i in range(0, (len(memory) + page - 1) // page) if memory[i * page:(i + 1) * page].strip(b"\0")]
    head = SPARSE_MAGIC + struct.pack("<III", len(memory), page, len(kept)) + struct.pack(f"<{len(kept)}I", *kept)
    return head + b"".join(memory[i * page:(i + 1) * page] for i in kept)


def widget_imports() -> list[str]:
    """Absolute imports anywhere in SOURCES (module level or in functions), minus SKIP."""
    found: set[str] = set()
    for folder in SOURCES:
        for path in sorted(folder.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module)
    return sorted(name for name in found | set(EXTRA) if name.split(".")[0] not in SKIP)


def make(out: Path = PYODIDE_DIR / SNAPSHOT) -> dict:
    """Make the snapshot; returns what it imported and skipped, and its sizes."""
    from playwright.sync_api import sync_playwright

    def serve(route) -> None:
        name = route.request.url.removeprefix(ORIGIN + "/").split("?")[0]
        path = PYODIDE_DIR / name
        if name == "":
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>snapshot</title>")
        elif path.is_file() and path.parent == PYODIDE_DIR:
            route.fulfill(status=200, content_type=TYPES.get(path.suffix, "application/octet-stream"),
                          body=path.read_bytes())
        else:
            route.fulfill(status=404, body="")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route(ORIGIN + "/**", serve)
            page.goto(ORIGIN + "/")
            result = page.evaluate(MAKE_JS, widget_imports())
        finally:
            browser.close()
    data = gzip.compress(sparse(gzip.decompress(base64.b64decode(result.pop("gzip")))), compresslevel=6)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return {**result, "gzip_bytes": len(data), "path": str(out)}


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"[setup] snapshot: skipped ({CHROMIUM} missing): the widget boots without one", flush=True)
        return 0
    result = make()
    print(f"[setup] snapshot: {len(result['imported'])} modules imported, {result['size'] / 2**20:.0f} MiB of "
          f"memory, {result['gzip_bytes'] / 2**20:.1f} MiB gzip -> {result['path']}"
          + (f" (not importable in Pyodide: {', '.join(result['skipped'])})" if result["skipped"] else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
