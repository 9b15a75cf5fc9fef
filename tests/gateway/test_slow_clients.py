"""Slow clients against a real `lockgate serve` process on loopback: headers or a body sent a
byte at a time, a connection that sends nothing, and a body trickling in after its request
was answered are all cut off within the configured timeouts (with a 408 and an OpenAI error
body where a request had begun), while ordinary keep-alive traffic is untouched."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lockgate.gateway.header_timeout import header_timeout_protocol
from tests.support.server import free_port
from tests.support.store import store_env

HEADER_S = 2.0
BODY_S = 2.0
DRIP_S = 0.4  # one byte this often: each byte is "progress", yet the request never completes
SLACK_S = 3.0  # a busy test machine may be late to notice


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    home = tmp_path_factory.mktemp("slow-home")
    port = free_port()
    script = Path(sys.executable).parent / "lockgate"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lockgate.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env.update(
        LOCKGATE_HOME=str(home),
        LOCKGATE_AUTH__ALLOW_ANONYMOUS="true",
        LOCKGATE_GUARDRAILS__ENABLED="false",
        LOCKGATE_SERVER__HEADER_READ_TIMEOUT_S=str(HEADER_S),
        LOCKGATE_SERVER__BODY_READ_TIMEOUT_S=str(BODY_S),
        LOCKGATE_SERVER__TIMEOUT_KEEP_ALIVE_S="30",  # not the keep-alive timer at work here
        **store_env(home),
    )
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*cmd, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "lockgate serve did not come up"
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def drip(
    address: tuple[str, int], data: bytes, first: bytes = b"", limit_s: float = 15
) -> tuple[bytes, float]:
    """Send `first` at once, then `data` one byte per DRIP_S; what came back and how long
    after the drip began the server closed the connection (inf: it never did)."""
    reply = b""
    with socket.create_connection(address, timeout=10) as sock:
        if first:
            sock.sendall(first)
        sock.settimeout(DRIP_S)
        t0 = time.monotonic()
        pending = list(data)
        while time.monotonic() - t0 < limit_s:
            if pending:
                try:
                    sock.sendall(bytes([pending.pop(0)]))
                except OSError:  # reset: closed
                    return reply, time.monotonic() - t0
            try:
                part = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return reply, time.monotonic() - t0
            if not part:
                return reply, time.monotonic() - t0
            reply += part
    return reply, float("inf")


HEADERS = b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" * 20


def test_headers_sent_a_byte_at_a_time_are_cut_off(gateway) -> None:
    reply, closed = drip(gateway, HEADERS)
    assert closed <= HEADER_S + SLACK_S, closed
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed(gateway) -> None:
    reply, closed = drip(gateway, b"")
    assert closed <= HEADER_S + SLACK_S, closed
    assert reply == b""  # nothing was asked, so nothing is answered


def test_a_body_sent_a_byte_at_a_time_gets_408(gateway) -> None:
    head = b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    reply, closed = drip(gateway, b'{"query": "' + b"a" * 900, first=head)
    assert closed <= BODY_S + SLACK_S, closed
    assert reply.startswith(b"HTTP/1.1 408"), reply
    err = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
    assert err["code"] == "request_timeout" and err["type"] == "invalid_request_error"


def test_a_body_trickling_in_after_the_answer_is_cut_off(gateway) -> None:
    # /healthz answers without reading the body; the rest of it must not keep the line open.
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    reply, closed = drip(gateway, b"x" * 900, first=head)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert closed <= HEADER_S + SLACK_S, closed


def test_ordinary_keep_alive_traffic_is_untouched(gateway) -> None:
    host, port = gateway
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(HEADER_S / 2)  # idle between requests, but within the deadline
        resp = client.post("/v1/search", json={"query": "refund window"})
        assert resp.status_code == 200, resp.text


def test_the_protocol_class_carries_its_timeout() -> None:
    assert header_timeout_protocol(7.5).header_timeout_s == 7.5
