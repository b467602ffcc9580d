"""Precompile Python sources to bytecode *inside Pyodide* (run by tools/precompile.mjs).

Pyodide's npm package ships its stdlib as .py only, so every import compiles on every
page load. Compiling here with Pyodide's own interpreter gives .pyc files with the
exact magic number of the browser build. They use the unchecked-hash format: the
browser never stats sources to validate them, which is what makes them cheap.
"""
import importlib.util
import marshal
import sys
import zipfile

MAGIC = importlib.util.MAGIC_NUMBER
SITE_ZIP = "/lib/site-packages.zip"  # where pyscript.toml puts the wheels' zip (web/main.py adds it to sys.path)
STDLIB = f"/lib/python{sys.version_info.major}{sys.version_info.minor}.zip"


def unchecked_pyc(source: bytes, filename: str) -> bytes | None:
    """Return .pyc bytes for source, or None when it does not compile (e.g. py2 test data)."""
    try:
        code = compile(source, filename, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None
    flags = 0b01  # hash-based, check_source = 0 (PEP 552)
    return MAGIC + flags.to_bytes(4, "little") + importlib.util.source_hash(source) + marshal.dumps(code)


def compile_stdlib(src_zip: str, out_zip: str) -> int:
    """Copy the stdlib zip adding `mod.pyc` beside each `mod.py` (zipimport prefers .pyc)."""
    count = 0
    with zipfile.ZipFile(src_zip) as zin, zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data)
            if info.filename.endswith(".py"):
                pyc = unchecked_pyc(data, f"{STDLIB}/{info.filename}")
                if pyc is not None:
                    zout.writestr(info.filename + "c", pyc)
                    count += 1
    return count


def compile_wheels(wheels: list[str], out_zip: str) -> int:
    """Merge wheels into one zip that the widget puts on sys.path as it is (zipimport: no
    unpacking at start-up), with `mod.pyc` beside each `mod.py` as for the stdlib."""
    count = 0
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zout:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zin:
                for info in zin.infolist():
                    data = zin.read(info)
                    zout.writestr(info.filename, data)
                    if info.filename.endswith(".py"):
                        pyc = unchecked_pyc(data, f"{SITE_ZIP}/{info.filename}")
                        if pyc is not None:
                            zout.writestr(info.filename + "c", pyc)
                            count += 1
    return count


def main(argv: list[str]) -> None:
    mode, out, *inputs = argv
    if mode == "stdlib":
        n = compile_stdlib(inputs[0], out)
    elif mode == "wheels":
        n = compile_wheels(inputs, out)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(f"{mode}: {n} modules compiled -> {out}")
