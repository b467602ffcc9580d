#!/usr/bin/env bash
# Build a deployable Azure Functions folder: functionapp/ + the shared handlers
# (server/ minus local stand-ins' state) + adaptor_core/. Output: build/functionapp/.
# Deploy it with: cd build/functionapp && func azure functionapp publish <app-name> --python
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/functionapp
rm -rf "$out"
mkdir -p "$out"
cp functionapp/function_app.py functionapp/host.json functionapp/requirements.txt "$out/"
cp -r server adaptor_core "$out/"
find "$out" -name __pycache__ -prune -exec rm -rf {} +
echo "packaged $(find "$out" -name '*.py' | wc -l) Python files into $out"
