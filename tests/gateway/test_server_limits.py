"""`lockgate serve` runs uvicorn with connection limits from config: idle keep-alive
connections are closed, and requests beyond the concurrency limit get 503 instead of piling
up. Checked on a real uvicorn server with the same options."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from lockgate.cli.serve import uvicorn_limits
from lockgate.config.server import ServerConfig
from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.support.server import serve


def test_defaults_bound_every_connection() -> None:
    opts = uvicorn_limits(ServerConfig())
    assert opts["timeout_keep_alive"] == 5
    assert opts["limit_concurrency"] == 1024
    assert opts["h11_max_incomplete_event_size"] == 64 * 1024
    assert ServerConfig().body_read_timeout_s == 60
    assert opts["http"].header_timeout_s == ServerConfig().header_read_timeout_s == 15


@pytest.fixture
def base(tmp_path, embedder, fake_upstream) -> Iterator[str]:
    server = ServerConfig(timeout_keep_alive_s=1, limit_concurrency=3)
    settings = make_settings(tmp_path / "home", fake_upstream, server=server.model_dump())
    app = create_app(make_services(settings, embedder), preload_models=False)
    with serve(app, ready_path="/healthz", **uvicorn_limits(settings.server)) as url:
        yield url


def test_idle_connection_is_closed(base: str) -> None:
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        reply = b""
        while not reply.endswith(b'{"status":"alive"}'):  # headers and body may come apart
            part = sock.recv(65536)
            assert part, reply
            reply += part
        assert reply.startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert sock.recv(65536) == b""  # the server hung up on the idle connection
        assert time.monotonic() - t0 < 5


def test_connections_beyond_the_limit_get_503(base: str) -> None:
    url = urlsplit(base)
    held = [socket.create_connection((url.hostname, url.port)) for _ in range(6)]
    try:
        for sock in held:  # requests in flight: their bodies never finish arriving
            sock.sendall(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        refused = 0
        for sock in held:
            sock.settimeout(0.5)
            # A timeout: still in flight, as it should be for those within the limit.
            with contextlib.suppress(TimeoutError):
                refused += sock.recv(65536).startswith(b"HTTP/1.1 503")
        # With at most 3 connections served, at least 3 of the 6 are turned away at once.
        assert refused >= 3
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while httpx.get(base + "/healthz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
