"""A webhook receiver (real HTTP on loopback) that keeps every request it gets."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Inbox:
    items: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.items) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.items)


def create_receiver() -> tuple[Starlette, Inbox]:
    inbox = Inbox()

    async def hook(request: Request) -> Response:
        body = await request.body()
        inbox.items.append(Received(request.url.path, dict(request.headers), body))
        inbox.arrived.set()
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
    return app, inbox
