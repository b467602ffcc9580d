"""Small statistics for the runs: percentiles (nearest rank), summaries in ms; and what
/proc says about a process or the machine (RSS, CPU time, busy %)."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(seconds: list[float]) -> dict:
    """count, p50/p95/p99/max and mean in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {"count": len(values), "p50": round(percentile(values, 50), 3), "p95": round(percentile(values, 95), 3),
            "p99": round(percentile(values, 99), 3), "max": round(values[-1], 3),
            "mean": round(sum(values) / len(values), 3)}


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
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
