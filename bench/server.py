"""A `python -m server` process for a run: temp state dir, load users, kill and restart
on the same port, and what /proc says about it (RSS, CPU time)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from server.http_client import tls_context

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ServerProcess:
    state_dir: Path
    load_users: int = 0
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    log_level: str = "warning"
    entry: tuple[str, ...] = ("-m", "server")  # what `python` runs
    process: subprocess.Popen | None = None
    starts: int = 0

    # --- lifecycle ------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.state_dir / f"server-{self.starts}.log"

    def start(self, timeout: float = 60) -> "ServerProcess":
        """Start (or restart, on the port it had) and wait for /healthz."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        env = {**os.environ, "ADAPTOR_STATE_DIR": str(self.state_dir), "PYTHONUNBUFFERED": "1",
               "ADAPTOR_IDP_LOAD_USERS": str(self.load_users), **self.env}
        env.pop("ADAPTOR_SETTINGS_FILE", None)
        out = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, *self.entry, "--port", str(self.port), "--log-level", self.log_level],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            m = re.search(r"on https://127\.0\.0\.1:(\d+)", self.log_path.read_text())
            if m:
                self.port = int(m.group(1))
                try:
                    with self.http() as http:
                        if http.get(self.url + "/healthz", timeout=2).status_code == 200:
                            return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server did not answer /healthz in {timeout:.0f} s:\n{self.log_path.read_text()}")

    def restart(self, timeout: float = 60) -> "ServerProcess":
        """Start again on the same port and state dir (after kill() or stop())."""
        return self.start(timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, no disconnected events, as a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- addresses and secrets --------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.state_dir / "certs" / "ca.pem"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def identity(self) -> dict:
        return json.loads((self.state_dir / "identity.json").read_text())

    def tls(self):
        return tls_context(self.ca)

    def http(self, **kw) -> httpx.Client:
        return httpx.Client(verify=self.tls(), trust_env=False, timeout=kw.pop("timeout", 15), **kw)

    def async_http(self, max_connections: int = 64, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self.tls(), trust_env=False, timeout=timeout,
                                 limits=httpx.Limits(max_connections=max_connections,
                                                     max_keepalive_connections=max_connections))

    # --- /proc ----------------------------------------------------------------------
    def rss_bytes(self) -> int:
        return proc_rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def threads(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of all threads (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU % of a process between start() and read() (100 % = one core busy)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.start()

    def start(self) -> None:
        self._cpu, self._wall = proc_cpu_seconds(self.pid), time.monotonic()

    def read(self) -> float:
        wall = time.monotonic() - self._wall
        return 100.0 * (proc_cpu_seconds(self.pid) - self._cpu) / wall if wall > 0 else 0.0



def system_cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat; diff two readings for a %."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class SystemCpuMeter:
    """Busy % of the whole machine (all processes, ours and anyone else's), 100 = all cores."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._busy, self._total = system_cpu_jiffies()

    def read(self) -> float:
        busy, total = system_cpu_jiffies()
        return 100.0 * (busy - self._busy) / (total - self._total) if total > self._total else 0.0


class ForeignCpuMeter:
    """CPU used by every process *except* `pids` (the run's own), in % of one core,
    between start() and read(): how much a shared machine took from the run."""

    def __init__(self, pids: list[int]):
        self.pids = list(pids)
        self.start()

    def _ours(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                total += proc_cpu_seconds(pid)
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total

    def start(self) -> None:
        self._busy = system_cpu_jiffies()[0]
        self._ours0, self._wall = self._ours(), time.monotonic()

    def read(self) -> float:
        wall = time.monotonic() - self._wall
        if wall <= 0:
            return 0.0
        busy_s = (system_cpu_jiffies()[0] - self._busy) / CLOCK_TICKS
        return max(0.0, 100.0 * (busy_s - (self._ours() - self._ours0)) / wall)
