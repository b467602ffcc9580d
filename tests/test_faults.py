"""Fault tests: the server killed under load and restarted, the store locked, the
upstream webhook failing or slow, clock skew between token issuer and validator.

The scenarios live in testkit/faults.py (`python -m bench faults` runs them with more
agents and prints a table); here they run small, against stacks started with the
testkit's ServerProcess. Known defects are strict xfails that name the place to fix."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit import faults, run_async
from testkit.server import ServerProcess, free_port


def checks(sc: faults.Scenario, *names: str) -> dict[str, list]:
    by_name = {c[0]: c for c in sc.checks}
    missing = [n for n in names if n not in by_name]
    assert not missing, f"scenario has no check {missing}: {list(by_name)}"
    return {n: by_name[n] for n in names}


def assert_ok(found: dict[str, list]) -> None:
    bad = [f"{w}: observed {o!r}, expected {e!r}" for w, o, e, ok in found.values() if not ok]
    assert not bad, "\n".join(bad)


def fault_target(state_dir: Path, load_users: int) -> ServerProcess:
    """A stack on a known port (a restart takes it again), reconciling often."""
    return ServerProcess(state_dir, load_users=load_users, port=free_port(),
                         env={"ADAPTOR_RECONCILE_SECONDS": str(faults.RECONCILE_SECONDS)}).start(timeout=30)


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory):
    target = fault_target(tmp_path_factory.mktemp("faults-small"), load_users=2)
    yield target
    target.stop()


# --- load users (what the benchmarks sign in as) -----------------------------------------

def test_load_users_sign_in_but_are_not_listed(small_stack):
    from server.idp.directory import load_users
    from testkit.tenant import agent_token

    tenant = faults.tenant_of(small_stack)
    page = small_stack.session().get(f"{tenant.authority}/oauth2/v2.0/authorize", params={
        "client_id": tenant.api_client_id, "response_type": "code", "redirect_uri": tenant.redirect_uri,
        "scope": tenant.api_scope, "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert page.status_code == 200
    assert 'value="alice"' in page.text and 'value="bob"' in page.text
    assert "load0000" not in page.text

    async def sign_in() -> str:
        async with faults.client(small_stack.ca) as http:
            return await agent_token(http, tenant, "load00002")

    token = run_async(sign_in())
    identity = json.loads((small_stack.state_dir / "identity.json").read_text())
    assert faults._oid(token) == load_users(identity["tenant_id"], 2)["load00002"].oid
    assert set(identity["users"]) == {"alice", "bob"}  # nothing persisted


# --- (a) kill -9 under load, restart on the same port and state dir -----------------------

@pytest.fixture(scope="module")
def kill_restart(tmp_path_factory) -> faults.Scenario:
    target = fault_target(tmp_path_factory.mktemp("faults-kill"), load_users=30)
    try:
        yield run_async(faults.kill_restart(target, agents=30, rate=15, before=2.0, after=2.0))
    finally:
        target.stop()


def test_kill_restart_every_agent_back_and_no_message_lost(kill_restart):
    sc = kill_restart
    assert_ok(checks(sc, "agents registered before the kill", "agents connected and registered again",
                     "messages accepted (202) or stored, not delivered",
                     "deliveries to an agent the message was not for",
                     "messages shown after the agents' dedupe vs distinct messages delivered"))
    assert sc.figures["accepted_202"] > 0 and sc.figures["posts_by_phase"].get("after restart → 202", 0) > 0


def test_kill_restart_leaves_no_stale_connection_rows(kill_restart):
    # A crash sends no disconnected events; the local stack clears its emulator's rows at start.
    assert kill_restart.figures["stale_store_rows"] == 0


# --- (b) store unwritable -------------------------------------------------------------

def test_store_locked_answers_503_without_partial_writes_and_recovers(small_stack):
    sc = run_async(faults.store_locked(small_stack))
    assert_ok({c[0]: c for c in sc.checks})
    assert 4 <= sc.figures["locked_post_seconds"] < 10  # SQLite's 5 s busy timeout, then 503


# --- (c) upstream webhook failing --------------------------------------------------------

@pytest.fixture(scope="module")
def upstream_on_stack(small_stack) -> faults.Scenario:
    return run_async(faults.upstream_with_store_locked(small_stack))


def test_webhook_failing_keeps_delivery_decisions_right(upstream_on_stack):
    # Holds while SendMessageToUser asks the service who is online; deciding from the store's
    # rows (as ca45b43 did) queued the live agent's message and "sent" the other to nobody.
    assert_ok(checks(upstream_on_stack, "joining agent: connected to the service",
                     "message to the joining agent: delivered", "message to the joining agent: status",
                     "message to the agent that left: status"))


def test_webhook_failing_leaves_store_in_step_with_the_service(upstream_on_stack):
    assert_ok(checks(upstream_on_stack, "joining agent: registered (/api/userclient)",
                     "joining agent: rows in the store", "leaving agent: rows left in the store",
                     "message to the joining agent: connections", "message to the agent that left: connections"))


@pytest.fixture(scope="module")
def upstream_emulator(tmp_path_factory) -> faults.Scenario:
    return run_async(faults.upstream_faults(tmp_path_factory.mktemp("upstream")))


def test_emulator_retries_connected_and_disconnected_events(upstream_emulator):
    assert_ok(checks(upstream_emulator, "503 on 'connected': tries", "503 on 'connected': try times (s)",
                     "503 on 'connected': client stays connected", "503 on 'disconnected': tries",
                     "webhook unreachable: tries logged", "webhook unreachable: client stays connected"))


def test_emulator_logs_an_event_lost_to_5xx(upstream_emulator):
    assert_ok(checks(upstream_emulator, "503 on 'connected': the loss is logged"))


def test_emulator_keeps_a_pinging_client_while_the_webhook_is_slow(upstream_emulator):
    assert_ok(checks(upstream_emulator,
                     "slow 'connected' webhook (3 × 2 s timeouts + 1.2 s): a client pinging every 1 s is kept"))


# --- (d) clock skew ---------------------------------------------------------------------

def test_clock_skew_within_leeway_passes_and_beyond_is_refused(tmp_path):
    sc = faults.clock_skew(tmp_path / "state")
    assert len(sc.checks) == 5
    assert_ok({c[0]: c for c in sc.checks})


# --- start-up under load: the validator's first metadata fetch ---------------------------

def test_fresh_server_answers_while_more_requests_than_wsgi_threads_need_a_token_check(small_stack):
    import asyncio
    import time

    small_stack.kill()
    small_stack.restart()  # a fresh validator: no metadata, no keys yet
    tenant = faults.tenant_of(small_stack)

    async def storm() -> tuple[float | None, list]:
        async with faults.client(small_stack.ca, 80, timeout=60) as http:
            from testkit.tenant import sender_token

            token = await sender_token(http, tenant)
            small_stack.kill()
            small_stack.restart()
            calls = [asyncio.create_task(http.get(f"{small_stack.url}/api/messages/storm-{i}",
                                                  headers={"Authorization": f"Bearer {token}"}))
                     for i in range(64)]
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            answered = None
            async with faults.client(small_stack.ca, 1, timeout=15) as probe:
                try:
                    if (await probe.get(f"{small_stack.url}/healthz")).status_code == 200:
                        answered = time.monotonic() - t0
                except Exception:
                    pass
            done, pending = await asyncio.wait(calls, timeout=20)
            for call in pending:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            statuses = [c.result().status_code if c in done and not c.exception() else repr(c.exception() or "pending")
                        for c in calls]
            return answered, statuses

    try:
        answered, statuses = run_async(storm())
    finally:
        small_stack.kill()
        small_stack.restart()  # leave the module's stack usable
    # Liveness, not speed: without its own threads the authority deadlocks for 10 s per waiter.
    assert answered is not None and answered < 5, f"/healthz answered after {answered} s"
    assert statuses == [404] * 64, statuses  # every token checked; the messages do not exist
