"""Build the widget as static files for any HTTPS static host (Azure Static Web Apps,
a storage static website, the function app…): `python -m tools.package_widget OUT
--functions-url … --client-id … --authority … --scope …` writes OUT/widget/ with the
precompiled vendor files, the core package zip and config.json."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from server.blueprints.widget import VERSIONED_PAGES, core_zip
from server.settings import WEB_DIR
from server.widget_assets import IMMUTABLE, vendor_version, versioned
from tools.setup import VENDOR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package_widget", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--functions-url", required=True, help="AdaptorFunctionUrl, e.g. https://<app>.azurewebsites.net")
    parser.add_argument("--client-id", required=True, help="ClientId of the app registration")
    parser.add_argument("--authority", required=True, help="Authority, e.g. https://login.microsoftonline.com/<tenant>")
    parser.add_argument("--scope", required=True, help="Scope, e.g. api://<client id>/access_as_user")
    args = parser.parse_args(argv)
    if not (VENDOR / ".setup-stamp").exists():
        raise SystemExit("web/vendor is not built: run ./run.sh (or python -m tools.setup) first")
    target = args.out / "widget"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(WEB_DIR, target, ignore=shutil.ignore_patterns("__pycache__", ".setup-stamp", "vendor"))
    # the vendor files under their content hash, as the local server names them (server/widget_assets.py)
    version = vendor_version()
    shutil.copytree(VENDOR, target / f"vendor-{version}", ignore=shutil.ignore_patterns(".setup-stamp"))
    for page in VERSIONED_PAGES:
        (target / page).write_text(versioned((WEB_DIR / page).read_text(encoding="utf-8"), version), encoding="utf-8")
    (target / "adaptor_core.zip").write_bytes(core_zip())
    config = {"AdaptorFunctionUrl": args.functions_url, "ClientId": args.client_id,
              "Authority": args.authority, "Scope": args.scope}
    (target / "config.json").write_text(json.dumps(config, indent=2))
    files = sum(1 for p in target.rglob("*") if p.is_file())
    print(f"widget packaged: {target} ({files} files); serve it over HTTPS with the CSP in docs/deploy-azure.md, "
          f"vendor-{version}/ with Cache-Control: {IMMUTABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
