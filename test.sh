#!/usr/bin/env bash
# Set up what is missing (incl. Debian chromium), lint (ruff) and type-check (mypy) our
# packages, then run the whole test suite. Extra arguments go to pytest (e.g. -k widget).
set -euo pipefail
cd "$(dirname "$0")"
bash tools/bootstrap.sh --with-browser
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
