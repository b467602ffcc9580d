#!/usr/bin/env bash
# Build a deployable Azure Functions folder: functionapp/ (entry points, host.json, pinned
# requirements.txt) + the framework-free modules named in functionapp/package-contents.txt.
# Output: build/functionapp/ (or $1). Verify it before publishing (docs/deploy-azure.md):
#   .venv/bin/python -m pytest tests/test_functionapp_package.py -q
# Deploy it with: cd build/functionapp && func azure functionapp publish <app-name> --python
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/functionapp}
rm -rf "$out"
mkdir -p "$out"
cp functionapp/function_app.py functionapp/host.json functionapp/requirements.txt "$out/"
grep -v '^\s*\(#\|$\)' functionapp/package-contents.txt | while read -r path; do
  if [ "${path%/}" != "$path" ]; then
    mkdir -p "$out/$path"
    cp -r "$path." "$out/$path"
  else
    mkdir -p "$out/$(dirname "$path")"
    cp "$path" "$out/$path"
  fi
done
find "$out" -name __pycache__ -prune -exec rm -rf {} +
echo "packaged $(find "$out" -name '*.py' | wc -l) Python files into $out"
