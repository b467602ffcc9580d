"""The adaptor's Dataverse solution: its unpacked sources (`dynamics/solution/`, in the
folder layout of Microsoft's SolutionPackager), the packer that turns them into
importable zips, and the reader that gives the local CIF host the templates and
environment variable definitions they contain (docs/dynamics-solution.md)."""
from __future__ import annotations

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2] / "dynamics" / "solution"


def read_sources(root: Path = SOURCE_DIR) -> dict[str, bytes]:
    """{posix path relative to root: bytes} of every file under the unpacked solution."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
