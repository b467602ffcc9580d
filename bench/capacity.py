"""Capacity: ramp simulated agents (100 → 1,000 → 2,000 → 5,000 by default) held by a
load generator in 2 worker processes; per step: connected, registered, drops during
an idle hold with keepalive, then notifications at a target rate to random agents,
delivery p50/p99, lost, server RSS and CPU. Stops after the first step that fails
(not every agent connected and registered, a drop, or a lost notification)."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import jwt

from testkit.functions import Sender, SendResult
from testkit.server import ServerProcess
from testkit.tenant import Tenant, agent_tokens, load_username, sender_token

from . import profile, report
from .loadworker import WorkerHandle, raise_open_file_limit
from .measure import CpuMeter, ForeignCpuMeter, SystemCpuMeter, proc_rss_bytes, proc_threads, summary_ms

STEPS, QUICK_STEPS = [100, 1000, 2000, 5000], [50, 200]
WORKERS = 2
TARGET_AGENTS, TARGET_RATE, TARGET_P99_MS = 5000, 1000.0, 50.0
LOSS_WINDOW = 5.0  # a notification not received within this many seconds of its POST is lost
CONNECT_CONCURRENCY = 20  # per worker
MAX_IN_FLIGHT = 64  # POSTs kept open at once, over all sending workers (the server's WSGI pool is 32)


def _oid(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["oid"]


async def notify(sender: Sender, oids: list[str], rate: float, count: int, window: float, max_in_flight: int,
                 rng: random.Random, tag: str) -> tuple[list[SendResult], float]:
    """Open loop at `rate` until `count` are sent or `window` seconds passed; when
    `max_in_flight` POSTs are open the generator waits (back-pressure), so a slow server
    shows as a lower achieved rate rather than an ever-growing queue."""
    gate = asyncio.Semaphore(max_in_flight)
    results: list[SendResult] = []
    tasks: list[asyncio.Task] = []
    t0 = time.monotonic()

    async def one(i: int) -> None:
        try:
            results.append(await sender.send(rng.choice(oids), f"{tag}-{i}-{uuid.uuid4().hex[:10]}"))
        finally:
            gate.release()

    for i in range(count):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        if time.monotonic() - t0 > window:
            gate.release()
            break
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return results, time.monotonic() - t0


async def notify_from_workers(handles: list[WorkerHandle], token: str, oids: list[str], rate: float, count: int,
                              window: float, rng: random.Random, tag: str) -> tuple[list[SendResult], float]:
    """The worker processes send (each rate/N, count/N); POST and delivery times are
    time.monotonic(), one clock for all processes of the machine."""
    n = len(handles)
    replies = await asyncio.gather(*(
        h.call("notify", token=token, oids=oids, rate=rate / n, count=count // n + (i < count % n), window=window,
               max_in_flight=MAX_IN_FLIGHT // n, seed=rng.randrange(2**31), tag=f"{tag}w{i}")
        for i, h in enumerate(handles)))
    return [SendResult(*r) for reply in replies for r in reply["results"]], max(r["seconds"] for r in replies)


async def _all(handles: list[WorkerHandle], op: str, **kw) -> list[dict]:
    return await asyncio.gather(*(h.call(op, **kw) for h in handles))


async def _collect(handles, results: list[SendResult], oid_of: dict[str, str]) -> dict:
    """Wait until every accepted notification arrived, or until LOSS_WINDOW seconds after
    the last POST was answered (a 202 means the push was already made)."""
    accepted = {r.message_id: r for r in results if r.accepted}
    got: dict[str, tuple] = {}
    wrong = 0
    deadline = max((r.done for r in accepted.values()), default=time.monotonic()) + LOSS_WINDOW
    duplicates = 0
    while True:
        duplicates = 0
        for reply in await _all(handles, "deliveries"):
            for mid, username, received, _sent, addressed_to in reply["deliveries"]:
                if mid in accepted and mid not in got:
                    got[mid] = (username, received)
                    wrong += addressed_to != oid_of.get(username)
            duplicates += reply["duplicates"]
        if len(got) >= len(accepted) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    latencies = [got[m][1] - r.sent for m, r in accepted.items() if m in got]
    never = sum(1 for m in accepted if m not in got)
    late = sum(1 for m, r in accepted.items() if m in got and got[m][1] - r.sent > LOSS_WINDOW)
    return {"latencies": latencies, "never": never, "late": late, "lost": never + late, "wrong_agent": wrong,
            "accepted": len(accepted), "duplicates": duplicates}


async def run_async(server: ServerProcess, steps: list[int], hold: float, notify_count: int, rate: float,
                    window: float, profile_dir: Path | None, final_hold: float | None = None) -> dict:
    tenant = Tenant.from_identity(server.url, server.identity())
    ctx = multiprocessing.get_context("spawn")
    handles = [WorkerHandle(ctx, server.url, str(server.ca), i) for i in range(WORKERS)]
    rng = random.Random(20240)
    out_steps: list[dict] = []
    me = CpuMeter(os.getpid())
    try:
        async with server.async_http(max_connections=32) as idp, \
                server.async_http(max_connections=MAX_IN_FLIGHT) as send_http:
            sender = Sender(send_http, server.url, await sender_token(idp, tenant))
            baseline_rss = proc_rss_bytes(server.pid)
            users: list[tuple[str, str]] = []  # (username, oid) of every agent started so far
            for target in steps:
                step: dict = {"agents": target}
                hold_s = final_hold if final_hold is not None and target == steps[-1] else hold
                print(f"[capacity] step {target}: signing in {target - len(users)} users …", flush=True)
                names = [load_username(i) for i in range(len(users) + 1, target + 1)]
                t0 = time.monotonic()
                tokens = await agent_tokens(idp, tenant, names, concurrency=16)
                step["signin_s"] = round(time.monotonic() - t0, 1)
                entries = [(n, _oid(tokens[n]), tokens[n]) for n in names]
                users += [(n, oid) for n, oid, _ in entries]

                print(f"[capacity] step {target}: connecting {len(entries)} agents …", flush=True)
                t0 = time.monotonic()
                cpu, syscpu = CpuMeter(server.pid), SystemCpuMeter()
                adds = await asyncio.gather(*(
                    h.call("add", agents=entries[i::WORKERS], concurrency=CONNECT_CONCURRENCY, timeout=120,
                           total_timeout=900) for i, h in enumerate(handles)))
                step["connect_s"] = round(time.monotonic() - t0, 1)
                step["connect_rate"] = round(len(entries) / max(step["connect_s"], 0.001), 1)
                step["cpu_connect_pct"] = round(cpu.read(), 1)
                step["errors"] = [e for a in adds for e in a["errors"]][:5]
                status = await _all(handles, "status")
                step["connected"] = sum(s["connected"] for s in status)
                step["registered"] = sum(s["registered_total"] for s in status)

                print(f"[capacity] step {target}: {step['connected']} connected, {step['registered']} registered"
                      f" in {step['connect_s']} s; holding {hold_s:.0f} s …", flush=True)
                await _all(handles, "mark")
                await _all(handles, "usage")
                others = ForeignCpuMeter([server.pid, os.getpid()] + [h.process.pid for h in handles])
                cpu.start()
                syscpu.start()
                rss_peak = 0
                t_hold = time.monotonic()
                step["hold_s"] = hold_s
                while time.monotonic() - t_hold < hold_s:
                    await asyncio.sleep(min(1.0, max(0.0, hold_s - (time.monotonic() - t_hold))))
                    rss_peak = max(rss_peak, proc_rss_bytes(server.pid))
                step["cpu_hold_pct"] = round(cpu.read(), 1)
                step["system_cpu_hold_pct"] = round(syscpu.read(), 1)
                step["others_cpu_hold_pct"] = round(others.read(), 1)
                usage = await _all(handles, "usage")
                step["workers_cpu_hold_pct"] = round(sum(u["cpu_pct"] for u in usage), 1)
                step["workers_rss_mb"] = round(sum(u["rss_bytes"] for u in usage) / 2**20, 1)
                drops = await _all(handles, "drops")
                step["drops"] = sum(d["dropped"] for d in drops)
                step["drop_reasons"] = [r for d in drops for r in d["reasons"]][:5]
                step["connected_after_hold"] = sum(d["connected"] for d in drops)

                count = notify_count
                print(f"[capacity] step {target}: {step['drops']} drops; up to {count} notifications at "
                      f"{rate:.0f}/s for at most {window:.0f} s …", flush=True)
                registered = [oid for _, oid in users]
                await _all(handles, "usage")  # restart the workers' CPU meters
                cpu.start()
                syscpu.start()
                others.start()
                me.start()
                prof = None
                if profile_dir is not None and target == steps[-1]:
                    prof = profile.start(server.pid, min(window, count / rate), profile_dir / f"capacity-{target}.txt")
                results, seconds = await notify_from_workers(handles, sender.headers["Authorization"][7:],
                                                             registered, rate, count, window, rng, f"cap{target}")
                step["cpu_notify_pct"] = round(cpu.read(), 1)
                step["others_cpu_notify_pct"] = round(others.read(), 1)
                step["system_cpu_notify_pct"] = round(syscpu.read(), 1)
                step["orchestrator_cpu_notify_pct"] = round(me.read(), 1)
                step["workers_cpu_notify_pct"] = round(sum(u["cpu_pct"] for u in await _all(handles, "usage")), 1)
                if prof is not None:
                    prof.wait(timeout=60)
                    raw = profile_dir / f"capacity-{target}.txt"
                    if raw.exists():
                        step["profile"] = profile.fold(raw)
                collected = await _collect(handles, results, dict(users))
                step["notify_sent"] = len(results)
                step["notify_accepted"] = collected["accepted"]
                step["notify_errors"] = sum(1 for r in results if not r.accepted)
                step["notify_seconds"] = round(seconds, 2)
                step["notify_rate"] = round((collected["accepted"] - collected["never"]) / seconds, 1) if seconds else 0
                step["server_cpu_ms_per_notification"] = round(
                    10 * step["cpu_notify_pct"] * seconds / max(collected["accepted"], 1), 2)
                step["delivery"] = summary_ms(collected["latencies"])
                step["post"] = summary_ms([r.done - r.sent for r in results if r.status is not None])
                step["lost"] = collected["lost"]  # never + late (> 5 s): the benchmark's definition
                step["never_delivered"] = collected["never"]
                step["late"] = collected["late"]
                step["wrong_agent"] = collected["wrong_agent"]
                step["raw_duplicates"] = collected["duplicates"]
                step["queued_not_sent"] = sum(1 for r in results if r.accepted and (r.body or {}).get("status") != "sent")
                rss = proc_rss_bytes(server.pid)
                step["rss_mb"] = round(rss / 2**20, 1)
                step["rss_peak_hold_mb"] = round(rss_peak / 2**20, 1)
                step["rss_per_agent_kb"] = round((rss - baseline_rss) / 1024 / target, 1)
                step["threads"] = proc_threads(server.pid)
                # A step fails when agents don't all connect and stay, or a notification never
                # arrives; late ones (> 5 s) count as lost against the target but don't end the ramp.
                step["passed"] = (step["connected"] == target and step["registered"] == target
                                  and step["drops"] == 0 and step["never_delivered"] == 0
                                  and step["wrong_agent"] == 0)
                out_steps.append(step)
                print(f"[capacity] step {target}: rate {step['notify_rate']}/s, p50 {step['delivery']['p50']} ms, "
                      f"p99 {step['delivery']['p99']} ms, late {step['late']}, never {step['never_delivered']}, "
                      f"RSS {step['rss_mb']} MB, others' CPU {step['others_cpu_notify_pct']} %, "
                      f"{'passed' if step['passed'] else 'FAILED'}", flush=True)
                if not step["passed"]:
                    break
    finally:
        for h in handles:
            h.end()
    return {"steps": out_steps, "baseline_rss_mb": round(baseline_rss / 2**20, 1)}


def build_result(figures: dict, params: dict, quick: bool, duration: float) -> dict:
    steps = figures["steps"]
    passed = [s for s in steps if s["passed"]]
    held = max((s["agents"] for s in passed), default=0)
    failed = next((s for s in steps if not s["passed"]), None)
    best = max(steps, key=lambda s: s["notify_rate"], default=None)
    last = steps[-1] if steps else None
    why_held = None
    if failed:
        why_held = (f"step {failed['agents']}: {failed['connected']} connected, {failed['registered']} registered, "
                    f"{failed['drops']} drops, {failed['never_delivered']} never delivered"
                    + (f"; {failed['drop_reasons'][:2]}" if failed["drop_reasons"] else "")
                    + (f"; errors {failed['errors'][:2]}" if failed["errors"] else ""))
    elif held < TARGET_AGENTS:
        why_held = f"the ramp stopped at {held} (steps {params['steps']})"
    rate_reason = None
    if last is not None:
        rate_reason = (f"the server took ~{last['server_cpu_ms_per_notification']:.1f} ms of its CPU per notification "
                       f"({last['cpu_notify_pct']:.0f} % of one core; one process, one GIL: TLS + HTTP + Flask, the "
                       "token check, SQLite, the push; see the profile) while the load generators (sending workers "
                       f"with the agents) took {last.get('workers_cpu_notify_pct', 0):.0f} % — on 2 cores the machine "
                       "is shared by both sides, so ~1,000/s would need ≤ 1 ms of server CPU per notification, or "
                       "the functions in more processes than the SignalR service")
    targets = [
        report.target("agents held with keepalive, 0 drops", held, f"≥ {TARGET_AGENTS:,}", held >= TARGET_AGENTS,
                      why_held),
        report.target("notifications/s delivered (largest step)", last["notify_rate"] if last else None,
                      f"≥ {TARGET_RATE:,.0f}/s", bool(last and last["notify_rate"] >= TARGET_RATE), rate_reason),
        report.target("delivery p99 (largest step)", last["delivery"]["p99"] if last else None,
                      f"≤ {TARGET_P99_MS:g} ms", bool(last and last["delivery"]["p99"] is not None
                                                     and last["delivery"]["p99"] <= TARGET_P99_MS),
                      "offered 1,000/s is more than the machine delivers: POSTs queue, and every later one waits"),
        report.target("lost notifications, all steps (not received within 5 s)", sum(s["lost"] for s in steps), "0",
                      sum(s["lost"] for s in steps) == 0,
                      f"{sum(s['late'] for s in steps)} arrived late (> 5 s after the POST, queued behind the "
                      f"saturated machine), {sum(s['never_delivered'] for s in steps)} never"),
    ]
    cols = ["agents", "connected", "registered", "connect s", "drops", "sent", "late >5 s", "never", "rate /s",
            "p50 ms", "p99 ms", "POST p99 ms", "RSS MB", "KB/agent", "CPU% hold", "CPU% notify", "CPU ms/notif.",
            "load gen. CPU% notify", "others' CPU% hold", "others' CPU% notify"]
    rows = [[s["agents"], s["connected"], s["registered"], s["connect_s"], s["drops"], s["notify_sent"], s["late"],
             s["never_delivered"], s["notify_rate"], s["delivery"]["p50"], s["delivery"]["p99"], s["post"]["p99"],
             s["rss_mb"], s["rss_per_agent_kb"], s["cpu_hold_pct"], s["cpu_notify_pct"],
             s["server_cpu_ms_per_notification"], s.get("workers_cpu_notify_pct"), s["others_cpu_hold_pct"],
             s["others_cpu_notify_pct"]]
            for s in steps]
    tables = [{"title": "Steps", "columns": cols, "rows": rows}]
    prof = next((s["profile"] for s in reversed(steps) if s.get("profile")), None)
    if prof:
        tables.append({"title": f"Server CPU during the notifications of the last step (py-spy, "
                                f"{prof['samples']} samples of active threads)",
                       "columns": ["where", "% of samples"], "rows": prof["categories"]})
        tables.append({"title": "Top leaf functions", "columns": ["function", "% of samples"], "rows": prof["leaves"]})
    notes = [
        f"server RSS before any agent: {figures['baseline_rss_mb']} MB; KB/agent = (RSS − that) / agents.",
        "Server CPU % is of one core (one process; its Python code holds the GIL). others' CPU % = CPU used by "
        "processes that are not part of this run (server, orchestrator, workers): the machine is shared, and "
        "200 % would be both cores.",
        "The agents' worker processes also send the notifications (each half the rate); CPU % figures of "
        "the server, of those workers and of other processes are each of one core.",
        "Agents do not acknowledge notifications in this run (acks would add one upstream webhook per "
        "notification); their keepalive is the core's 15 s, the service's 15 s / 30 s timeout.",
    ]
    for s in steps:
        if s["errors"]:
            notes.append(f"step {s['agents']}: first agent errors: {s['errors'][:3]}")
        if s["drop_reasons"]:
            notes.append(f"step {s['agents']}: drop reasons: {s['drop_reasons'][:3]}")
    if best is not None and best is not last:
        notes.append(f"best notification rate: {best['notify_rate']}/s at {best['agents']} agents")
    return {
        "name": "capacity-quick" if quick else "capacity",
        "title": "Capacity: agents held and notifications under load" + (" — quick" if quick else ""),
        "summary": f"One server process; the load generator in {WORKERS} worker processes (asyncio, SimAgent "
                   "with register=True) and the sender in the orchestrator process, all on the same machine "
                   "over loopback TLS.",
        "duration_s": round(duration, 1), "params": params, "steps": steps,
        "baseline_rss_mb": figures["baseline_rss_mb"], "targets": targets, "tables": tables, "notes": notes,
        "passed_all": bool(steps) and all(s["passed"] for s in steps),
    }


def run(quick: bool = False, hold: float | None = None, steps: list[int] | None = None, final_hold: float | None = None,
        rate: float | None = None, notify_count: int | None = None, window: float = 10.0,
        profile_run: bool = True) -> dict:
    raise_open_file_limit()
    steps = steps or (QUICK_STEPS if quick else STEPS)
    hold = hold if hold is not None else (10.0 if quick else 60.0)
    final_hold = final_hold if final_hold is not None else (hold if quick else 600.0)  # the target: 10 min
    rate = rate or (100.0 if quick else TARGET_RATE)
    notify_count = notify_count or (200 if quick else int(rate * window))
    params = {"steps": ",".join(map(str, steps)), "hold_s": hold, "largest_step_hold_s": final_hold, "rate_target": rate,
              "notifications_per_step_max": notify_count, "notify_window_s": window, "max_in_flight": MAX_IN_FLIGHT,
              "workers": WORKERS,
              "connect_concurrency_per_worker": CONNECT_CONCURRENCY, "loss_window_s": LOSS_WINDOW,
              "p99_target_ms": TARGET_P99_MS,
              "keepalive_s": float(os.environ.get("ADAPTOR_SIGNALR_KEEPALIVE", "15"))}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        # what one process holds: shedding off (bench/latency.py's overload run has it on)
        server = ServerProcess(Path(tmp) / "state", load_users=max(steps), env={"MaxNotificationsPerSecond": "0"})
        with server:
            figures = asyncio.run(run_async(server, steps, hold, notify_count, rate, window,
                                            Path(tmp) if profile_run else None, final_hold))
    result = build_result(figures, params, quick, time.monotonic() - t0)
    result["plots"] = report.plot_capacity(result)
    report.write_result(result)
    report.print_summary(result)
    return result
