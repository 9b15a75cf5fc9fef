"""A deadline for every request body, whichever route reads it.

A client that sends its body a byte at a time would otherwise hold a connection and a task
for as long as it likes. The deadline runs from when the headers are in; a read that would
end past it fails with 408 (and the connection is closed, since the rest of the body will
not be read). Once the body is complete, or the reply has started, reads pass through
untouched: a streaming reply waits on them for the client's disconnect."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.gateway.errors import GatewayError


def body_timeout_error(timeout_s: float) -> GatewayError:
    return GatewayError(
        408,
        f"request body not received within {timeout_s:g} s",
        "request_timeout",
        headers={"Connection": "close"},
    )


class BodyTimeoutMiddleware:
    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        done = False

        async def timed_receive() -> Message:
            nonlocal done
            if done:
                return await receive()
            try:
                # A deadline on this task (no extra task per read, as wait_for would make).
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise body_timeout_error(self.timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start":
                done = True
            await send(message)

        await self.app(scope, timed_receive, tracked_send)
