"""The core's unit tests exercise every line and branch of adaptor_core (it runs in the
browser, where a path no test took is found by an agent)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_core_unit_tests_cover_every_branch_of_adaptor_core(tmp_path):
    data = tmp_path / ".coverage"
    run = subprocess.run([sys.executable, "-m", "coverage", "run", f"--data-file={data}", "--branch",
                          "--source=adaptor_core", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                          *sorted(str(p) for p in (REPO / "tests").glob("test_core_*.py") if p.name != Path(__file__).name)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "coverage", "report", f"--data-file={data}", "-m",
                             "--fail-under=100"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stdout
