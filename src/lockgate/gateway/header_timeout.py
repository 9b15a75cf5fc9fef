"""uvicorn's HTTP protocols (httptools, the default, and h11) with a deadline for a
request's headers, and with httptools a bound on their size.

uvicorn has no such timeout: a connection that sends nothing, or its headers a byte at a
time, is held open for as long as the client likes (the keep-alive timer starts only after a
first response, and every byte cancels it), so a few hundred slow clients use up
`limit_concurrency`. Here a timer runs from when the connection opens, and again from the
end of each response, until the next request's headers are complete; when it fires the
connection is closed, with a 408 if part of a request had arrived. The same timer ends a
connection still trickling in the body of a request that was already answered.

h11 bounds buffered headers itself (`h11_max_incomplete_event_size`: 400 beyond). llhttp,
httptools' parser, has no limit at all (it buffers a header value of any length), so the
httptools protocol counts the bytes of a request head as they arrive and answers 431 past
the same bound; the count is checked per read, so a head can overshoot it by at most one
socket read (up to 256 KB) before the connection is cut."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _reply(status: bytes, message: str, code: str) -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_TIMEOUT_REPLY = _reply(
    b"408 Request Timeout", "request headers not received in time", "request_timeout"
)


class HeaderTimeoutProtocol(H11Protocol):
    header_timeout_s: float = 15.0

    _header_timer: asyncio.TimerHandle | None = None
    _partial = False  # bytes of a request whose headers are not complete yet

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._partial = True
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a new request: its headers are all in
            self._partial = False
            self._disarm()

    def on_response_complete(self) -> None:
        # Armed before the base class looks for a pipelined request, which disarms it again.
        self._arm()
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._partial and self.conn.our_state is h11.IDLE:
            self.transport.write(_TIMEOUT_REPLY)
        self.transport.close()


class HttpToolsHeaderTimeoutProtocol(HttpToolsProtocol):
    """The same deadline on uvicorn's httptools protocol, and the header bound (see above).
    llhttp reports a request's first byte (`on_message_begin`), the end of its head and the
    end of its body through callbacks, all run inside `data_received`."""

    header_timeout_s: float = 15.0
    max_header_bytes: int = 64 * 1024

    _header_timer: asyncio.TimerHandle | None = None
    _partial = False  # a request has begun, its headers are not complete yet
    _in_head = True  # arriving bytes belong to a request head, not to a body
    _head_bytes = 0
    _moved = False  # a head or a body ended within the current read

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._moved = False
        super().data_received(data)
        if not self._in_head or self._moved or self.transport.is_closing():
            return
        # A read that ended a head or a body is not counted: the next head's share of it is
        # unknown (at most one read uncounted, never a bound exceeded by more).
        self._head_bytes += len(data)
        if self._head_bytes > self.max_header_bytes:
            self._disarm()
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(_TOO_LARGE_REPLY)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._partial = True

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._partial = False
        self._in_head = False
        self._head_bytes = 0
        self._moved = True
        self._disarm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0
        self._moved = True

    def on_response_complete(self) -> None:
        # A pipelined request waiting here already has its headers: it starts at once and
        # needs no deadline; otherwise the next request's headers are now awaited.
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._partial and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(_TIMEOUT_REPLY)
        self.transport.close()


_TOO_LARGE_REPLY = _reply(
    b"431 Request Header Fields Too Large", "request headers too large", "headers_too_large"
)

Protocol = type[HeaderTimeoutProtocol] | type[HttpToolsHeaderTimeoutProtocol]


def header_timeout_protocol(
    timeout_s: float,
    http: Literal["httptools", "h11"] = "httptools",
    max_header_bytes: int = 64 * 1024,
) -> Protocol:
    """The protocol class for `uvicorn.run(http=...)` with this header deadline (and, for
    httptools, this bound on a request head; h11 takes `h11_max_incomplete_event_size`)."""
    if http == "h11":
        return type(
            "HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": timeout_s}
        )
    return type(
        "HttpToolsHeaderTimeoutProtocol",
        (HttpToolsHeaderTimeoutProtocol,),
        {"header_timeout_s": timeout_s, "max_header_bytes": max_header_bytes},
    )
