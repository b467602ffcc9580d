"""`python -m bench faults`: the fault scenarios of testkit/faults.py at full size, each
against a fresh stack, written down as bench/results/faults.json."""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from testkit.faults import (
    RECONCILE_SECONDS,
    Scenario,
    clock_skew,
    kill_restart,
    store_locked,
    upstream_faults,
    upstream_with_store_locked,
)
from testkit.server import ServerProcess

from . import report

# --- the command ---------------------------------------------------------------------

def _scenario_table(sc: Scenario) -> dict:
    return {"title": sc.title, "columns": ["check", "observed", "expected", "ok"],
            "rows": [[w, json.dumps(o) if isinstance(o, (list, dict)) else o, e, "yes" if ok else "NO"]
                     for w, o, e, ok in sc.checks]}


AZURITE_NOTE = ("(b) Azure Tables: Azurite stopped and started again is a test, not a scenario here "
                "(tests/test_store.py::test_azurite_stopped_is_unavailable_soon_and_nothing_is_lost_when_it_returns): "
                "StoreUnavailable (503 store_unavailable) within 5 s — the SDK's retries are cut to two quick ones — "
                "no partial write, and the data is there when it returns.")


def run(quick: bool = False) -> dict:
    t0 = time.monotonic()
    agents = 50 if quick else 200
    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        tmp_path = Path(tmp)
        print(f"[faults] (a) kill -9 under load with {agents} agents …", flush=True)
        with ServerProcess(tmp_path / "a", load_users=agents) as server:
            scenarios.append(asyncio.run(kill_restart(server, agents=agents, rate=20 if quick else 40)))
        print("[faults] (b) store locked …", flush=True)
        with ServerProcess(tmp_path / "b", load_users=2,
                           env={"ADAPTOR_RECONCILE_SECONDS": str(RECONCILE_SECONDS)}) as server:
            scenarios.append(asyncio.run(store_locked(server)))
            print("[faults] (c) webhook failing on the real stack …", flush=True)
            scenarios.append(asyncio.run(upstream_with_store_locked(server)))
        print("[faults] (c) emulator with a failing / slow webhook …", flush=True)
        scenarios.append(asyncio.run(upstream_faults(tmp_path / "c")))
        print("[faults] (d) clock skew …", flush=True)
        scenarios.append(clock_skew(tmp_path / "d"))
    targets = [report.target(sc.title, f"{sum(c[3] for c in sc.checks)}/{len(sc.checks)} checks", "all checks",
                             sc.passed, "; ".join(f"{w}: {o} (expected {e})" for w, o, e, _ in sc.failures()))
               for sc in scenarios]
    figures_rows = [[sc.name, k, json.dumps(v) if isinstance(v, (dict, list)) else v]
                    for sc in scenarios for k, v in sc.figures.items()]
    result = {
        "name": "faults-quick" if quick else "faults",
        "title": "Fault runs" + (" — quick" if quick else ""),
        "summary": "Each scenario against a fresh stack (or, for the emulator, the emulator alone with a fake "
                   "functions app); the same functions run as tests in tests/test_faults.py.",
        "duration_s": round(time.monotonic() - t0, 1), "params": {"agents_kill_restart": agents},
        "targets": targets,
        "tables": [_scenario_table(sc) for sc in scenarios]
                  + [{"title": "Figures", "columns": ["scenario", "figure", "value"], "rows": figures_rows}],
        "notes": [f"{sc.name}: {n}" for sc in scenarios for n in sc.notes] + [AZURITE_NOTE],
        "passed_all": all(sc.passed for sc in scenarios),
    }
    report.write_result(result)
    report.print_summary(result)
    return result
