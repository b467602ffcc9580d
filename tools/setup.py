"""Idempotent set-up of everything the local stack serves: `python -m tools.setup`.

Steps (each skipped when its inputs are unchanged):
1. npm packages from package-lock.json (pyodide, @pyscript/core, ...)
2. copy Pyodide and PyScript into web/vendor/ (git-ignored, served by our server)
3. download the widget's pinned pure-Python wheels
4. precompile the Pyodide stdlib and the wheels to bytecode with Pyodide's own Python
5. the widget's Pyodide memory snapshot (tools/snapshot.py; skipped without Chromium)
6. the dev CA and TLS certificate for 127.0.0.1/localhost
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from server.devcerts import ensure_dev_certs
from server.settings import REPO_ROOT, Settings

NODE_MODULES = REPO_ROOT / "node_modules"
VENDOR = REPO_ROOT / "web" / "vendor"
WHEELS = REPO_ROOT / ".local" / "wheels"
WHEEL_LIST = REPO_ROOT / "tools" / "widget-wheels.txt"
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "pyodide-lock.json")
BOOT_MODULE = REPO_ROOT / "web" / "pyodide-boot.mjs"


def step(message: str) -> None:
    print(f"[setup] {message}", flush=True)


def run(*cmd: str | Path) -> None:
    subprocess.run([str(c) for c in cmd], cwd=REPO_ROOT, check=True)


def digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def up_to_date(stamp: Path, key: str) -> bool:
    return stamp.exists() and stamp.read_text() == key


def npm_install() -> None:
    lock = REPO_ROOT / "package-lock.json"
    stamp = NODE_MODULES / ".setup-stamp"
    key = digest(lock, REPO_ROOT / "package.json")
    if up_to_date(stamp, key):
        step("npm packages: up to date")
        return
    step("npm packages: npm ci (pyodide, @pyscript/core, ...)")
    run("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
    stamp.write_text(key)


def wheel_names() -> list[str]:
    lines = (line.split("#")[0].strip() for line in WHEEL_LIST.read_text().splitlines())
    return [line for line in lines if line]


def download_wheels() -> list[Path]:
    WHEELS.mkdir(parents=True, exist_ok=True)
    wanted = wheel_names()

    def find(req: str) -> Path | None:
        name, version = req.split("==")
        norm = name.lower().replace("-", "_")
        hits = [p for p in WHEELS.glob("*.whl") if p.name.lower().startswith(f"{norm}-{version}-")]
        return hits[0] if hits else None

    missing = [r for r in wanted if find(r) is None]
    if missing:
        step(f"widget wheels: downloading {len(missing)} ({', '.join(missing)})")
        run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--platform", "any", "--python-version", "3.14", "--implementation", "py",
            "--dest", WHEELS, *missing)
    else:
        step("widget wheels: up to date")
    found = [find(r) for r in wanted]
    if None in found:
        raise SystemExit(f"[setup] wheel not found after download: {wanted[found.index(None)]}")
    return found  # type: ignore[return-value]


def build_vendor(wheels: list[Path]) -> None:
    tools = REPO_ROOT / "tools"
    stamp = VENDOR / ".setup-stamp"
    key = digest(REPO_ROOT / "package-lock.json", WHEEL_LIST, tools / "bytecode.py", tools / "precompile.mjs",
                 BOOT_MODULE, tools / "snapshot.py")
    if up_to_date(stamp, key):
        step("web/vendor: up to date")
        return
    started = time.monotonic()
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    pyodide_dir, pyscript_dir = VENDOR / "pyodide", VENDOR / "pyscript"
    pyodide_dir.mkdir(parents=True)
    for name in PYODIDE_FILES:
        shutil.copy2(NODE_MODULES / "pyodide" / name, pyodide_dir / name)
    shutil.copy2(BOOT_MODULE, pyodide_dir / BOOT_MODULE.name)  # PyScript's interpreter: beside pyodide.mjs
    shutil.copytree(NODE_MODULES / "@pyscript" / "core" / "dist", pyscript_dir,
                    ignore=shutil.ignore_patterns("*.map"))
    step("bytecode: compiling the Pyodide stdlib with Pyodide's Python (about 10 s)")
    run("node", tools / "precompile.mjs", "stdlib", pyodide_dir / "python_stdlib.zip",
        NODE_MODULES / "pyodide" / "python_stdlib.zip")
    step("bytecode: compiling the widget's wheels")
    run("node", tools / "precompile.mjs", "wheels", VENDOR / "site-packages.zip", *wheels)
    stamp.write_text(key)
    step(f"web/vendor: built in {time.monotonic() - started:.1f} s")


def ensure_snapshot() -> None:
    """The widget's memory snapshot; made again whenever web/vendor was rebuilt (or Chromium
    arrived since)."""
    from tools.snapshot import PYODIDE_DIR, SNAPSHOT

    if (PYODIDE_DIR / SNAPSHOT).exists():
        step("snapshot: up to date")
        return
    step("snapshot: Pyodide's memory after the widget's standard-library imports, in headless Chromium")
    run(sys.executable, "-m", "tools.snapshot")


def main() -> int:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"[setup] {tool} not found: install Node.js and npm (apt-get install nodejs npm)")
    npm_install()
    build_vendor(download_wheels())
    ensure_snapshot()
    certs = ensure_dev_certs(Settings.from_environment().certs_dir)
    step(f"dev certificate: {certs.cert} (CA {certs.ca})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
