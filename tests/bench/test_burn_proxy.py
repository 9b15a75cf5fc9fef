"""bench/burn_proxy.py, the reference server the workers benchmark reads the gateway against:
it spends the CPU it is asked to per request, relays the upstream's answer unchanged, and its
processes share connections least-connections first, as the gateway's supervisor does."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import _procstat as ps  # noqa: E402
import burn_proxy  # noqa: E402
import stdlib_upstream  # noqa: E402
from _serve import _wait_port  # noqa: E402

from tests.support.server import free_port  # noqa: E402


def test_burn_spends_the_cpu_time_asked_for() -> None:
    start = time.thread_time()
    burn_proxy.burn(0.02)
    spent = time.thread_time() - start
    assert 0.02 <= spent < 0.2
    assert burn_proxy.burn(0) == 0


def _ask(conn: socket.socket) -> bytes:
    body = b'{"model": "m", "messages": []}'
    conn.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = burn_proxy._length(head + b"\r\n\r\n")
    while len(rest) < length:
        rest += conn.recv(65536)
    assert head.startswith(b"HTTP/1.1 200")
    return rest


@pytest.fixture
def proxy() -> tuple[int, list[int]]:
    up_port, port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, str(BENCH / "stdlib_upstream.py"), str(up_port)])
    cmd = [sys.executable, str(BENCH / "burn_proxy.py"), str(port), str(up_port)]
    proc = subprocess.Popen([*cmd, "--procs", "2", "--burn-ms", "0.5", "--loop", "asyncio"])
    try:
        _wait_port(up_port)
        _wait_port(port)
        deadline = time.monotonic() + 20
        while len(ps.children(proc.pid)) < 2:
            assert time.monotonic() < deadline, "the proxy did not fork its processes"
            time.sleep(0.05)
        yield port, ps.children(proc.pid)
    finally:
        proc.terminate()
        up.terminate()
        assert proc.wait(20) == 0
        up.wait(20)


def test_answers_are_relayed_and_connections_split_evenly(proxy: tuple[int, list[int]]) -> None:
    port, kids = proxy
    conns = []
    try:
        # One after the other, each served before the next opens: the one holding fewer
        # takes the next, so eight split four and four whatever the kernel wakes first.
        for _ in range(8):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conns.append(conn)
            assert _ask(conn) == stdlib_upstream.BODY
        # Kept alive: a second request on each connection is served too.
        for conn in conns:
            assert _ask(conn) == stdlib_upstream.BODY
        split = ps.connections_by_pid(port, kids)
        assert sorted(split.get(k, 0) for k in kids) == [4, 4], split
    finally:
        for conn in conns:
            conn.close()
