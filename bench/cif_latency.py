"""Notification latency as the agent sees it: SendMessageToUser POST → notifyEvent in the
CIF host, from the calls bench/widget.py drives through the host (bench/cif_driver.py)."""
from __future__ import annotations

from . import report
from .latency import TARGET_P50_MS, TARGET_P99_MS
from .measure import summary_ms

STAGES = [("POST → 202", "post_ms"), ("POST → searchAndOpenRecords", "search_ms"),
          ("POST → notifyEvent", "notify_ms"), ("POST → task created (after Reject)", "task_ms")]


def build_result(timings: list[dict], count: int, suffix: str, duration: float) -> dict:
    by_stage = {key: summary_ms([t[key] / 1000 for t in timings]) for _, key in STAGES}
    notify = by_stage["notify_ms"]
    search = by_stage["search_ms"]["p50"]
    why = (f"at p50 the push reaches the widget and it asks the host for the contact {search} ms after the POST "
           f"(server, WebSocket, Python parse); the lookup round trip between the widget's and the host's renderer "
           f"processes and building the notification take the other {round(notify['p50'] - search, 1)} ms")
    return {
        "name": f"latency-cif{suffix}", "title": "Notification latency: POST → notifyEvent in the CIF host",
        "summary": "The widget runs in the local CIF host (host on 127.0.0.1, widget framed from localhost) in "
                   "headless Chromium. The host page itself POSTs /api/SendMessageToUser with a sender token and "
                   "hears the widget's CIF calls, so every figure is on the host page's performance.now() clock. "
                   "Calls are sequential: each notification is rejected, the next one is sent once the widget "
                   "created the task and had 25 ms to acknowledge.",
        "duration_s": round(duration, 1), "xlabel": "POST sent → notifyEvent in the host",
        "params": {"calls": len(timings), "warm-up calls (not counted)": 20, "answer": "Reject",
                   "p50_target_ms": TARGET_P50_MS, "p99_target_ms": TARGET_P99_MS},
        "targets": [
            report.target("POST → notifyEvent p50 (ms)", notify["p50"], f"≤ {TARGET_P50_MS:g}",
                          notify["p50"] is not None and notify["p50"] <= TARGET_P50_MS, why),
            report.target("POST → notifyEvent p99 (ms)", notify["p99"], f"≤ {TARGET_P99_MS:g}",
                          notify["p99"] is not None and notify["p99"] <= TARGET_P99_MS, why),
            report.target("calls that never reached notifyEvent", count - len(timings), "0", len(timings) == count),
        ],
        "tables": [{"title": "Per call, ms after the POST started", "columns": ["stage", "p50", "p95", "p99", "max"],
                    "rows": [[label, by_stage[key]["p50"], by_stage[key]["p95"], by_stage[key]["p99"],
                              by_stage[key]["max"]] for label, key in STAGES]}],
        "series": {"POST → notifyEvent": [round(t["notify_ms"], 3) for t in timings]},
        "notes": ["`python -m bench latency` measures the server's part alone (POST → the hub message at a "
                  "simulated agent's socket) and the rates it sustains."],
    }


def build_comparison(timings: dict[str, list[dict]], suffix: str, duration: float) -> dict:
    """The Python widget against the JS reference widget (bench/reference/), POST →
    notifyEvent, from calls alternating between the two in one run."""
    figures = {side: summary_ms([t["notify_ms"] / 1000 for t in rows]) for side, rows in timings.items()}
    stages = {side: {key: summary_ms([t[key] / 1000 for t in rows]) for _, key in STAGES} for side, rows in timings.items()}
    targets = []
    for figure in ("p50", "p99"):
        py, js = figures["python"][figure], figures["js"][figure]
        ratio = round(py / js, 2) if py and js else None
        targets.append(report.target(f"POST → notifyEvent {figure}, Python / JS reference", ratio, "≤ 1.5×",
                                     ratio is not None and ratio <= 1.5,
                                     f"Python {py} ms against JS {js} ms; see the stages: the part before the "
                                     "lookup is the server's and the push's, the rest the host round trips"))
    return {
        "name": f"call-to-toast{suffix}", "title": "Call to toast: Python widget against a JS reference widget",
        "summary": "Two host pages in one headless Chromium, each in its own browser context: the Python widget "
                   "(signed in as alice) and the JS reference widget (bench/reference/: @microsoft/signalr and "
                   "plain JavaScript making the same CIF calls with the same arguments, signed in as bob). Calls "
                   "alternate between them in batches of 10, each timed as in the run above (POST from the host "
                   "page → the host receiving notifyEvent, one clock), each rejected.",
        "duration_s": round(duration, 1), "xlabel": "POST sent → notifyEvent in the host",
        "params": {"calls_per_side": len(timings["python"]), "batch": 10, "answer": "Reject"},
        "figures": {side: figures[side] for side in figures},
        "targets": targets,
        "tables": [{"title": "Per call, ms after the POST started", "columns": ["stage", "side", "p50", "p95", "p99", "max"],
                    "rows": [[label, side, stages[side][key]["p50"], stages[side][key]["p95"], stages[side][key]["p99"],
                              stages[side][key]["max"]] for label, key in STAGES for side in ("python", "js")]}],
        "series": {f"{side}: POST → notifyEvent": [round(t["notify_ms"], 3) for t in rows] for side, rows in timings.items()},
    }
