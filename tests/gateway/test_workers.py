"""End to end: `lockgate serve --workers 2` as a real process tree on loopback. Both worker
processes serve (each one's own request counter, read from the multi-process metrics files),
every request's trace lands in the one store (the home's SQLite file, or its PostgreSQL
database with LOCKGATE_TEST_STORE=postgresql), a scrape of either process reports the sum,
one process holds the scheduled jobs' lock, and SIGTERM ends the parent and its workers
cleanly. The SpawnConfig round trip (a run-time protocol class through pickle) is checked on
its own."""

from __future__ import annotations

import os
import pickle
import signal
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select, text

import lockgate
from lockgate.config import Settings
from lockgate.gateway.header_timeout import (
    HeaderTimeoutProtocol,
    HttpToolsHeaderTimeoutProtocol,
    header_timeout_protocol,
)
from lockgate.gateway.leader import lock_path
from lockgate.gateway.workers import SpawnConfig
from lockgate.store import tables as tb
from lockgate.store.db import make_engine
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import free_port, kill_tree, serve
from tests.support.store import on_postgresql, store_env

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(lockgate.__file__).resolve().parents[1]  # the code under test, wherever it is


def _config(tmp_path: Path, upstream: str, metrics_dir: Path) -> Path:
    cfg = {
        "home": str(tmp_path / "home"),
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "auth": {"allow_anonymous": True, "public_metrics": True},
        # Remote stand-ins for the embedded models, so the workers start in seconds.
        "embeddings": {"backend": "openai", "base_url": upstream, "upstream_model": "e"},
        "grounded": {"model": "echo"},
        "models": {"gemma-3-270m": None, "echo": {"backend": "openai", "base_url": upstream}},
        "pipeline": ["validate", "call_model"],
        "telemetry": {"prometheus_multiproc_dir": str(metrics_dir)},
    }
    path = tmp_path / "lockgate.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        # The supervisor's workers, not multiprocessing's resource tracker.
        if ppid == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _served_by_pid(metrics_dir: Path) -> dict[int, float]:
    """Each process's own count of finished requests, from its metrics file."""
    counts: dict[int, float] = {}
    for f in metrics_dir.glob("counter_*.db"):
        pid = int(f.stem.split("_")[1])
        for metric in MultiProcessCollector._read_metrics([str(f)]).values():
            for sample in metric.samples:
                if sample.name == "lockgate_requests_total":
                    counts[pid] = counts.get(pid, 0.0) + sample.value
    return counts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def upstream() -> str:
    with serve(create_fake_upstream()) as base:
        yield base + "/v1"


def _start_two(tmp_path: Path, config: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """`lockgate serve --workers 2` on `port` and the file of its stderr, in a process group
    of its own, so a failed test kills the workers with the parent (`kill_tree`)."""
    err = tmp_path / "stderr.log"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}", **store_env(tmp_path / "home")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-c", "from lockgate.cli import main; main()"]
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*command, "--config", str(config), "serve", "--workers", "2", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    return proc, err


def test_two_workers_serve_share_a_store_and_stop_on_sigterm(tmp_path: Path, upstream) -> None:
    metrics_dir = tmp_path / "metrics"
    config = _config(tmp_path, upstream, metrics_dir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, err = _start_two(tmp_path, config, port)
    try:
        deadline = time.monotonic() + 120
        while len(_children(proc.pid)) < 2 or not _ready(base):
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2

        def ask(i: int) -> int:
            body = {"model": "echo", "messages": [{"role": "user", "content": f"hello {i}"}]}
            # A new connection each time: the kernel hands each to one of the workers.
            with httpx.Client() as client:
                return client.post(base + "/v1/chat/completions", json=body, timeout=30).status_code

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while sent < 400:
                assert set(pool.map(ask, range(sent, sent + 40))) == {200}
                sent += 40
                served = _served_by_pid(metrics_dir)
                if all(served.get(pid, 0) > 0 for pid in workers):
                    break
        served = _served_by_pid(metrics_dir)
        assert all(served.get(pid, 0) > 0 for pid in workers), (served, workers)

        # Every turn's trace is in the one store, whichever process served it.
        store = Settings(home=tmp_path / "home").store_url
        deadline = time.monotonic() + 30
        while (count := _traces(store)) < sent:
            assert time.monotonic() < deadline, (count, sent)
            time.sleep(0.2)
        assert count == sent

        # A scrape of any process reports the sum over both.
        text = httpx.get(base + "/metrics", timeout=10).text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("lockgate_requests_total{") and 'model="echo"' in line
        )
        assert total == sent

        # One of the workers holds the jobs' lock: on SQLite it says so in the lock file, on
        # PostgreSQL it is the one advisory lock granted in the store.
        if on_postgresql():
            assert _advisory_locks(store) == 1
        else:
            holder = int(lock_path(tmp_path / "home").read_text().strip())
            assert holder in workers

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, err.read_text()[-3000:]
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived the parent"
            time.sleep(0.1)
        log = err.read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
        assert log.count("Application shutdown complete") == 2, log[-3000:]
    finally:
        kill_tree(proc)


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _advisory_locks(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON l.database = d.oid"
                        " WHERE l.locktype = 'advisory' AND l.granted"
                        " AND d.datname = current_database()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _traces(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tb.traces)).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("parser", "base"),
    [("h11", HeaderTimeoutProtocol), ("httptools", HttpToolsHeaderTimeoutProtocol)],
)
def test_a_run_time_protocol_class_survives_the_trip_to_a_worker(parser: str, base: type) -> None:
    made = header_timeout_protocol(3.5, parser)
    config = SpawnConfig("lockgate.gateway.workers:worker_app", factory=True, http=made)
    back = pickle.loads(pickle.dumps(config))
    assert isinstance(back.http, type) and issubclass(back.http, base)
    assert back.http.header_timeout_s == 3.5 and back.http is not base
    assert back.app == "lockgate.gateway.workers:worker_app" and back.factory is True


def _listeners(port: int) -> int:
    """Listening TCP sockets on `port` (IPv4), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


@pytest.mark.parametrize("mode", ["balanced", "reuseport", "shared"])
def test_a_burst_of_connections_is_spread_over_the_workers(
    tmp_path: Path, upstream, mode: str
) -> None:
    metrics_dir = tmp_path / "metrics"
    config = _config(tmp_path, upstream, metrics_dir)
    cfg = yaml.safe_load(config.read_text())
    cfg["server"] = {"worker_sockets": mode}
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, err = _start_two(tmp_path, config, port)
    try:
        deadline = time.monotonic() + 120
        # Both workers up: with a socket each, each one's socket listens once it serves.
        while (
            len(_children(proc.pid)) < 2
            or not _ready(base)
            or (mode == "reuseport" and _listeners(port) < 2)
            # A worker still warming takes none while the other one is warm.
            or (mode == "balanced" and not _both_take_connections(err))
        ):
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.2)
        workers = _children(proc.pid)
        # One socket per worker, or one for all (balanced: the supervisor's).
        assert _listeners(port) == (2 if mode == "reuseport" else 1)
        if mode == "shared":
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, err.read_text()[-3000:]
            return
        before = _served_by_pid(metrics_dir)
        # 64 connections opened at once, as a load generator does, each asking once.
        from threading import Barrier

        gate = Barrier(64)

        def ask(i: int) -> int:
            gate.wait()
            body = {"model": "echo", "messages": [{"role": "user", "content": f"burst {i}"}]}
            with httpx.Client() as client:
                return client.post(base + "/v1/chat/completions", json=body, timeout=30).status_code

        with ThreadPoolExecutor(64) as pool:
            assert set(pool.map(ask, range(64))) == {200}
        after = _served_by_pid(metrics_dir)
        shares = [after.get(pid, 0) - before.get(pid, 0) for pid in workers]
        assert sum(shares) == 64, shares
        if mode == "balanced":
            # Each to the worker holding fewer: even, but for connections closed (and
            # reported) while the burst was still being handed out.
            assert min(shares) >= 24, shares
        else:
            # The kernel's hash: a binomial split, under 12 of 64 with odds of about 1e-6.
            assert min(shares) >= 12, shares
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, err.read_text()[-3000:]
    finally:
        kill_tree(proc)


def _two_balanced(tmp_path: Path, upstream: str) -> tuple[subprocess.Popen[bytes], Path, str, Path]:
    metrics_dir = tmp_path / "metrics"
    config = _config(tmp_path, upstream, metrics_dir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, err = _start_two(tmp_path, config, port)
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2 or not _both_take_connections(err):
        assert proc.poll() is None, err.read_text()[-3000:]
        assert time.monotonic() < deadline, err.read_text()[-3000:]
        time.sleep(0.2)
    return proc, err, base, metrics_dir


def _both_take_connections(err: Path) -> bool:
    return err.read_text(errors="replace").count("is warm and takes connections") >= 2


def _ask(client: httpx.Client, base: str, text: str) -> int:
    body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
    return client.post(base + "/v1/chat/completions", json=body, timeout=30).status_code


def test_kept_alive_connections_are_handed_to_the_worker_holding_fewer(
    tmp_path: Path, upstream
) -> None:
    """Four long-lived connections (a load balancer's pool) end two on each worker, so each
    serves half the requests; a hash of the addresses puts all four on one worker one time
    in eight."""
    proc, err, base, metrics_dir = _two_balanced(tmp_path, upstream)
    try:
        workers = _children(proc.pid)
        before = _served_by_pid(metrics_dir)
        clients = [httpx.Client() for _ in range(4)]
        try:
            for round_ in range(5):
                for i, client in enumerate(clients):
                    assert _ask(client, base, f"pool {i} round {round_}") == 200
        finally:
            for client in clients:
                client.close()
        after = _served_by_pid(metrics_dir)
        shares = sorted(after.get(pid, 0) - before.get(pid, 0) for pid in workers)
        assert shares == [10, 10], shares
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, err.read_text()[-3000:]
    finally:
        kill_tree(proc)


def test_a_killed_worker_gets_no_more_connections_and_its_replacement_does(
    tmp_path: Path, upstream
) -> None:
    proc, err, base, metrics_dir = _two_balanced(tmp_path, upstream)
    try:
        victim, survivor = _children(proc.pid)
        os.kill(victim, signal.SIGKILL)
        # At once, before the supervisor has replaced it: every new connection is served,
        # by the survivor (the victim's channel closed with it).
        before = _served_by_pid(metrics_dir)
        for i in range(10):
            with httpx.Client() as client:
                assert _ask(client, base, f"after the kill {i}") == 200
        after = _served_by_pid(metrics_dir)
        assert after.get(survivor, 0) - before.get(survivor, 0) == 10
        # The replacement starts, says it takes connections, and gets its share.
        deadline = time.monotonic() + 120
        while err.read_text(errors="replace").count("is warm and takes connections") < 3:
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.2)
        replacement = next(pid for pid in _children(proc.pid) if pid not in (victim, survivor))
        clients = [httpx.Client() for _ in range(2)]
        try:
            for client in clients:
                assert _ask(client, base, "to the replacement") == 200
        finally:
            for client in clients:
                client.close()
        served = _served_by_pid(metrics_dir)
        assert served.get(replacement, 0) >= 1, served
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, err.read_text()[-3000:]
    finally:
        kill_tree(proc)


def test_handed_connections_speak_tls_when_configured(tmp_path: Path, upstream) -> None:
    from tests.gateway.test_tls import self_signed

    cert, key = self_signed(tmp_path)
    metrics_dir = tmp_path / "metrics"
    config = _config(tmp_path, upstream, metrics_dir)
    cfg = yaml.safe_load(config.read_text())
    cfg["server"] = {"tls_cert_file": str(cert), "tls_key_file": str(key)}
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    port = free_port()
    proc, err = _start_two(tmp_path, config, port)
    try:
        deadline = time.monotonic() + 120
        while not _both_take_connections(err):
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.2)
        workers = _children(proc.pid)
        before = _served_by_pid(metrics_dir)
        trust = ssl.create_default_context(cafile=str(cert))
        clients = [httpx.Client(verify=trust) for _ in range(2)]
        try:
            for client in clients:
                assert _ask(client, f"https://127.0.0.1:{port}", "over TLS") == 200
        finally:
            for client in clients:
                client.close()
        after = _served_by_pid(metrics_dir)
        assert sorted(after.get(pid, 0) - before.get(pid, 0) for pid in workers) == [1, 1]
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, err.read_text()[-3000:]
    finally:
        kill_tree(proc)
