"""CPU per notification in the functions (what Azure Functions bills), without the web host:
`SendMessageToUser` called in-process on the real handlers with the real token validator
(the local identity provider's keys, fetched once; testkit/inprocess.py), the real SQLite store, and a SignalR
client whose transport answers at once (HEAD users → 200, POST → 202): no network, no
service. CPU = time.process_time() over the calls; the profile is cProfile's over a run
of its own, folded into the parts a change would touch (`python -m bench cpu`)."""
from __future__ import annotations

import cProfile
import json
import pstats
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from server.functions.handlers import Functions
from server.store import Store
from testkit.inprocess import InProcess

from . import report

TARGET_MS = 1.0
# First match wins, tested against the profiled function's file and name.
PARTS = [
    ("PyJWT and token checks (REST tokens when signed; the bearer token once per token)",
     ("jwt/", "server/auth.py", "cryptography")),
    ("SignalR REST client (httpx request building)", ("httpx/", "signalr_rest.py", "azure_signalr.py",
                                                       "httpcore/", "h11/")),
    ("SQLite store", ("server/store/", "sqlite3")),
    ("JSON (body, payload, log line)", ("json/",)),
    ("logging", ("logging/", "server/log.py")),
    ("handler code (validation, ids, the message loader)", ("server/functions/", "server/jsonbody.py",
                                                             "adaptor_core/")),
]


def _setup(local: InProcess, tmp: Path) -> tuple[Functions, Store]:
    """The handlers of the in-process stack (its Config and token check) on a SQLite store
    of their own, with SignalR's REST API answering at once and shedding off."""
    from server.azure_signalr import ConnectionString
    from server.functions.signalr_rest import SignalRRest
    from server.store import open_store

    def service(request: httpx.Request) -> httpx.Response:  # the no-op SignalR service
        return httpx.Response(200 if request.method == "HEAD" else 202)

    signalr = ConnectionString.parse("Endpoint=https://signalr.invalid;AccessKey=" + "k" * 44 + ";Version=1.0;")
    store = open_store(None, tmp, "ConnectionEntity")
    rest = SignalRRest(signalr, httpx.Client(transport=httpx.MockTransport(service)))
    return Functions(replace(local.config, signalr=signalr), local.validator, store, rest), store


def _calls(functions: Functions, token: str, oid: str, count: int, tag: str) -> None:
    from server.functions.http import FunctionRequest, Headers

    headers = Headers({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    for i in range(count):
        body = json.dumps({"userId": oid, "messageId": f"{tag}-{i}", "message": {
            "PhoneNumber": "+15551234567", "comments": "Billing question", "mediaType": "voice",
            "interactionId": f"{tag}-{i}"}}).encode()
        r = functions.SendMessageToUser(FunctionRequest("POST", "https://x/api/SendMessageToUser", headers, body=body))
        assert r.status == 202 and r.body["status"] == "sent", r.body


def _fold(stats: pstats.Stats) -> tuple[list[list], list[list], float]:
    total = sum(v[2] for v in stats.stats.values())  # tottime
    parts = {label: 0.0 for label, _ in PARTS}
    parts["other (Python, interpreter)"] = 0.0
    top = []
    for (file, line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        where = f"{file}:{name}"
        label = next((lbl for lbl, keys in PARTS if any(k in where for k in keys)), "other (Python, interpreter)")
        parts[label] += tt
        top.append((tt, f"{name} ({Path(file).name}:{line})"))
    top.sort(reverse=True)
    return ([[label, round(100 * t / total, 1)] for label, t in sorted(parts.items(), key=lambda kv: -kv[1])],
            [[where, round(100 * tt / total, 1)] for tt, where in top[:12]], total)


def measure(count: int, warmup: int = 200) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp, InProcess(Path(tmp) / "stack") as local:
        functions, store = _setup(local, Path(tmp))
        token, oid = local.tokens["sender"], local.oid("alice")
        try:
            _calls(functions, token, oid, warmup, "warmup")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            _calls(functions, token, oid, count, "run")
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            profiler = cProfile.Profile()
            profiler.enable()
            _calls(functions, token, oid, min(count, 1000), "profiled")
            profiler.disable()
            parts, top, _ = _fold(pstats.Stats(profiler))
        finally:
            store.close()
    return {"count": count, "cpu_ms": 1000 * cpu / count, "wall_ms": 1000 * wall / count, "parts": parts, "top": top}


def run(quick: bool = False) -> dict:
    count = 500 if quick else 5000
    started = time.monotonic()
    m = measure(count)
    cpu_ms = round(m["cpu_ms"], 3)
    result = {
        "name": "functions-cpu" + ("-quick" if quick else ""),
        "title": "Functions CPU per notification (SendMessageToUser in process)",
        "summary": __doc__.split("\n\n")[0].replace("\n", " "),
        "duration_s": round(time.monotonic() - started, 1),
        "params": {"calls": count, "store": "SQLite (WAL, synchronous=NORMAL)", "SignalR": "no-op transport"},
        "targets": [report.target("CPU per SendMessageToUser (ms)", cpu_ms, f"≤ {TARGET_MS:g}", cpu_ms <= TARGET_MS,
                                  "see the profile: the two SignalR REST calls (presence HEAD, send POST) through "
                                  "httpx are the largest part, then SQLite; the token check is remembered per token; "
                                  "the machine was shared")],
        "tables": [
            {"title": "Per call (ms)", "columns": ["figure", "ms"],
             "rows": [["CPU (process time)", cpu_ms], ["wall", round(m["wall_ms"], 3)]]},
            {"title": "Where the CPU goes (cProfile, own time)", "columns": ["part", "% of CPU"], "rows": m["parts"]},
            {"title": "Top functions by own time", "columns": ["function", "% of CPU"], "rows": m["top"]},
        ],
        "notes": ["cProfile adds its own overhead per call; the percentages, not its absolute times, are the profile."],
    }
    report.write_result(result)
    report.print_summary(result)
    return result
