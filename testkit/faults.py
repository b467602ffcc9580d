"""Fault runs: what the stack does when the server dies under load, when the store is
locked, when the upstream webhook is down or slow, and when clocks disagree.

Each scenario is an async function over a *target* (anything with `url`, `ca`,
`state_dir`, `pid`, `kill()`, `restart()`: testkit.server.ServerProcess) that returns a
Scenario: checks (what, observed, expected, ok), figures and notes. `python -m bench
faults` runs them all and prints a table; tests/test_faults.py runs the same functions
with small sizes."""
from __future__ import annotations

import asyncio
import collections
import json
import math
import random
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import jwt

from server.http_client import tls_context

from .agents import new_load_agent, start_agents, wait_until
from .functions import Sender, SendResult
from .tenant import Tenant, agent_tokens, load_username, sender_token


class Target(Protocol):
    url: str
    ca: Path
    state_dir: Path
    pid: int

    def kill(self) -> None: ...
    def restart(self): ...


@dataclass
class Scenario:
    name: str
    title: str
    checks: list[list] = field(default_factory=list)  # [what, observed, expected, ok]
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def check(self, what: str, observed, expected, ok: bool) -> bool:
        self.checks.append([what, observed, expected, bool(ok)])
        return bool(ok)

    @property
    def passed(self) -> bool:
        return all(c[3] for c in self.checks)

    def failures(self) -> list[list]:
        return [c for c in self.checks if not c[3]]


def client(ca: Path, connections: int = 32, timeout: float = 30) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=tls_context(ca), trust_env=False, timeout=timeout,
                             limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


def _oid(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["oid"]


def tenant_of(target: Target) -> Tenant:
    return Tenant.from_identity(target.url, json.loads((target.state_dir / "identity.json").read_text()))


def store_connections(state_dir: Path) -> list[tuple[str, str]]:
    """(user_id, connection_id) rows of the SQLite store, read from outside the server."""
    db = sqlite3.connect(f"file:{state_dir / 'adaptor.db'}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT user_id, connection_id FROM connections").fetchall()
    finally:
        db.close()


# --- (a) the server is SIGKILLed under load and restarted ------------------------------

HUNG_NOTE = ("the restarted server hung: every WSGI thread waits in TokenValidator._signing_key() for the lock "
             "(server/auth.py) held by the one thread that fetches the authority's metadata — from this same "
             "server, over HTTPS, through the same 32-thread WSGI pool, where that fetch queues behind the waiters. "
             "It times out after 10 s, the next waiter tries again, and /healthz queues too (py-spy dump: 32 WSGI "
             "threads in TokenValidator, one of them in _fetch_json).")


async def _answers(target: Target, http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get(f"{target.url}/healthz", timeout=10)).status_code == 200
    except httpx.HTTPError:
        return False


async def _messages(sender: Sender, ids: list[str], budget: float = 60) -> list[tuple[int | None, dict | None]]:
    """GET /api/messages/<id> for many ids, 16 at a time, within `budget` seconds."""
    gate = asyncio.Semaphore(16)

    async def one(mid: str):
        async with gate:
            return await sender.message(mid)

    try:
        return await asyncio.wait_for(asyncio.gather(*(one(m) for m in ids)), budget)
    except TimeoutError:
        return [(None, None)] * len(ids)

async def kill_restart(target: Target, agents: int = 200, rate: float = 40.0, before: float = 3.0,
                       after: float = 3.0, ttl: int = 180, reconnect_timeout: float = 120) -> Scenario:
    """Agents connected and acknowledging (as the widget: once per messageId), the sender
    POSTing at `rate` to random agents; SIGKILL; restart on the same port and state dir
    while the sender keeps going; then every agent must be back (connected, registered)
    and every message the functions accepted (202) delivered to its agent."""
    sc = Scenario("kill_restart", "(a) server SIGKILLed under load, restarted on the same port and state dir")
    tenant = tenant_of(target)
    rng = random.Random(7)
    async with client(target.ca) as idp, client(target.ca, 100, timeout=15) as agent_http, \
            client(target.ca, 32, timeout=10) as send_http:
        names = [load_username(i) for i in range(1, agents + 1)]
        tokens = await agent_tokens(idp, tenant, names)
        fleet = [new_load_agent(target.url, n, _oid(tokens[n]), tokens[n], agent_http, tls_context(target.ca),
                                ack=True, tick=0.5, seed=i) for i, n in enumerate(names)]
        await start_agents(fleet, concurrency=20, timeout=60, total_timeout=300)
        sc.check("agents registered before the kill", sum(a.registered for a in fleet), agents,
                 all(a.registered for a in fleet))
        sender = Sender(send_http, target.url, await sender_token(idp, tenant))

        phase = ["before kill"]
        results: list[tuple[str, SendResult]] = []
        stop = asyncio.Event()
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            label = phase[0]
            try:
                results.append((label, await sender.send(rng.choice(fleet).oid, f"crash-{i}-{uuid.uuid4().hex[:8]}",
                                                         ttl=ttl)))
            finally:
                gate.release()

        async def send_loop() -> None:
            t0, tasks = time.monotonic(), []
            for i in range(int(rate * 600)):  # bounded: stop is set long before
                if stop.is_set():
                    break
                delay = t0 + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await gate.acquire()
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.gather(*tasks)

        loop_task = asyncio.create_task(send_loop())
        await asyncio.sleep(before)
        target.kill()
        t_kill = time.monotonic()
        phase[0] = "server down"
        try:
            await asyncio.get_running_loop().run_in_executor(None, target.restart)
        except RuntimeError as exc:  # the restarted server never answered /healthz
            stop.set()
            await loop_task
            sc.check("restarted server answers /healthz while agents reconnect", "no (gave up)", "yes", False)
            sc.figures.update({"agents": agents, "posts": len(results),
                               "restart_error": str(exc).splitlines()[0]})
            sc.notes.append(HUNG_NOTE)
            for a in fleet:
                await a.agent.stop()
            return sc
        t_up = time.monotonic()
        phase[0] = "after restart"
        await asyncio.sleep(after)
        stop.set()
        await loop_task
        all_back = await wait_until(lambda: all(a.registered for a in fleet), reconnect_timeout, 0.25)
        t_back = time.monotonic()
        sc.figures.update({"agents": agents, "down_s": round(t_up - t_kill, 2),
                           "all_registered_after_restart_s": round(t_back - t_up, 2) if all_back else None})
        sc.check("agents connected and registered again", sum(a.registered for a in fleet), agents, all_back)
        alive = await _answers(target, send_http)
        sc.check("restarted server still answers /healthz", "yes" if alive else "no (10 s timeout)", "yes", alive)
        if not alive:
            sc.figures["posts"] = len(results)
            sc.notes.append(HUNG_NOTE)
            for a in fleet:
                await a.agent.stop()
            return sc

        # every accepted message must reach its agent; the ones whose POST died with the
        # server may or may not have been stored — ask the functions.
        accepted = {r.message_id: r for _, r in results if r.accepted}
        unknown = [r for _, r in results if r.status is None]
        stored_unknown: dict[str, SendResult] = {}
        for r, (status, _) in zip(unknown, await _messages(sender, [r.message_id for r in unknown]), strict=True):
            if status == 200:
                stored_unknown[r.message_id] = r
        must_arrive = {**accepted, **stored_unknown}

        def delivered_ids() -> set[str]:
            return {d.message_id for a in fleet for d in a.raw if d.message_id}

        await wait_until(lambda: set(must_arrive) <= delivered_ids(), 60, 0.25)
        await asyncio.sleep(1.0)  # room for a late duplicate or ack
        statuses = collections.Counter((body or {}).get("status", "unknown")
                                       for _, body in await _messages(sender, list(must_arrive)))
        got = delivered_ids()
        lost = [m for m in must_arrive if m not in got]
        wrong = sum(1 for a in fleet for d in a.raw if d.addressed_to and d.addressed_to != a.oid)
        raw = sum(len(a.raw) for a in fleet)
        dups = sum(a.duplicates() for a in fleet)
        shown = sum(len(a.seen) for a in fleet)
        per_phase = collections.Counter((label, "202" if r.accepted else str(r.status or "error"))
                                        for label, r in results)
        stale = store_connections(target.state_dir)
        live = {a.agent.core.connection_id for a in fleet}
        stale_rows = sum(1 for _, cid in stale if cid not in live)
        sc.figures.update({
            "posts": len(results), "accepted_202": len(accepted), "post_failed_no_answer": len(unknown),
            "of_which_stored": len(stored_unknown), "raw_deliveries": raw, "raw_duplicates": dups,
            "shown_after_dedupe": shown, "final_status": dict(statuses),
            "posts_by_phase": {f"{k[0]} → {k[1]}": v for k, v in sorted(per_phase.items())},
            "store_connection_rows": len(stale), "stale_store_rows": stale_rows,
            "reconnect_attempts_max": max(sum(1 for s in a.agent.states if s.state == "reconnecting")
                                          for a in fleet)})
        sc.check("messages accepted (202) or stored, not delivered", len(lost), 0, not lost)
        sc.check("deliveries to an agent the message was not for", wrong, 0, wrong == 0)
        sc.check("messages shown after the agents' dedupe vs distinct messages delivered", shown, len(got),
                 shown == len(got))
        if dups:
            sc.notes.append(f"{dups} raw duplicate deliveries (same agent, same messageId): messages still 'sent' "
                            "(delivered, ack not yet recorded) are redelivered on the agent's next connect "
                            "(handlers._deliver_open_messages); the agent drops them by messageId.")
        stuck = statuses.get("sent", 0)
        if stuck:
            sc.notes.append(f"{stuck} delivered message(s) stay 'sent': their ack was lost in the crash and the "
                            "widget does not ack a duplicate again (web/adaptor.py returns early on a seen id), "
                            "and a 'sent' message never expires (handlers._expire_if_due only expires 'queued').")
        if stale_rows:
            sc.notes.append(f"{stale_rows} store connection rows name connections that died with the server: no "
                            "disconnected event is ever sent for them, so they stay (the 'connections' count in "
                            "SendMessageToUser answers over-reports; delivery is unaffected since it asks the "
                            "service).")
        for a in fleet:
            await a.agent.stop()
    return sc


# --- (b) the store is locked by another process -----------------------------------------

LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
import select
while time.monotonic() < deadline:
    if select.select([sys.stdin], [], [], 0.2)[0]:
        break
db.execute("ROLLBACK")
print("released", flush=True)
"""


class StoreLock:
    """An EXCLUSIVE transaction on the store's SQLite file, held by another process until
    release() (or `max_seconds`, whichever comes first)."""

    def __init__(self, db_path: Path, max_seconds: float = 120):
        self.proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(db_path), str(max_seconds)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None  # both are pipes
        line = self.proc.stdout.readline().strip()
        if line != "locked":
            self.proc.kill()
            raise RuntimeError(f"could not lock {db_path}: {line!r}")

    def release(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
            self.proc.wait(timeout=10)


async def store_locked(target: Target) -> Scenario:
    sc = Scenario("store_locked", "(b) store unwritable: an EXCLUSIVE SQLite transaction held by another process")
    tenant = tenant_of(target)
    async with client(target.ca) as http, client(target.ca) as agent_http:
        name = load_username(1)
        token = (await agent_tokens(http, tenant, [name]))[name]
        agent = new_load_agent(target.url, name, _oid(token), token, agent_http, tls_context(target.ca), tick=0.5)
        await agent.agent.start()
        await agent.agent.wait_registered(30)
        sender = Sender(http, target.url, await sender_token(http, tenant))
        before = await sender.send(agent.oid, f"lock-before-{uuid.uuid4().hex[:8]}")
        sc.check("POST before the lock", before.status, 202, before.status == 202)

        lock = StoreLock(target.state_dir / "adaptor.db")
        try:
            during_id = f"lock-during-{uuid.uuid4().hex[:8]}"
            during = await sender.send(agent.oid, during_id)
            code = (during.body or {}).get("error")
            sc.figures["locked_post_seconds"] = round(during.done - during.sent, 2)
            sc.check("SendMessageToUser while locked", f"{during.status} {code}", "503 store_unavailable",
                     during.status == 503 and code == "store_unavailable")
            await asyncio.sleep(1.0)
            sc.check("agent received the refused message", during_id in agent.seen, False, during_id not in agent.seen)
            status, _ = await sender.message(during_id)
            sc.check("GET of the refused message (reads still work in WAL mode)", status, 404, status == 404)
            status, body = await sender.message(before.message_id)
            sc.check("GET of an earlier message while locked", status, 200, status == 200)
            r = await http.post(f"{target.url}/api/userclient", headers={"Authorization": f"Bearer {token}"},
                                json={"connectionId": agent.agent.core.connection_id, "connectionStatus": 1})
            code = r.json().get("error") if r.headers.get("content-type", "").startswith("application/json") else None
            sc.check("/api/userclient while locked", f"{r.status_code} {code}", "503 store_unavailable",
                     r.status_code == 503 and code == "store_unavailable")
        finally:
            lock.release()
        after = await sender.send(agent.oid, during_id)  # the sender retries the same id
        sc.check("retry of the same messageId after release", f"{after.status} {(after.body or {}).get('status')}",
                 "202 sent", after.status == 202 and (after.body or {}).get("status") == "sent")
        await wait_until(lambda: during_id in agent.seen, 5)
        count = sum(1 for d in agent.raw if d.message_id == during_id)
        sc.check("deliveries of the retried message", count, 1, count == 1)
        await agent.agent.stop()
    sc.notes.append(f"a locked write answers after SQLite's busy timeout (5 s): {sc.figures['locked_post_seconds']} s "
                    "here; reads keep working because the store runs in WAL mode.")
    return sc


# --- (c) the upstream webhook is down or slow -----------------------------------------

async def upstream_faults(tmp: Path) -> Scenario:
    """The emulator alone with a fake functions app (bench/upstream_harness.py)."""
    from .upstream_harness import expected_attempt_offsets, harness

    sc = Scenario("upstream", "(c) upstream webhook down or slow: the emulator's retries")
    offsets = expected_attempt_offsets()

    # 5xx: the functions answer 503 to connected and disconnected events
    async with harness(tmp / "h1") as h:
        h.functions.mode = {"connected": "5xx", "disconnected": "5xx"}
        agent = h.agent()
        await agent.start()
        await agent.wait_registered(10)
        await wait_until(lambda: len(h.functions.attempts("connected")) >= len(offsets), 5)
        await asyncio.sleep(0.5)
        tries = h.functions.attempts("connected")
        rel = [round(t - tries[0], 2) for t in tries]
        sc.check("503 on 'connected': tries", len(tries), len(offsets), len(tries) == len(offsets))
        sc.check("503 on 'connected': try times (s)", rel, offsets,
                 len(rel) == len(offsets) and all(abs(a - b) < 0.3 for a, b in zip(rel, offsets, strict=True)))
        sc.check("503 on 'connected': client stays connected", agent.state, "connected", agent.state == "connected")
        lost_logged = [r.getMessage() for r in h.log if "lost" in r.getMessage() or "gave up" in r.getMessage()]
        sc.check("503 on 'connected': the loss is logged", len(lost_logged), "≥ 1", bool(lost_logged))
        await agent.stop()
        await wait_until(lambda: len(h.functions.attempts("disconnected")) >= len(offsets), 5)
        sc.check("503 on 'disconnected': tries", len(h.functions.attempts("disconnected")), len(offsets),
                 len(h.functions.attempts("disconnected")) == len(offsets))

    # nothing listening where the webhook should be
    async with harness(tmp / "h2", upstream_down=True) as h:
        agent = h.agent()
        await agent.start()
        await agent.wait_registered(10)
        await asyncio.sleep(sum(offsets[-1:]) + 0.8)
        unreachable = [r for r in h.log if "upstream.unreachable" in r.getMessage()]
        sc.check("webhook unreachable: tries logged", len(unreachable), len(offsets), len(unreachable) == len(offsets))
        sc.check("webhook unreachable: client stays connected", agent.state, "connected", agent.state == "connected")
        await agent.stop()

    # slow: every try outlasts the emulator's HTTP timeout (2 s); service timeout 5 s,
    # keepalive 1 s both ways. Messages the client sends meanwhile are not read.
    async with harness(tmp / "h3", keepalive=1.0, timeout=5.0, upstream_timeout=2.0) as h:
        h.functions.mode = {"connected": ("slow", 3.0)}
        agent = h.agent(keepalive=1.0)
        t0 = time.monotonic()
        await agent.start()
        await agent.wait_registered(10)
        dropped = await wait_until(lambda: any(s.state != "connected" for s in agent.states[2:]), 12, 0.1)
        t_drop = time.monotonic() - t0
        reasons = [s.reason for s in agent.states if s.reason]
        sc.figures["slow_upstream_client_dropped_after_s"] = round(t_drop, 2) if dropped else None
        sc.check("slow 'connected' webhook (3 × 2 s timeouts + 1.2 s): a client pinging every 1 s is kept",
                 "dropped" if dropped else "kept", "kept", not dropped)
        if dropped:
            sc.notes.append(
                f"slow upstream: the emulator awaits Upstream.connected() (up to 3 tries × the HTTP timeout + 1.2 s) "
                "before its read loop starts (server/signalr_service/service.py, websocket(): `await "
                "self.upstream.connected(conn)` precedes the loop that refreshes conn.last_received), so the "
                f"sweeper closes a healthy client after the service timeout: dropped after {t_drop:.1f} s "
                f"({reasons[-1] if reasons else ''}). With the production values (10 s HTTP timeout, 30 s service "
                "timeout) the tries take 31.2 s > 30 s: every client connecting while the functions hang is dropped.")
        await agent.stop()
    return sc


RECONCILE_SECONDS = 3  # ADAPTOR_RECONCILE_SECONDS of the stack this scenario runs on
REGISTER_RETRY_BOUND = 45  # a registration retry falls due within this after the lock (2 + 5 + 10 + 30 s backoff)


async def upstream_with_store_locked(target: Target) -> Scenario:
    """The real stack: the functions' webhook fails (store locked → 503) while one agent
    connects and another disconnects; afterwards, what do the store and the functions say?"""
    sc = Scenario("upstream_store", "(c) real stack: webhook failing (store locked) during connect and disconnect")
    tenant = tenant_of(target)
    async with client(target.ca) as http, client(target.ca) as agent_http:
        names = [load_username(1), load_username(2)]
        tokens = await agent_tokens(http, tenant, names)
        tls = tls_context(target.ca)
        leaving = new_load_agent(target.url, names[0], _oid(tokens[names[0]]), tokens[names[0]], agent_http, tls)
        await leaving.agent.start()
        await leaving.agent.wait_registered(30)
        sender = Sender(http, target.url, await sender_token(http, tenant))
        joining = new_load_agent(target.url, names[1], _oid(tokens[names[1]]), tokens[names[1]], agent_http, tls)

        lock = StoreLock(target.state_dir / "adaptor.db")
        # Each webhook try waits out SQLite's 5 s busy timeout, then gets a 503; the emulator
        # tries 3 times (RETRY_DELAYS): ~16.2 s. Hold the lock past the joining agent's last try.
        every_try = 3 * 5.0 + sum((0.2, 1.0)) + 2.5
        try:
            await leaving.agent.stop()  # its 'disconnected' event meets the lock
            await joining.agent.start()  # its 'connected' event and /api/userclient meet the lock
            await wait_until(lambda: joining.connected, 30)
            t_joined = time.monotonic()
            await wait_until(lambda: bool(joining.agent.errors), 20)
            await asyncio.sleep(max(0.0, every_try - (time.monotonic() - t_joined)))
        finally:
            lock.release()
        # After the lock: the agent retries its registration, the functions' timer removes
        # the row the lost 'disconnected' left (every RECONCILE_SECONDS on this stack).
        t_released = time.monotonic()

        def users_in_store() -> collections.Counter:
            return collections.Counter(u for u, _ in store_connections(target.state_dir))

        converged = await wait_until(lambda: joining.agent.registered.is_set()
                                     and users_in_store() == collections.Counter({joining.oid: 1}),
                                     REGISTER_RETRY_BOUND + 2 * RECONCILE_SECONDS, interval=0.5)
        sc.figures["store in step with the service after the lock (s)"] = (
            round(time.monotonic() - t_released, 1) if converged else None)
        in_store = users_in_store()
        sc.check("joining agent: connected to the service", joining.connected, True, joining.connected)
        sc.check("joining agent: registered (/api/userclient)", joining.agent.registered.is_set(), True,
                 joining.agent.registered.is_set())
        sc.check("joining agent: rows in the store", in_store[joining.oid], 1, in_store[joining.oid] == 1)
        sc.check("leaving agent: rows left in the store", in_store[leaving.oid], 0, in_store[leaving.oid] == 0)
        to_joining = await sender.send(joining.oid, f"up-j-{uuid.uuid4().hex[:8]}")
        await wait_until(lambda: to_joining.message_id in joining.seen, 5)
        sc.check("message to the joining agent: delivered", to_joining.message_id in joining.seen, True,
                 to_joining.message_id in joining.seen)
        answer = to_joining.body or {}
        sc.check("message to the joining agent: status", answer.get("status"), "sent", answer.get("status") == "sent")
        sc.check("message to the joining agent: connections", answer.get("connections"), 1,
                 answer.get("connections") == 1)
        to_leaving = await sender.send(leaving.oid, f"up-l-{uuid.uuid4().hex[:8]}")
        answer = to_leaving.body or {}
        sc.check("message to the agent that left: status", answer.get("status"), "queued",
                 answer.get("status") == "queued")
        sc.check("message to the agent that left: connections", answer.get("connections"), 0,
                 answer.get("connections") == 0)
        sc.figures["joining_agent_errors"] = joining.agent.errors[:2]
        await joining.agent.stop()
    sc.notes.append("A lost 'connected' event plus a failed /api/userclient would leave a live connection without "
                    "a row: the client retries its registration (adaptor_core REGISTER_RETRY_DELAYS). A lost "
                    "'disconnected' event leaves a dead row: the ReconcileConnections timer removes rows of "
                    "connections the service no longer has, and SendMessageToUser forgets them at once when the "
                    "service says the user is offline. Delivery decisions never depended on the rows: presence "
                    "comes from the service.")
    return sc


# --- (d) clock skew between issuer and validator ------------------------------------------

def clock_skew(state_dir: Path) -> Scenario:
    """Tokens from the directory's own key, stamped by an issuer whose clock is off by
    ±119 s (inside the 120 s leeway) and ±130 s (outside), checked by TokenValidator."""
    from server.auth import CLOCK_SKEW_LEEWAY, TokenValidator
    from server.errors import ApiError
    from server.idp.directory import load_directory

    sc = Scenario("clock_skew", f"(d) clock skew: issuer ahead/behind vs the validator's {CLOCK_SKEW_LEEWAY} s leeway")
    d = load_directory(state_dir)
    authority = f"https://idp.test/{d.tenant_id}"
    issuer = f"{authority}/v2.0"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json={"issuer": issuer, "jwks_uri": f"{authority}/discovery/v2.0/keys"})
        return httpx.Response(200, json=d.jwks())

    validator = TokenValidator(authority, d.api_audiences, httpx.Client(transport=httpx.MockTransport(answer)))
    lifetime = 3600

    def token(iat: int, exp: int) -> str:
        claims = {"iss": issuer, "aud": d.api_client_id, "iat": iat, "nbf": iat, "exp": exp, "tid": d.tenant_id,
                  "oid": d.sender.oid, "sub": d.sender.oid, "roles": list(d.sender.roles), "ver": "2.0",
                  "azp": d.sender.client_id, "azpacr": "1"}
        return jwt.encode(claims, d.private_key, algorithm="RS256", headers={"kid": d.kid})

    def outcome(tok: str) -> str:
        try:
            validator.validate(tok)
            return "accepted"
        except ApiError as exc:
            return f"{exc.status} {exc.code}"

    # (what, token minted from the validator's clock `t` right before the check, expected)
    cases = [
        ("issuer 119 s ahead: fresh token (iat, nbf in the future)",
         lambda t: token(math.floor(t) + 119, math.floor(t) + 119 + lifetime), "accepted"),
        ("issuer 130 s ahead: fresh token", lambda t: token(math.floor(t) + 130, math.floor(t) + 130 + lifetime),
         "401 invalid_token"),
        ("issuer 119 s behind: token at its expiry by the issuer's clock",
         lambda t: token(math.ceil(t) - 119 - lifetime, math.ceil(t) - 119), "accepted"),
        ("issuer 130 s behind: token at its expiry by the issuer's clock",
         lambda t: token(math.floor(t) - 130 - lifetime, math.floor(t) - 130), "401 token_expired"),
        ("no skew: fresh token", lambda t: token(math.floor(t), math.floor(t) + lifetime), "accepted"),
    ]
    outcome(token(int(time.time()), int(time.time()) + lifetime))  # metadata and keys fetched before timing
    for what, mint, expected in cases:
        got = outcome(mint(time.time()))
        sc.check(what, got, expected, got == expected)
    return sc
