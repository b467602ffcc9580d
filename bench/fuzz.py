"""Long fuzz run: the properties of tests/test_fuzz.py (same strategies, same checks)
with ≥ 100,000 examples in total, spread over 2 processes; prints the counts per
property. The pinned deep-nesting inputs are also sent to a running server to show what
a client sees (HTTP status; WebSocket close) — not only what the parser raises."""
from __future__ import annotations

import asyncio
import math
import multiprocessing
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import report

REPO = Path(__file__).resolve().parent.parent
TOTAL, QUICK_TOTAL = 120_000, 7_000


def _run_property(name: str, examples: int) -> dict:
    """In a worker process: run one property, counting the examples actually tried."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import testkit.fuzzing as tf

    calls = [0]
    _, check = tf.PROPERTIES[name]

    def counted(value) -> None:
        calls[0] += 1
        check(value)

    t0 = time.monotonic()
    failure = None
    try:
        tf.property_test(name, examples, counted)()
    except BaseException as exc:  # a falsifying example: report it, don't stop the others
        failure = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:600]
    return {"property": name, "max_examples": examples, "examples": calls[0],
            "seconds": round(time.monotonic() - t0, 1), "failure": failure}


def _deep_inputs() -> list[list]:
    """What the parsers raise on the pinned deep-nesting inputs (unit level)."""
    import testkit.fuzzing as tf
    from adaptor_core import hub_protocol as hp

    rows = []
    for label, fn, allowed in (
            ("hub_protocol.decode(30,000 nested arrays)", lambda: hp.decode(tf.DEEP), "ProtocolError"),
            ("FunctionRequest.json_object(60 KB of nested arrays)",
             lambda: tf._request(tf.DEEP.encode()).json_object(), "ApiError")):
        try:
            fn()
            raised = "nothing"
        except Exception as exc:
            raised = type(exc).__name__
        rows.append([label, raised, allowed, raised == allowed])
    return rows


async def _deep_end_to_end(tmp: Path) -> list[list]:
    """The same inputs through a real server: HTTP answer and WebSocket behaviour."""
    import websockets

    import testkit.fuzzing as tf
    from adaptor_core import connection as c
    from adaptor_core import hub_protocol as hp
    from testkit.faults import client, tenant_of
    from testkit.server import ServerProcess
    from testkit.tenant import agent_tokens, load_username, sender_token

    rows = []
    with ServerProcess(tmp / "state", load_users=1, log_level="warning") as server:
        tenant = tenant_of(server)
        async with client(server.ca) as http:
            token = await sender_token(http, tenant)
            r = await http.post(f"{server.url}/api/SendMessageToUser", content=tf.DEEP.encode(),
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            rows.append(["POST /api/SendMessageToUser, 60 KB nested body", f"{r.status_code} "
                         f"{r.headers.get('content-type', '').split(';')[0]}", "4xx JSON", 400 <= r.status_code < 500])
            name = load_username(1)
            agent_token = (await agent_tokens(http, tenant, [name]))[name]
            info = (await http.post(f"{server.url}/api/negotiate",
                                    headers={"Authorization": f"Bearer {agent_token}"})).json()
            neg = (await http.post(c.negotiate_url(info["url"]),
                                   headers={"Authorization": f"Bearer {info['accessToken']}"})).json()
            url = c.websocket_url(info["url"], neg["connectionToken"], info["accessToken"])
            async with websockets.connect(url, ssl=server.tls(), max_size=2**20, open_timeout=10) as ws:
                await ws.send(hp.encode_handshake_request())
                await asyncio.wait_for(ws.recv(), 5)
                await ws.send(tf.DEEP + hp.RS)
                frames = []
                try:
                    while True:
                        frames.append(await asyncio.wait_for(ws.recv(), 5))
                except websockets.ConnectionClosed as exc:
                    closed = f"closed, close frame {exc.rcvd.code if exc.rcvd else 'none (1006)'}"
                except TimeoutError:
                    closed = "still open"
            got_close = any('"type":7' in f for f in frames)
            rows.append(["WebSocket record of 30,000 nested arrays", f"{closed}, Close message: {got_close}",
                         "Close with an error", got_close])
        log = server.log_path.read_text()
        rows.append(["server log: unhandled exception", "RecursionError" if "RecursionError" in log else "none",
                     "none", "RecursionError" not in log])
        server.stop()
    return rows


def run(quick: bool = False, examples: int | None = None, processes: int = 2) -> dict:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import testkit.fuzzing as tf

    total = examples or (QUICK_TOTAL if quick else TOTAL)
    names = list(tf.PROPERTIES)
    each = math.ceil(total / len(names))
    t0 = time.monotonic()
    print(f"[fuzz] {len(names)} properties × {each:,} examples in {processes} processes …", flush=True)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        rows = pool.starmap(_run_property, [(n, each) for n in names])
    pinned = _deep_inputs()
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        try:
            e2e = asyncio.run(_deep_end_to_end(Path(tmp)))
        except Exception as exc:  # the server part is a bonus; the counts above stand
            e2e = [["end-to-end check", f"could not run: {type(exc).__name__}: {exc}", "", False]]
    done = sum(r["examples"] for r in rows)
    failed = [r for r in rows if r["failure"]]
    targets = [
        report.target("examples run", done, f"≥ {total:,}", done >= total, "a property stopped early"),
        report.target("properties without a falsifying example", f"{len(rows) - len(failed)}/{len(rows)}",
                      "all", not failed, "; ".join(f"{r['property']}: {r['failure']}" for r in failed)),
        report.target("pinned deep-nesting inputs raise only the parser's error",
                      f"{sum(r[3] for r in pinned)}/{len(pinned)}", "all", all(r[3] for r in pinned),
                      "json.loads raises RecursionError, which neither parser catches"),
    ]
    result = {
        "name": "fuzz-quick" if quick else "fuzz",
        "title": "Fuzz: hub protocol and function request parsing" + (" — quick" if quick else ""),
        "summary": "Hypothesis properties from testkit/fuzzing.py: RecordReader.feed + decode + "
                   "decode_handshake_request/response raise only ProtocolError; FunctionRequest.json_object, "
                   "field_ci, want_str, Functions._parse_payload and the SendMessageToUser / userclient handlers "
                   "(with in-memory stand-ins for token check, store and SignalR) raise only ApiError (4xx).",
        "duration_s": round(time.monotonic() - t0, 1),
        "params": {"examples_total": total, "per_property": each, "processes": processes},
        "targets": targets,
        "tables": [
            {"title": "Properties", "columns": ["property", "examples", "seconds", "examples/s", "falsified"],
             "rows": [[r["property"], r["examples"], r["seconds"], round(r["examples"] / max(r["seconds"], 0.01)),
                       r["failure"] or "no"] for r in rows]},
            {"title": "Pinned inputs (unit level)", "columns": ["input", "raised", "allowed", "ok"],
             "rows": [[a, b, c, "yes" if d else "NO"] for a, b, c, d in pinned]},
            {"title": "Pinned inputs through a running server", "columns": ["input", "observed", "expected", "ok"],
             "rows": [[a, b, c, "yes" if d else "NO"] for a, b, c, d in e2e]},
        ],
        "notes": ["Random generation does not reach 1,000+ nesting levels, so the RecursionError case is pinned as "
                  "an explicit example (tests/test_fuzz.py)."],
        "passed_all": done >= total and not failed,
    }
    report.write_result(result)
    report.print_summary(result)
    return result
