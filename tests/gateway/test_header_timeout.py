"""The header deadline and the header bound on both of uvicorn's protocols `lockgate serve`
can run (httptools, the default, and h11), each under a real uvicorn server on loopback with
the options `lockgate serve` passes: headers dripped in are cut off with a 408, a silent
connection is closed without a word, a head past the bound is refused, a body trickling in
after its answer does not hold the line, while keep-alive and pipelined requests are served
as usual."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from lockgate.cli.serve import uvicorn_limits
from lockgate.config.server import ServerConfig
from lockgate.gateway.header_timeout import (
    HeaderTimeoutProtocol,
    HttpToolsHeaderTimeoutProtocol,
    header_timeout_protocol,
)
from tests.support.server import serve

HEADER_S = 1.0
SLACK_S = 2.5  # a busy test machine may be late to notice
BOUND = 8 * 1024


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    size = 0
    if scope["path"] == "/echo":  # reads its body; anything else answers without reading it
        more = True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
    body = json.dumps({"path": scope["path"], "read": size}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, tuple[str, int]]]:
    config = ServerConfig(
        http=request.param,
        header_read_timeout_s=HEADER_S,
        timeout_keep_alive_s=30,  # not the keep-alive timer at work here
        h11_max_incomplete_event_size=BOUND,
    )
    with serve(app, **uvicorn_limits(config)) as base:
        url = urlsplit(base)
        assert url.hostname and url.port
        yield request.param, (url.hostname, url.port)


def exchange(
    address: tuple[str, int], pieces: list[bytes], every_s: float = 0.0, limit_s: float = 10
) -> tuple[bytes, float]:
    """Send `pieces` `every_s` apart; what came back and when the server closed (after the
    first piece; inf: it did not within `limit_s`)."""
    reply = b""
    with socket.create_connection(address, timeout=10) as sock:
        sock.settimeout(max(every_s, 0.05))
        t0 = time.monotonic()
        pending = list(pieces)
        while time.monotonic() - t0 < limit_s:
            if pending:
                try:
                    sock.sendall(pending.pop(0))
                except OSError:
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


HEAD = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"


def test_headers_dripped_in_get_408(server) -> None:
    _, address = server
    reply, closed = exchange(address, [bytes([b]) for b in HEAD], every_s=0.1)
    assert closed <= HEADER_S + SLACK_S, closed
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"


def test_a_silent_connection_is_closed_without_an_answer(server) -> None:
    _, address = server
    reply, closed = exchange(address, [])
    assert closed <= HEADER_S + SLACK_S, closed
    assert reply == b""


def test_a_head_past_the_bound_is_refused(server) -> None:
    kind, address = server
    # Past the bound, never ended, then silence (a close with unread bytes would be a reset,
    # which can overtake the answer).
    big = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (BOUND + 1024)
    reply, closed = exchange(address, [big])
    assert closed < HEADER_S, closed  # refused for its size, not by the deadline
    # h11 says 400 (uvicorn's answer to its parser's error); httptools 431 with an error body.
    if kind == "httptools":
        assert reply.startswith(b"HTTP/1.1 431"), reply
        error = json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]
        assert error["code"] == "headers_too_large"
    else:
        assert reply.startswith(b"HTTP/1.1 400"), reply


def test_a_head_within_the_bound_is_served(server) -> None:
    _, address = server
    head = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (BOUND // 2) + b"\r\n\r\n"
    reply, _ = exchange(address, [head], limit_s=1)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_a_body_trickling_in_after_its_answer_is_cut_off(server) -> None:
    _, address = server
    head = b"POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    reply, closed = exchange(address, [head] + [b"x"] * 60, every_s=0.1)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert closed <= HEADER_S + SLACK_S, closed


def test_keep_alive_and_pipelined_requests_are_served(server) -> None:
    _, address = server
    body = b'{"a": 1}'
    post = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n" + body
    with socket.create_connection(address, timeout=10) as sock:
        for _ in range(3):  # idle between requests, within the deadline each time
            sock.sendall(post)
            assert _read_answers(sock, 1)[0]["read"] == 8
            time.sleep(HEADER_S / 2)
        sock.sendall(post + HEAD + post)  # three at once
        assert [a["path"] for a in _read_answers(sock, 3)] == ["/echo", "/ok", "/echo"]
        time.sleep(HEADER_S * 2 + SLACK_S)  # then silence: the deadline runs again
        sock.settimeout(1)
        assert sock.recv(65536) == b""


def _read_answers(sock: socket.socket, n: int) -> list[dict[str, Any]]:
    data = b""
    answers: list[dict[str, Any]] = []
    while len(answers) < n:
        part = sock.recv(65536)
        assert part, data
        data += part
        while b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            if len(rest) < length:
                break
            assert head.startswith(b"HTTP/1.1 200"), head
            answers.append(json.loads(rest[:length]))
            data = rest[length:]
    return answers


def test_the_options_name_the_configured_protocol_and_loop() -> None:
    default = uvicorn_limits(ServerConfig())
    assert issubclass(default["http"], HttpToolsHeaderTimeoutProtocol)
    assert default["http"].max_header_bytes == 64 * 1024 and default["loop"] == "uvloop"
    legacy = uvicorn_limits(ServerConfig(http="h11", loop="asyncio"))
    assert issubclass(legacy["http"], HeaderTimeoutProtocol) and legacy["loop"] == "asyncio"
    assert header_timeout_protocol(3.0, "h11").header_timeout_s == 3.0
