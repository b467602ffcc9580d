#!/usr/bin/env bash
# Set up what is missing (incl. Debian chromium), then run the whole test suite.
# Extra arguments go to pytest (e.g. -k widget).
set -euo pipefail
cd "$(dirname "$0")"
bash tools/bootstrap.sh --with-browser
exec .venv/bin/python -m pytest "$@"
