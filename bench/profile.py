"""Where the server's CPU goes: py-spy samples of the server process during a phase,
folded into a few categories named after our modules (what a fix would touch)."""
from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path

# First match wins, tested against the whole stack of a sample (root → leaf).
CATEGORIES = [
    ("functions → SignalR REST (sync httpx from a WSGI thread, in-process)", ("signalr_rest.py", "inprocess.py")),
    ("bearer-token validation (PyJWT RS256)", ("server/auth.py",)),
    ("SQLite store", ("server/store/",)),
    ("emulator → functions upstream webhooks (async httpx)", ("signalr_service/upstream.py",)),
    ("emulator REST push (Starlette handler, WebSocket sends)", ("SignalRService.rest",)),
    ("emulator WebSocket read loop / keepalive", ("signalr_service/service.py", "signalr_service/registry.py")),
    ("other function handler code (JSON, logging)", ("server/functions/", "server/blueprints/")),
    ("Flask + a2wsgi (request/response plumbing)", ("flask/", "werkzeug/", "a2wsgi/")),
    ("uvicorn / h11 / Starlette HTTP", ("uvicorn/", "h11/", "starlette/")),
    ("TLS in the event loop (asyncio sslproto)", ("sslproto.py", "ssl.py")),
    ("WebSocket protocol (websockets)", ("websockets/",)),
    ("asyncio event loop", ("asyncio/",)),
]


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path, rate: int = 100) -> subprocess.Popen | None:
    """Sample without stopping the process (--nonblocking), active threads only."""
    binary = py_spy()
    if binary is None:
        return None
    return subprocess.Popen([binary, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), "-r", str(rate),
                             "--nonblocking", "--threads", "--format", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fold(raw: Path) -> dict:
    """{category: share %} plus the top leaf functions, from py-spy's raw (collapsed) output."""
    totals: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        joined = stack.replace("\\", "/")
        for name, needles in CATEGORIES:
            if any(needle in joined for needle in needles):
                totals[name] += n
                break
        else:
            totals["other"] += n
        leaf = stack.split(";")[-1]
        leaves[leaf.split(" (")[0] + " (" + leaf.rsplit("/", 1)[-1]] += n
    def share(n: int) -> float:
        return round(100 * n / samples, 1) if samples else 0.0

    return {"samples": samples,
            "categories": [[name, share(n)] for name, n in totals.most_common()],
            "leaves": [[name, share(n)] for name, n in leaves.most_common(10)]}
