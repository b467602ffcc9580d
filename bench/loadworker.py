"""A load-generator process: asyncio inside, many SimAgents sharing one HTTP client,
driven by the capacity orchestrator over a multiprocessing pipe (one command, one reply).

Commands: add (start agents, wait until registered), status, mark (start counting
drops), drops, deliveries (take what arrived since the last call), usage, exit."""
from __future__ import annotations

import asyncio
import os
import resource
import sys
import traceback
import zlib
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from server.http_client import tls_context
from testkit.agents import Delivery, LoadAgent, new_load_agent, start_agents

from .measure import CpuMeter, proc_rss_bytes


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class LoadWorker:
    def __init__(self, url: str, ca: str, index: int, tick: float = 1.0, ack: bool = False):
        self.url, self.index, self.tick, self.ack = url, index, tick, ack
        self.tls = tls_context(Path(ca))
        self.agents: list[LoadAgent] = []
        self.deliveries: list[Delivery] = []
        self.cpu = CpuMeter(os.getpid())
        self.http: httpx.AsyncClient | None = None

    async def serve(self, conn: Connection) -> None:
        self.http = httpx.AsyncClient(verify=self.tls, trust_env=False, timeout=60,
                                      limits=httpx.Limits(max_connections=100, max_keepalive_connections=100))
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            op = command.pop("op")
            if op == "exit":
                conn.send({"ok": True})
                return  # no goodbyes: the orchestrator stops the server right after
            reply = await getattr(self, f"op_{op}")(**command)
            conn.send(reply)

    # --- commands -----------------------------------------------------------------------
    async def op_add(self, agents: list[tuple[str, str, str]], concurrency: int, timeout: float,
                     total_timeout: float) -> dict:
        new = [new_load_agent(self.url, name, oid, token, self.http, self.tls, ack=self.ack, tick=self.tick,
                              seed=zlib.crc32(name.encode()), on_delivery=self.deliveries.append)
               for name, oid, token in agents]
        self.agents += new
        seconds = await start_agents(new, concurrency, timeout, total_timeout)
        errors = [e for a in new for e in a.agent.errors][:5]
        return {"added": len(new), "seconds": seconds, "registered": sum(a.registered for a in new),
                "errors": errors, **(await self.op_status())}

    async def op_status(self) -> dict:
        return {"agents": len(self.agents), "connected": sum(a.connected for a in self.agents),
                "registered_total": sum(a.registered for a in self.agents)}

    async def op_mark(self) -> dict:
        for a in self.agents:
            a.mark()
        return {"ok": True}

    async def op_drops(self) -> dict:
        dropped = [a for a in self.agents if a.dropped()]
        reasons = [s.reason for a in dropped[:5] for s in a.agent.states[-3:] if s.reason]
        return {"dropped": len(dropped), "reasons": reasons, **(await self.op_status())}

    async def op_deliveries(self) -> dict:
        taken, self.deliveries[:] = list(self.deliveries), []
        return {"deliveries": [(d.message_id, d.username, d.received, d.sent, d.addressed_to) for d in taken],
                "duplicates": sum(a.duplicates() for a in self.agents)}

    async def op_notify(self, token: str, oids: list[str], rate: float, count: int, window: float,
                        max_in_flight: int, seed: int, tag: str) -> dict:
        """This worker's share of the notifications (the orchestrator alone could not
        send fast enough: one Python process tops out near 150 POSTs/s over TLS)."""
        import dataclasses
        import random

        from testkit.functions import Sender

        from .capacity import notify

        results, seconds = await notify(Sender(self.http, self.url, token), oids, rate, count, window,
                                        max_in_flight, random.Random(seed), tag)
        return {"results": [dataclasses.astuple(r) for r in results], "seconds": seconds}

    async def op_usage(self) -> dict:
        cpu = self.cpu.read()
        self.cpu.start()
        return {"cpu_pct": cpu, "rss_bytes": proc_rss_bytes(os.getpid())}


def worker_main(conn: Connection, url: str, ca: str, index: int, tick: float, ack: bool) -> None:
    """Entry point of a `multiprocessing` worker (spawn)."""
    raise_open_file_limit()
    try:
        asyncio.run(LoadWorker(url, ca, index, tick, ack).serve(conn))
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        conn.close()
        os._exit(0)  # skip closing thousands of sockets one by one


class WorkerHandle:
    """The orchestrator's side: start a worker, call it, end it."""

    def __init__(self, ctx, url: str, ca: str, index: int, tick: float = 1.0, ack: bool = False):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, url, ca, index, tick, ack),
                                   name=f"bench-loadworker-{index}", daemon=True)
        self.process.start()
        child.close()
        self.index = index

    def call_blocking(self, op: str, wait: float = 1200, **kw) -> dict:
        self.conn.send({"op": op, **kw})
        if not self.conn.poll(wait):
            raise TimeoutError(f"worker {self.index} did not answer '{op}' in {wait:.0f} s")
        return self.conn.recv()

    async def call(self, op: str, wait: float = 1200, **kw) -> dict:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.call_blocking(op, wait, **kw))

    def end(self) -> None:
        try:
            if self.process.is_alive():
                self.call_blocking("exit", wait=10)
        except (OSError, EOFError, TimeoutError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
