"""What tools/setup.py built: bytecode from Pyodide's own Python, unchecked-hash pycs."""
import zipfile
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parent.parent / "web" / "vendor"

if not (VENDOR / ".setup-stamp").exists():
    pytest.fail("web/vendor is not built: run ./test.sh (it runs tools/setup.py)", pytrace=False)


def pyc_header(data: bytes) -> tuple[bytes, int]:
    return data[:4], int.from_bytes(data[4:8], "little")


def test_stdlib_zip_has_unchecked_pyc_beside_sources():
    with zipfile.ZipFile(VENDOR / "pyodide" / "python_stdlib.zip") as zf:
        names = set(zf.namelist())
        assert "json/__init__.py" in names and "json/__init__.pyc" in names
        magic, flags = pyc_header(zf.read("json/__init__.pyc"))
    assert flags == 0b01  # hash-based, unchecked (PEP 552)
    assert magic[2:4] == b"\r\n"


def test_site_packages_zip_has_unchecked_pyc_beside_every_wheels_sources():
    """The widget imports the wheels from the zip itself (zipimport reads `mod.pyc` beside
    `mod.py`, never __pycache__/)."""
    with zipfile.ZipFile(VENDOR / "site-packages.zip") as zf:
        names = set(zf.namelist())
        for module in ("msal/application.py", "jwt/api_jwt.py", "requests/sessions.py", "pyodide_http/__init__.py"):
            assert module in names and module + "c" in names
            magic, flags = pyc_header(zf.read(module + "c"))
            assert flags == 0b01 and magic[2:4] == b"\r\n"
        assert not [n for n in names if "__pycache__" in n]
