#!/usr/bin/env bash
# Shared set-up for ./run.sh and ./test.sh: .venv + pinned Python deps, then tools/setup.py
# (npm packages, Pyodide/PyScript vendor copy, widget wheels, bytecode, dev certificate).
# Idempotent: every step checks a stamp and skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--with-browser" ] && want_browser=1

say() { printf '[setup] %s\n' "$*"; }

for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "[setup] $tool is required (Debian: apt-get install python3 python3-venv nodejs npm)" >&2; exit 1; }
done

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
lock_sum=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$lock_sum" ]; then
  say "installing Python packages from requirements.lock"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  echo "$lock_sum" > .venv/.setup-stamp
else
  say "Python packages: up to date"
fi

if [ "$want_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium for the browser tests"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q chromium
fi

.venv/bin/python -m tools.setup
