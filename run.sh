#!/usr/bin/env bash
# Set up what is missing, then start the local stack on https://127.0.0.1:7071.
# Extra arguments go to `python -m server` (e.g. --port 8443).
set -euo pipefail
cd "$(dirname "$0")"
bash tools/bootstrap.sh
exec .venv/bin/python -m server "$@"
