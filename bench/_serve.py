"""Helpers for the benchmarks that run a real `lockgate serve` process tree under wrk: a
stdlib upstream with a fixed latency, a pass-through config, the process tree's CPU and
memory from /proc, and wrk with bench/wrk_overload.lua (status counts, slow-response share).

    .venv/bin/python bench/_serve.py upstream PORT DELAY_MS   (run by the benchmarks)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from _common import BENCH, ROOT

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---- the upstream -----------------------------------------------------------------------


async def _upstream(port: int, delay_s: float) -> None:
    from stdlib_upstream import REPLY

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if delay_s:
                    await asyncio.sleep(delay_s)
                writer.write(REPLY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def upstream(port: int, delay_ms: int) -> Iterator[str]:
    with upstream_process(port, delay_ms) as (url, _):
        yield url


@contextlib.contextmanager
def upstream_process(
    port: int, delay_ms: int, cpus: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The upstream's base URL and its process (for its CPU), pinned to `cpus` if given
    (taskset's list, "1" or "0,1")."""
    cmd = [sys.executable, __file__, "upstream", str(port), str(delay_ms)]
    proc = subprocess.Popen(_pinned(cmd, cpus))
    try:
        _wait_port(port)
        yield f"http://127.0.0.1:{port}/v1", proc
    finally:
        proc.terminate()
        proc.wait(10)


def _pinned(cmd: list[str], cpus: str | None) -> list[str]:
    # taskset execs the command, so the pid is the command's own.
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# ---- the gateway ------------------------------------------------------------------------


def passthrough_config(home: Path, upstream_url: str, **extra: Any) -> Path:
    """`[validate, call_model]` to `delay-0` on the upstream; no guardrails, cache or rate
    limit in the way (the default limit answers wrk with 429s)."""
    cfg: dict[str, Any] = {
        "home": str(home / "home"),
        "pipeline": ["validate", "call_model"],
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True, "public_metrics": True},
        "limits": {"rules": [{"per": ["key"], "rpm": 100_000_000}]},
        "grounded": {"model": "delay-0"},
        "models": {
            "delay-0": {
                "backend": "openai",
                "base_url": upstream_url,
                "read_timeout_s": 60,
            }
        },
        "ui": {"enabled": False},
        **extra,
    }
    path = home / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@contextlib.contextmanager
def gateway(
    config: Path, port: int, workers: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`lockgate serve --workers N` until ready (every worker warm), then SIGTERM at exit."""
    full = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **(env or {})}
    log = config.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from lockgate.cli import main; main()",
                "--config",
                str(config),
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=out,
            cwd=config.parent,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        ready = 0
        # Each worker answers /readyz for itself: ask until several answers in a row say ready.
        while ready < 4 * workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "lockgate serve did not become ready: "
                    + log.read_text(errors="replace")[-3000:]
                )
            try:
                ok = httpx.get(base + "/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                ok = False
            ready = ready + 1 if ok else 0
            time.sleep(0.05 if ok else 0.3)
        # With connections handed out by the supervisor (server.worker_sockets: balanced)
        # every /readyz goes to a warm worker once one is: wait for each to say it is warm,
        # or wrk's connections would all go to the first.
        while workers > 1 and _warm_workers(log) < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("not every worker became warm: " + log.read_text()[-3000:])
            time.sleep(0.2)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _warm_workers(log: Path) -> int:
    return log.read_text(errors="replace").count("is warm and takes connections")


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
    return round(total / 2**20, 1)


# ---- wrk --------------------------------------------------------------------------------


def wrk(
    url: str,
    conns: int,
    seconds: int,
    timeout_s: int = 30,
    threads: int = 2,
    cpus: str | None = None,
) -> dict[str, Any]:
    """One wrk run: its WRKJSON report, req/s, and `cpu_s`, the CPU wrk itself used (its
    rusage, read as it is reaped)."""
    cmd = [
        "wrk",
        f"-t{min(threads, conns)}",
        f"-c{conns}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(BENCH / "wrk_overload.lua"),
        url,
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_pinned(cmd, cpus), stdout=out, stderr=err)
        deadline = time.monotonic() + seconds + timeout_s + 60
        while True:
            pid, _, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = 0  # reaped here: Popen must not wait for it again
                break
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("wrk did not finish")
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {stdout[-2000:]} {stderr[-2000:]}")
    data: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    data["cpu_s"] = ru.ru_utime + ru.ru_stime
    data["statuses"] = {int(k): v for k, v in data["statuses"].items()}
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    data["over_limit"] = round(data["over_limit_share"] * data["requests"])
    return data


if __name__ == "__main__":
    if sys.argv[1:2] == ["upstream"]:
        asyncio.run(_upstream(int(sys.argv[2]), int(sys.argv[3]) / 1000))
