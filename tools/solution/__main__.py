"""python -m tools.solution --widget-url URL --out DIR [--org-url URL]

Builds the adaptor's Dataverse solution from dynamics/solution/: DIR/<name>_<version>.zip
(unmanaged), DIR/<name>_<version>_managed.zip, and DIR/src/, the unpacked sources with
this build's URLs filled in (what Microsoft's SolutionPackager would pack to the same
solution). Exit status 2 with a message naming the problem on bad input."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import SOURCE_DIR, read_sources
from .components import SolutionError, load, problems
from .packager import PackError, fill, pack


def build(widget_url: str, out: Path, org_url: str | None = None, source: Path = SOURCE_DIR) -> list[Path]:
    """Write both zips and the filled sources under `out`; returns the zip paths."""
    files = fill(read_sources(source), widget_url, org_url)
    solution = load(files)
    found = problems(solution)
    if found:
        raise SolutionError("; ".join(found))
    out.mkdir(parents=True, exist_ok=True)
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    for path, data in files.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    stem = f"{solution.unique_name}_{solution.version.replace('.', '_')}"
    written = []
    for managed, name in ((False, f"{stem}.zip"), (True, f"{stem}_managed.zip")):
        (out / name).write_bytes(pack(files, managed))
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.solution", description=__doc__.split("\n\n")[1])
    parser.add_argument("--widget-url", required=True, help="https URL of the hosted widget, e.g. https://host/widget/")
    parser.add_argument("--out", required=True, type=Path, help="directory for the zips and src/")
    parser.add_argument("--org-url", help="https://<org>.crm.dynamics.com: makes the channel URL absolute "
                                          "(default: the landing page's path on the org)")
    args = parser.parse_args(argv)
    try:
        for path in build(args.widget_url, args.out, args.org_url):
            print(path)
    except (PackError, SolutionError) as exc:
        print(f"tools.solution: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
