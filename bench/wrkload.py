"""Servers under wrk: start them, wait for them, load them with wrk, read wrk's report and the
CPU their process trees spent. Shared by bench_vs_litellm.py and bench_gateway.py.

wrk (a C load generator, Debian's /usr/bin/wrk) drives the servers so that the client is not
the bottleneck; `wrk_unique.lua` makes every request body unique so no response cache hits.
CPU is read from /proc (utime + stime of every process under a server's root process), which
says what a request costs independently of how busy the shared machine is.
Only the standard library is used here, so the parser can be tested without the benchmarks'
dependencies.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WRK = "/usr/bin/wrk"
UNIQUE_LUA = BENCH / "wrk_unique.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# ---- wrk's report ------------------------------------------------------------------------

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = r"([0-9.]+)(us|ms|s|m|h)"


def duration_ms(text: str) -> float:
    """wrk's time format ('830.00us', '52.10ms', '1.02s', '1.00m') in milliseconds."""
    m = re.fullmatch(_DURATION, text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _TIME_UNITS_MS[m.group(2)]


@dataclass
class WrkResult:
    """One wrk run. `non_2xx` is wrk's 'Non-2xx or 3xx responses' (it counts status >= 400);
    latencies are of completed responses only: a timed-out request has none."""

    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float] = field(default_factory=dict)  # avg, stdev, max, p50...p99
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non_2xx: int = 0

    @property
    def socket_errors(self) -> int:
        """Connections that failed (connect, read, write), not counting timeouts."""
        return self.connect_errors + self.read_errors + self.write_errors

    @property
    def ok(self) -> int:
        return max(self.requests - self.non_2xx, 0)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["socket_errors"] = self.socket_errors
        return out


def parse_wrk(text: str) -> WrkResult:
    """Parse wrk's report (run with `--latency` for the percentiles)."""
    done = re.search(r"^\s*(\d+) requests in " + _DURATION + ",", text, re.M)
    rps = re.search(r"^Requests/sec:\s*([0-9.]+|-?nan|inf)", text, re.M)
    if not done or not rps:
        raise ValueError(
            "not a wrk report (no 'N requests in' / 'Requests/sec:' line):\n" + text[-2000:]
        )
    result = WrkResult(
        requests=int(done.group(1)),
        seconds=round(duration_ms(done.group(2) + done.group(3)) / 1000, 3),
        rps=float(rps.group(1)) if rps.group(1)[0].isdigit() else 0.0,
    )
    stats = re.search(r"^\s*Latency\s+" + r"\s+".join([_DURATION] * 3), text, re.M)
    if stats:
        g = stats.groups()
        for i, name in enumerate(("avg", "stdev", "max")):
            result.latency_ms[name] = round(duration_ms(g[2 * i] + g[2 * i + 1]), 3)
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for m in re.finditer(r"^\s*([0-9.]+)%\s+" + _DURATION + r"\s*$", dist[1], re.M):
            key = f"p{float(m.group(1)):g}"  # 50.000% -> p50, 99.900% -> p99.9
            result.latency_ms[key] = round(duration_ms(m.group(2) + m.group(3)), 3)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if errors:
        result.connect_errors, result.read_errors, result.write_errors, result.timeouts = (
            int(v) for v in errors.groups()
        )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        result.non_2xx = int(non2xx.group(1))
    return result


def run_wrk(
    url: str,
    connections: int,
    seconds: float,
    *,
    threads: int = 1,
    timeout_s: float = 2.0,
    script: Path | None = UNIQUE_LUA,
    env: Mapping[str, str] | None = None,
) -> tuple[WrkResult, float]:
    """Run wrk once; return its parsed report and the CPU seconds wrk itself used. wrk takes
    whole seconds only (duration and timeout are rounded, to at least 1)."""
    cmd = [
        WRK,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "--latency",
    ]
    if script is not None:
        cmd += ["-s", str(script)]
    before = _children_cpu_s()
    proc = subprocess.run(
        [*cmd, url],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=seconds + 60,
    )
    used = _children_cpu_s() - before
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout), used


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# ---- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    cmd: list[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start a server in its own session (so `stop` can end its workers with it), output to
    `log`."""
    with log.open("ab") as fh:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


# Loopback only: a proxy configured in the environment must not see these requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status a GET answers with, or None when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def wait_http(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 120,
    ready: Callable[[int], bool] = lambda status: True,
) -> float:
    """Wait until `url` answers with a status `ready` accepts; return the seconds it took.
    Fails with the end of the server's log if it exits or the time runs out."""
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}):\n{_tail(log)}")
        status = http_status(url)
        if status is not None and ready(status):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            stop(proc)
            raise RuntimeError(
                f"{url} not ready after {timeout:.0f} s (last status {status}):\n{_tail(log)}"
            )
        time.sleep(0.2)


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Wait until something accepts TCP connections on the loopback port."""
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}):\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if time.monotonic() - t0 > timeout:
            stop(proc)
            raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM the server's process group (its workers too), SIGKILL what is left after
    `timeout`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _tail(log: Path, n: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return log.read_text(errors="replace")[-n:]
    return ""


# ---- CPU of a process tree ---------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_pids(root: int) -> list[int]:
    """`root` and every process descending from it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(
                    int(entry.name)
                )
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by `root`'s process tree, reaped children
    included."""
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(pid)
            # utime, stime, and the children's it has reaped: a worker that dies and is
            # replaced during a run keeps counting through its parent.
            total += sum(int(f) for f in fields[11:15])
    return total / CLK_TCK


def cpu_snapshot(roots: Mapping[str, int]) -> dict[str, float]:
    return {name: tree_cpu_s(pid) for name, pid in roots.items()}


def cpu_ms_per_request(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    return {
        name: round(1000 * (after[name] - before[name]) / requests, 3) if requests else float("nan")
        for name in before
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def fmt_ms(ms: float | None) -> str:
    """A latency for a table: '52 ms', '1.02 s'."""
    if ms is None or ms != ms:
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def errors_cell(r: WrkResult) -> str:
    """Socket errors and timeouts as the table shows them: '0', '12 timeouts + 3 read'."""
    parts = [f"{r.timeouts} timeouts"] if r.timeouts else []
    parts += [
        f"{n} {kind}"
        for kind, n in (
            ("connect", r.connect_errors),
            ("read", r.read_errors),
            ("write", r.write_errors),
        )
        if n
    ]
    return " + ".join(parts) or "0"
