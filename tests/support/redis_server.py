"""The real Redis on 127.0.0.1:6379 for the shared-state tests, each test under its own key
prefix (deleted afterwards); skipped, saying why, when no Redis answers. `RedisProxy` stands
between a gateway and Redis so a test can take Redis away and bring it back."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from lockgate.config import RedisConfig
from lockgate.sharedstate.client import Redis
from tests.support.server import free_port

REDIS_URL = os.environ.get("LOCKGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_prefix() -> str:
    return f"lockgate-test-{uuid.uuid4().hex[:10]}:"


@contextmanager
def real_redis(url: str = REDIS_URL, prefix: str | None = None) -> Iterator[Redis]:
    prefix = prefix or unique_prefix()
    r = Redis(RedisConfig(url=REDIS_URL, prefix=prefix))
    if not r.ping():
        r.close()
        pytest.skip(f"SKIPPED: no Redis answers at {REDIS_URL} (the shared-state tests need one)")
    r.close()
    shared = Redis(RedisConfig(url=url, prefix=prefix))
    try:
        yield shared
    finally:
        shared.close()
        admin = Redis(RedisConfig(url=REDIS_URL, prefix=prefix))
        keys = list(admin.client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            admin.client.delete(*keys)
        admin.close()


def dead_redis_url() -> str:
    """A port nothing listens on: every connection is refused at once."""
    return f"redis://127.0.0.1:{free_port()}/0"


class RedisProxy:
    """A TCP relay to the real Redis that can be stopped (every connection dropped, new ones
    refused) and started again on the same port."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 6379)) -> None:
        self.target = target
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(64)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._server is not None:
            # shutdown wakes the thread blocked in accept(); close alone would not (Linux).
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
