"""uvicorn's h11 protocol with a deadline for a request's headers.

uvicorn has no such timeout: a connection that sends nothing, or its headers a byte at a
time, is held open for as long as the client likes (the keep-alive timer starts only after a
first response, and every byte cancels it), so a few hundred slow clients use up
`limit_concurrency`. Here a timer runs from when the connection opens, and again from the
end of each response, until the next request's headers are complete; when it fires the
connection is closed, with a 408 if part of a request had arrived. The same timer ends a
connection still trickling in the body of a request that was already answered."""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_BODY = json.dumps(
    {
        "error": {
            "message": "request headers not received in time",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_timeout",
        }
    }
).encode()
_TIMEOUT_REPLY = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
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


def header_timeout_protocol(timeout_s: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for `uvicorn.run(http=...)` with this header deadline."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": timeout_s})
