"""The supervisor's dispatcher on real sockets: clients connect on loopback, the test plays
the workers' side of each channel (receives the descriptors, says ready, reports closes).
The worker side inside a real `lockgate serve --workers 2` is tested in test_workers.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from lockgate.gateway.handoff import (
    CLOSED,
    READY,
    STARTED,
    Dispatcher,
    channel_pair,
    is_channel,
)


class FakeWorker:
    def __init__(self, dispatcher: Dispatcher, name: str) -> None:
        ours, self.end = channel_pair()
        self.end.settimeout(5)
        dispatcher.attach(ours, name)
        self.held: list[socket.socket] = []

    def ready(self) -> None:
        self.end.send(READY)

    def started(self) -> None:
        self.end.send(STARTED)

    def take(self, timeout: float = 5.0) -> socket.socket | None:
        self.end.settimeout(timeout)
        try:
            _, fds, _, _ = socket.recv_fds(self.end, 16, 1)
        except TimeoutError:
            return None
        assert len(fds) == 1
        conn = socket.socket(fileno=fds[0])
        self.held.append(conn)
        return conn

    def close_one(self) -> None:
        self.held.pop().close()
        self.end.send(CLOSED)


@pytest.fixture
def dispatcher() -> Iterator[tuple[Dispatcher, tuple[str, int]]]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    d = Dispatcher(listener)
    d.start()
    try:
        yield d, listener.getsockname()
    finally:
        d.stop()
        listener.close()


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=5)


def _wait(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _two_ready(d: Dispatcher) -> tuple[FakeWorker, FakeWorker]:
    a, b = FakeWorker(d, "a"), FakeWorker(d, "b")
    a.ready()
    b.ready()
    _wait(lambda: len(d.shares()) == 2)
    return a, b


def test_channels_are_message_sockets() -> None:
    ours, theirs = channel_pair()
    try:
        assert is_channel(ours) and is_channel(theirs)
        assert not is_channel(socket.socket())
    finally:
        ours.close()
        theirs.close()


def test_each_connection_goes_to_the_ready_worker_holding_fewest(dispatcher) -> None:
    d, address = dispatcher
    a, b = _two_ready(d)
    clients = [_connect(address) for _ in range(6)]
    got_a = [a.take(1) for _ in range(3)]
    got_b = [b.take(1) for _ in range(3)]
    assert all(got_a) and all(got_b)
    assert d.shares() == {"a": 3, "b": 3}
    # The handed descriptor is the client's connection: bytes go through end to end.
    clients[0].sendall(b"ping")
    readers = {c.getpeername(): c for c in a.held + b.held}
    conn = readers[clients[0].getsockname()]
    conn.settimeout(5)
    assert conn.recv(4) == b"ping"
    # Two closes on a: the next two go to a.
    a.close_one()
    a.close_one()
    _wait(lambda: d.shares()["a"] == 1)
    more = [_connect(address) for _ in range(2)]
    assert a.take(1) is not None and a.take(1) is not None
    assert b.take(0.3) is None
    for c in clients + more:
        c.close()


def test_a_worker_not_ready_gets_nothing_and_none_ready_means_no_accept(dispatcher) -> None:
    d, address = dispatcher
    a, b = FakeWorker(d, "a"), FakeWorker(d, "b")
    first = _connect(address)  # queued in the backlog: nobody is ready
    assert a.take(0.3) is None and b.take(0.01) is None
    b.ready()
    assert b.take(2) is not None  # the queued one, once b is ready
    second = _connect(address)
    assert b.take(2) is not None
    assert a.take(0.3) is None
    first.close()
    second.close()


def test_a_worker_whose_channel_closes_is_dropped(dispatcher) -> None:
    d, address = dispatcher
    a, b = _two_ready(d)
    a.end.close()  # it died
    _wait(lambda: "a" not in d.shares())
    clients = [_connect(address) for _ in range(4)]
    assert all(b.take(2) is not None for _ in range(4))
    for c in clients:
        c.close()


def test_warm_workers_come_first_and_started_ones_answer_while_none_is(dispatcher) -> None:
    d, address = dispatcher
    a, b = FakeWorker(d, "a"), FakeWorker(d, "b")
    a.started()
    # Only a has started (warming up): it takes connections, so probes are answered.
    probe = _connect(address)
    assert a.take(2) is not None and b.take(0.2) is None
    b.ready()
    _wait(lambda: len(d.shares()) == 2)
    # b is warm: it takes every new connection, though it holds more than a.
    clients = [_connect(address) for _ in range(3)]
    assert all(b.take(2) is not None for _ in range(3))
    assert a.take(0.2) is None
    a.ready()
    _wait(lambda: d.shares() == {"a": 1, "b": 3})
    more = [_connect(address) for _ in range(2)]
    assert a.take(2) is not None and a.take(2) is not None
    for c in [probe, *clients, *more]:
        c.close()
