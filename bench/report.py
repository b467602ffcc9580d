"""Everything about writing results down, in one place: the machine, the JSON files in
bench/results/, the PNG plots in docs/benchmarks/, the summary tables printed after a
run, and docs/benchmarks.md rendered from all JSON files (`python -m bench.report`).

A result file holds: name, title, date, machine, params, `targets` (each with value,
target, met, reason when not met), `tables` (title, columns, rows), `notes`, `plots`
(paths relative to the repo) and, for re-plotting, `series` (raw samples)."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
PLOTS_DIR = REPO / "docs" / "benchmarks"
MARKDOWN = REPO / "docs" / "benchmarks.md"
ORDER = ["widget-start", "widget-memory", "latency-cif", "call-to-toast", "functions-cpu", "latency", "overload", "capacity",
         "faults", "fuzz"]


# --- the machine --------------------------------------------------------------------

def machine() -> dict:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    versions = {}
    for pkg in ("uvicorn", "starlette", "a2wsgi", "flask", "websockets", "httpx", "pyjwt", "cryptography"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": cpu_model, "memory_gib": round(mem_kb / 2**20, 1),
            "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
            "kernel": platform.release(), "python": sys.version.split()[0], "packages": versions}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- results ------------------------------------------------------------------------

def target(name: str, value, goal: str, met: bool, reason: str | None = None) -> dict:
    return {"name": name, "value": value, "target": goal, "met": bool(met), "reason": None if met else reason}


def write_result(result: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    result = {"date": now_iso(), "machine": machine(), **result}
    path = RESULTS_DIR / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return path


def load_results() -> list[dict]:
    """Full runs, and smoke (-quick) runs only of what has no full run yet."""
    results = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"))]
    full = {r["name"] for r in results if not r["name"].endswith("-quick")}
    results = [r for r in results if r["name"].removesuffix("-quick") not in full or r["name"] in full]

    def key(r: dict):
        base = r["name"].removesuffix("-quick")
        return (ORDER.index(base) if base in ORDER else len(ORDER), r["name"].endswith("-quick"), r["name"])
    return sorted(results, key=key)


# --- printing -----------------------------------------------------------------------

def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def text_table(columns: list[str], rows: list[list]) -> str:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    def line(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths, strict=False)))

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def print_summary(result: dict) -> None:
    print(f"\n== {result.get('title', result['name'])} ==")
    for table in result.get("tables", []):
        print(f"\n{table['title']}\n{text_table(table['columns'], table['rows'])}")
    if result.get("targets"):
        rows = [[t["name"], t["value"], t["target"], "met" if t["met"] else "NOT met", t.get("reason") or ""]
                for t in result["targets"]]
        print(f"\nTargets\n{text_table(['figure', 'value', 'target', 'verdict', 'why not'], rows)}")
    for note in result.get("notes", []):
        print(f"- {note}")
    for plot in result.get("plots", []):
        print(f"plot: {plot}")


# --- plots --------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_plot(fig, name: str) -> str:
    """Write docs/benchmarks/<name>.png, close the figure; the path relative to the repo."""
    PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = PLOTS_DIR / f"{name}.png"
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return str(path.relative_to(REPO))


def plot_latency(result: dict) -> list[str]:
    """Histogram and CDF of delivery latency, one series per mode."""
    plt = _pyplot()
    series = result.get("series", {})
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4.2))
    import numpy as np

    everything = [v for values in series.values() for v in values if v > 0]
    bins = np.logspace(np.log10(max(min(everything, default=0.1), 0.1)), np.log10(max(everything, default=1)) + 0.01,
                       60)
    for label, values in series.items():
        values = sorted(values)
        if not values:
            continue
        hist.hist(values, bins=bins, alpha=0.55, label=label)
        cdf.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=label)
    hist.set_xscale("log")
    hist.set_xlabel(result.get("xlabel", "POST sent → ReceiveNotification at the agent") + " (ms, log scale)")
    hist.set_ylabel("notifications")
    hist.legend()
    cdf.set_xscale("log")
    cdf.set_xlabel("latency (ms, log scale)")
    cdf.set_ylabel("fraction ≤ x")
    for p in (0.5, 0.99):
        cdf.axhline(p, color="gray", lw=0.6, ls=":")
    cdf.legend()
    fig.suptitle(result.get("title", "latency"))
    fig.tight_layout()
    return [save_plot(fig, result["name"])]


def plot_capacity(result: dict) -> list[str]:
    """Server RSS and CPU vs agents; delivery p99 vs agents."""
    plt = _pyplot()
    steps = [s for s in result.get("steps", []) if s.get("agents")]
    if not steps:
        return []
    agents = [s["agents"] for s in steps]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.6))
    ax.plot(agents, [s["rss_mb"] for s in steps], "o-", color="tab:blue", label="server RSS (MB)")
    ax.set_xlabel("connected agents")
    ax.set_ylabel("RSS (MB)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(agents, [s["cpu_hold_pct"] for s in steps], "s--", color="tab:red", label="CPU % idle hold")
    ax2.plot(agents, [s["cpu_notify_pct"] for s in steps], "^-", color="tab:orange", label="CPU % notifications")
    ax2.set_ylabel("server CPU % (100 = one core)", color="tab:red")
    lines = ax.get_lines() + ax2.get_lines()
    fig.legend(lines, [line.get_label() for line in lines], loc="lower center", ncol=3, fontsize="small")
    ax.set_title(f"{result.get('title', 'capacity')}: server resources", fontsize="medium")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    paths.append(save_plot(fig, f"{result['name']}-resources"))

    fig, ax = plt.subplots(figsize=(7, 4.8))
    ax.plot(agents, [s["delivery"]["p50"] for s in steps], "o-", label="delivery p50")
    ax.plot(agents, [s["delivery"]["p99"] for s in steps], "s-", label="delivery p99")
    goal = result.get("params", {}).get("p99_target_ms")
    if goal:
        ax.axhline(goal, color="gray", ls=":", label=f"p99 target {goal} ms")
    ax.set_yscale("log")
    ax.set_xlabel("connected agents")
    ax.set_ylabel("ms (log scale)")
    ax3 = ax.twinx()
    ax3.plot(agents, [s["notify_rate"] for s in steps], "d--", color="tab:green", label="notifications/s delivered")
    ax3.set_ylabel("notifications/s", color="tab:green")
    lines = ax.get_lines() + ax3.get_lines()
    fig.legend(lines, [line.get_label() for line in lines], loc="lower center", ncol=2, fontsize="small")
    ax.set_title(f"{result.get('title', 'capacity')}: delivery under load", fontsize="medium")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    paths.append(save_plot(fig, f"{result['name']}-latency"))
    return paths


# --- docs/benchmarks.md ---------------------------------------------------------------

def _md_table(columns: list[str], rows: list[list]) -> str:
    def esc(v) -> str:
        return _fmt(v).replace("|", "\\|")

    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def _anchor(result: dict) -> str:
    """GitHub's anchor of the run's heading `## <title> (`<name>`)`."""
    heading = f"{result.get('title', result['name'])} ({result['name']})".lower()
    return "".join(c for c in heading.replace(" ", "-") if c.isalnum() or c in "-_")


def render_markdown(results: list[dict] | None = None) -> str:
    results = load_results() if results is None else results
    out = ["# Benchmarks and fault runs", "",
           "Generated by `python -m bench.report` from `bench/results/*.json`; re-run a benchmark with "
           "`.venv/bin/python -m bench widget|capacity|latency|faults|fuzz|all [--quick]`. Everything runs on loopback "
           "on one machine: the server, the load generator and the sender share its cores, so the figures are a "
           "floor for a dedicated server. Names ending in `-quick` are smoke runs with small sizes.", ""]
    summary = [[f"[{r.get('title', r['name'])}](#{_anchor(r)})", t["name"], t["value"], t["target"],
                "✅ met" if t["met"] else "❌ not met"] for r in results for t in r.get("targets", [])]
    if summary:
        out += ["## Targets at a glance", "", _md_table(["run", "figure", "measured", "target", "verdict"], summary),
                "", "Each run's section below gives the reason where a target is not met.", ""]
    for r in results:
        m = r.get("machine", {})
        out += [f"## {r.get('title', r['name'])} (`{r['name']}`)", ""]
        if r.get("summary"):
            out += [r["summary"], ""]
        out += [f"Run {r.get('date', '?')} on {m.get('nproc', '?')} × {m.get('cpu_model', '?')}, "
                f"{m.get('memory_gib', '?')} GiB, Linux {m.get('kernel', '?')}, Python {m.get('python', '?')}"
                + (f"; took {r['duration_s']:.0f} s" if r.get("duration_s") else "")
                + (f"; load average at the end {' / '.join(m['loadavg_at_end'])}" if m.get("loadavg_at_end") else "")
                + ".", ""]
        if r.get("params"):
            out += ["Parameters: " + ", ".join(f"`{k}`={_fmt(v)}" for k, v in r["params"].items()), ""]
        if r.get("targets"):
            rows = [[t["name"], t["value"], t["target"], "✅ met" if t["met"] else "❌ not met", t.get("reason") or ""]
                    for t in r["targets"]]
            out += ["### Targets", "", _md_table(["figure", "measured", "target", "verdict", "reason when not met"],
                                                 rows), ""]
        for table in r.get("tables", []):
            out += [f"### {table['title']}", "", _md_table(table["columns"], table["rows"]), ""]
        if r.get("notes"):
            out += ["### Notes", ""] + [f"- {n}" for n in r["notes"]] + [""]
        for plot in r.get("plots", []):
            rel = os.path.relpath(REPO / plot, MARKDOWN.parent)
            out += [f"![{Path(plot).stem}]({rel})", ""]
    return "\n".join(out).rstrip() + "\n"


def write_markdown() -> Path:
    MARKDOWN.parent.mkdir(parents=True, exist_ok=True)
    MARKDOWN.write_text(render_markdown())
    return MARKDOWN


def replot() -> None:
    """Redraw every plot from the JSON files (after a change to the plotting code)."""
    for result in load_results():
        base = result["name"].removesuffix("-quick")
        if base.startswith("latency") or base == "call-to-toast":
            plot_latency(result)
        elif base == "capacity":
            plot_capacity(result)


if __name__ == "__main__":
    if "--replot" in sys.argv:
        replot()
    print(write_markdown())
