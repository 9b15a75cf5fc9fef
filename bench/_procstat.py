"""What each process of a benchmark cost, from /proc: CPU (utime + stime), time spent
runnable but waiting for a core (schedstat), the whole machine's busy time (/proc/stat,
so that other jobs on a shared box show up as a number), and which process holds each
of a listening port's accepted connections.

Standard library only, Linux only; read before and after a measured run and subtract.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_ESTABLISHED = "01"


@dataclass(frozen=True)
class Usage:
    """CPU seconds used and seconds spent waiting in a run queue, summed over processes
    (every thread of each)."""

    cpu_s: float = 0.0
    runq_wait_s: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu_s + other.cpu_s, self.runq_wait_s + other.runq_wait_s)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu_s - other.cpu_s, self.runq_wait_s - other.runq_wait_s)


def _stat_fields(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def usage(pid: int) -> Usage:
    """One process: its threads' CPU, live and exited (the process's own stat counts both),
    and its live threads' run-queue wait. A process gone already counts as nothing."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return Usage()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    wait_ns = 0
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                wait_ns += int(Path(task.path, "schedstat").read_text().split()[1])
    return Usage(cpu, wait_ns / 1e9)


def total(pids: Iterable[int]) -> Usage:
    out = Usage()
    for pid in pids:
        out = out + usage(pid)
    return out


def children(pid: int) -> list[int]:
    """The direct children of `pid`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> bytes:
    """The process's arguments, NUL-separated; empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (all but idle and
    iowait), whoever used them."""
    head = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(v) for v in head]
    # user nice system idle iowait irq softirq steal (guest is inside user already)
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]
    return busy / CLK_TCK


def connections_by_pid(port: int, pids: Iterable[int]) -> dict[int, int]:
    """How many established TCP connections accepted on local `port` each process holds
    open (a connection is counted for every listed process that has it open)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                local_port = int(cols[1].rsplit(":", 1)[1], 16) if len(cols) > 9 else -1
                if local_port == port and cols[3] == _ESTABLISHED:
                    inodes.add(cols[9])
    out: dict[int, int] = {}
    for pid in pids:
        n = 0
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(fd.path)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        n += 1
        out[pid] = n
    return out


def per_request_ms(used: Mapping[str, Usage], requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each named component."""
    return {
        k: round(1000 * u.cpu_s / requests, 3) if requests else float("nan")
        for k, u in used.items()
    }


def set_affinity(pid: int, cpus: set[int]) -> None:
    """Pin every thread of `pid` (threads started later inherit it from the thread that
    starts them)."""
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)
