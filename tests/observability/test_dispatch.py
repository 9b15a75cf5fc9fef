"""The event writer: events reach the store subscribers in the order they were accepted, in
batches (one transaction each), a full queue holds or drops its callers as configured (and
counts what it drops), readers of the stores see what this process queued before them, and
closing writes everything accepted. Stores are real SQLite files."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from lockgate.config import EventsConfig, Settings
from lockgate.engine.run import emit
from lockgate.observability import dispatch
from lockgate.observability.dispatch import Dispatcher, store_with_plugins
from lockgate.observability.events import Event, PromptPushed, TurnFinished
from lockgate.observability.metrics import METRICS
from lockgate.services import Services
from tests.support.postgres import throwaway_database

SERVICES = object()  # what the writer is handed along with the events; opaque to it


class Gated:
    """A store subscriber that holds its first batch until released, and keeps what it got."""

    def __init__(self, hold: bool = True) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, events: list[Event], services: Any) -> None:
        self.started.set()
        assert self.release.wait(30)
        self.batches.append([e.trace_id for e in events])

    @property
    def written(self) -> list[str]:
        return [t for batch in self.batches for t in batch]


def ev(trace_id: str) -> Event:
    return Event(trace_id)


def finished(trace_id: str, tenant: str = "acme") -> TurnFinished:
    row = {
        "id": trace_id,
        "created_at": time.time(),
        "principal": "p",
        "tenant": tenant,
        "endpoint": "/v1/chat/completions",
        "stream": 0,
        "status": "ok",
        "degraded": 0,
        "output": f"answer {trace_id}",
    }
    return TurnFinished(trace_id, "/v1/chat/completions", "ok", 200, row)


def pushed(writer: str, version: int) -> PromptPushed:
    return PromptPushed("", writer, "greeting", version, f"h{version}", "test")


@pytest.fixture
def default_config() -> Iterator[None]:
    yield
    dispatch.configure(EventsConfig())  # the process's writer, as every other test expects it


def store(tmp_path: Path) -> Services:
    return Services(Settings(home=tmp_path / "home"))


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """The trace store and the audit log on a SQLite file, or on a throwaway PostgreSQL
    database (skipped, saying why, without a server)."""
    if request.param == "sqlite":
        yield store(tmp_path)
        return
    with throwaway_database("dispatch") as engine:
        url = engine.url.render_as_string(hide_password=False)
        services = Services(Settings(home=tmp_path / "home", store={"url": url}))  # type: ignore[arg-type]
        try:
            yield services
        finally:
            services.engine.dispose()


# -- order and batches ------------------------------------------------------------------------


def test_events_are_written_in_order_in_batches_of_at_most_max_batch() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(flush_interval_s=0, max_batch=50), writer)
    d.submit([ev("t0")], SERVICES)
    assert writer.started.wait(10)  # the writer holds t0 while the rest queue up
    for i in range(1, 100):
        d.submit([ev(f"t{i}")], SERVICES)
    writer.release.set()
    assert d.flush(10)
    assert writer.written == [f"t{i}" for i in range(100)]
    assert [len(b) for b in writer.batches] == [1, 50, 49]


def test_one_emit_is_never_split_and_services_are_never_mixed() -> None:
    got: list[tuple[list[str], Any]] = []
    d = Dispatcher(
        EventsConfig(flush_interval_s=10, max_batch=4),
        lambda events, services: got.append(([e.trace_id for e in events], services)),
    )
    other = object()
    d.submit([ev("a1"), ev("a2"), ev("a3")], SERVICES)
    d.submit([ev("b1"), ev("b2")], SERVICES)  # would make 5: the next batch
    d.submit([ev("c1")], other)
    assert d.flush(10)
    assert got == [(["a1", "a2", "a3"], SERVICES), (["b1", "b2"], SERVICES), (["c1"], other)]


class HoldFirst:
    """The real store subscribers, with the first batch held until released: what is
    submitted meanwhile queues up, as it does behind a slow write under load."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, events: list[Event], services: Any) -> None:
        if not self.started.is_set():
            self.started.set()
            assert self.release.wait(30)
        store_with_plugins(events, services)


def test_a_batch_of_traces_is_written_in_one_transaction(stores: Services) -> None:
    services = stores
    services.traces.record(finished("warm-up").trace)  # the tenant's data key is made once
    commits: list[int] = []
    sa_event.listen(services.engine, "commit", lambda conn: commits.append(1))
    writer = HoldFirst()
    d = Dispatcher(EventsConfig(max_batch=1000), writer)
    d.submit([finished("first")], services)
    assert writer.started.wait(10)
    for i in range(50):
        d.submit([finished(f"trace-{i}")], services)
    writer.release.set()
    assert d.flush(10)
    assert d.batches == 2 and len(commits) == 2  # "first", then the 50 together
    for i in range(50):
        trace = services.traces.get(f"trace-{i}")
        assert trace is not None and trace["output"] == f"answer trace-{i}"


def test_a_trickle_is_written_at_once_and_a_stream_lingers_to_fill_batches() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(flush_interval_s=2, max_batch=1000), writer)
    t0 = time.monotonic()
    d.submit([ev("alone")], SERVICES)
    assert writer.started.wait(10)
    assert time.monotonic() - t0 < 1.5  # taken at once: nothing came before it, no linger
    d.submit([ev("b")], SERVICES)  # two arrive while it is written: under load now
    d.submit([ev("c")], SERVICES)
    writer.release.set()
    assert d.flush(10) and writer.batches == [["alone"], ["b", "c"]]
    for name in ("d", "e", "f"):  # the writer lingers over the next batch, 2 s at most
        d.submit([ev(name)], SERVICES)
        time.sleep(0.05)
    last = time.monotonic()
    deadline = last + 10
    while writer.written[-1] != "f" and time.monotonic() < deadline:
        time.sleep(0.01)  # not flush(): a waiting reader would cut the linger short
    assert writer.batches[-1] == ["d", "e", "f"]
    # The burst ended with f: written a quarter of the interval (0.5 s) after it, not 2 s.
    assert time.monotonic() - last < 1.5


def test_the_audit_chain_stays_one_chain_in_the_order_events_were_emitted(
    stores: Services,
) -> None:
    services = stores
    d = Dispatcher(EventsConfig(flush_interval_s=0.002, max_batch=16))

    def producer(n: int) -> None:
        for version in range(50):
            d.submit([pushed(f"w{n}", version)], services)

    def direct() -> None:  # another writer of the same chain, as another process would be
        for i in range(20):
            services.audit.append("test.direct", {"i": i}, actor="direct")

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=direct))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert d.flush(30)
    verdict = services.audit.verify()
    assert verdict.ok, verdict.problem
    assert verdict.entries == 4 * 50 + 20
    entries = services.audit.entries()
    assert [e["seq"] for e in entries] == list(range(1, 221))
    for n in range(4):
        versions = [e["data"]["version"] for e in entries if e["actor"] == f"w{n}"]
        assert versions == list(range(50))  # nothing lost, nothing reordered
    assert d.batches < 200  # grouped: fewer transactions than events


def test_one_failing_row_loses_only_itself(tmp_path: Path) -> None:
    services = store(tmp_path)
    services.traces.record(finished("taken").trace)
    writer = HoldFirst()
    d = Dispatcher(EventsConfig(), writer)
    d.submit([finished("warm-up")], services)
    assert writer.started.wait(10)
    d.submit([finished("before")], services)
    d.submit([finished("taken")], services)  # its id is in the store already
    d.submit([finished("after")], services)
    writer.release.set()
    assert d.flush(10) and d.batches == 2  # the three in one batch, which fails as a whole
    assert services.traces.get("before") is not None
    assert services.traces.get("after") is not None


# -- back-pressure ----------------------------------------------------------------------------


def test_a_full_queue_holds_a_thread_until_there_is_room() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(queue_size=2, flush_interval_s=0, block_timeout_s=30), writer)
    d.submit([ev("a")], SERVICES)
    assert writer.started.wait(10)
    assert d.submit([ev("b")], SERVICES) and d.submit([ev("c")], SERVICES)  # full now
    result: list[bool] = []
    blocked = threading.Thread(target=lambda: result.append(d.submit([ev("d")], SERVICES)))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # held: no room
    writer.release.set()
    blocked.join(10)
    assert result == [True] and d.flush(10)
    assert writer.written == ["a", "b", "c", "d"] and d.dropped == 0


def test_a_full_queue_is_written_without_waiting_out_the_linger() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(queue_size=2, flush_interval_s=10, block_timeout_s=30), writer)
    d.submit([ev("a")], SERVICES)
    assert writer.started.wait(10)
    d.submit([ev("b")], SERVICES)
    d.submit([ev("c")], SERVICES)
    writer.release.set()
    assert d.flush(10)  # a, then b and c: under load, so the next batch may linger 10 s
    t0 = time.monotonic()
    for name in ("d", "e", "f"):  # the queue is full at e; f waits for room
        assert d.submit([ev(name)], SERVICES)
    assert time.monotonic() - t0 < 5  # room came from a write, not from the linger's end
    assert d.flush(10) and writer.written == ["a", "b", "c", "d", "e", "f"]


def test_a_caller_held_past_the_timeout_drops_and_counts() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(queue_size=1, flush_interval_s=0, block_timeout_s=0.2), writer)
    d.submit([ev("a")], SERVICES)
    assert writer.started.wait(10)
    d.submit([ev("b")], SERVICES)
    before = METRICS.counter("lockgate_events_dropped_total", reason="timeout")
    t0 = time.monotonic()
    assert d.submit([ev("c")], SERVICES) is False
    assert time.monotonic() - t0 >= 0.2
    assert METRICS.counter("lockgate_events_dropped_total", reason="timeout") == before + 1
    writer.release.set()
    assert d.flush(10) and writer.written == ["a", "b"] and d.dropped == 1


def test_drop_mode_drops_at_once_counts_each_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(queue_size=1, flush_interval_s=0, on_full="drop"), writer)
    d.submit([ev("a")], SERVICES)
    assert writer.started.wait(10)
    d.submit([ev("b")], SERVICES)
    before = METRICS.counter("lockgate_events_dropped_total", reason="full")
    with caplog.at_level(logging.WARNING, logger="lockgate.events"):
        results = [d.submit([ev(f"x{i}")], SERVICES) for i in range(20)]
    assert results == [False] * 20
    assert METRICS.counter("lockgate_events_dropped_total", reason="full") == before + 20
    warnings = [r for r in caplog.records if r.name == "lockgate.events"]
    assert len(warnings) == 1 and "dropped 1 events" in warnings[0].getMessage()
    writer.release.set()
    assert d.flush(10) and writer.written == ["a", "b"]


def test_a_coroutine_waits_for_room_without_holding_its_loop() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(queue_size=1, flush_interval_s=0, block_timeout_s=30), writer)

    async def go() -> tuple[bool, int]:
        d.submit([ev("a")], SERVICES)
        assert writer.started.wait(10)
        d.submit([ev("b")], SERVICES)  # full
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick = asyncio.create_task(ticker())
        submit = asyncio.create_task(d.submit_async([ev("c")], SERVICES))
        await asyncio.sleep(0.3)
        assert not submit.done()
        seen = ticks
        writer.release.set()
        ok = await asyncio.wait_for(submit, 10)
        tick.cancel()
        return ok, seen

    ok, ticks = asyncio.run(go())
    assert ok and ticks >= 5  # the loop kept running while the submit waited
    assert d.flush(10) and writer.written == ["a", "b", "c"]


def test_a_coroutine_held_past_the_timeout_drops() -> None:
    writer = Gated()
    d = Dispatcher(EventsConfig(queue_size=1, flush_interval_s=0, block_timeout_s=0.1), writer)

    async def go() -> bool:
        d.submit([ev("a")], SERVICES)
        assert writer.started.wait(10)
        d.submit([ev("b")], SERVICES)
        return await d.submit_async([ev("c")], SERVICES)

    assert asyncio.run(go()) is False and d.dropped == 1
    writer.release.set()
    assert d.flush(10) and writer.written == ["a", "b"]


# -- waiting for writes -----------------------------------------------------------------------


def test_wait_for_a_trace_that_is_submitted_later() -> None:
    writer = Gated(hold=False)
    d = Dispatcher(EventsConfig(flush_interval_s=0), writer)
    later = threading.Timer(0.1, lambda: d.submit([finished("late")], SERVICES))
    later.start()
    assert d.wait_for("late", 10)
    assert writer.written == ["late"]
    assert d.wait_for("late", 0)  # written already
    assert not d.wait_for("never-sent", 0.1)


def test_a_subscriber_that_reads_does_not_wait_for_itself() -> None:
    seen: list[bool] = []
    d = Dispatcher(EventsConfig(flush_interval_s=0), lambda events, s: seen.append(d.flush(30)))
    d.submit([ev("a")], SERVICES)
    t0 = time.monotonic()
    assert d.flush(30) and seen == [True]
    assert time.monotonic() - t0 < 10


def test_close_writes_everything_accepted_and_a_later_emit_starts_again() -> None:
    writer = Gated(hold=False)
    d = Dispatcher(EventsConfig(flush_interval_s=10), writer)
    for i in range(10):
        d.submit([ev(f"t{i}")], SERVICES)
    assert d.close(10)
    assert writer.written == [f"t{i}" for i in range(10)]
    d.submit([ev("after")], SERVICES)
    assert d.flush(10) and writer.written[-1] == "after"


def test_a_trace_is_readable_as_soon_as_its_turn_answered(
    tmp_path: Path, default_config: None
) -> None:
    # The process's writer lingers 10 s over a batch; a read must not wait for that.
    dispatch.configure(EventsConfig(flush_interval_s=10))
    services = store(tmp_path)
    services.traces.list()  # the store exists: what follows times only the wait
    t0 = time.monotonic()
    emit([finished("rw-1"), pushed("alice", 1)], services)
    trace = services.traces.get("rw-1")
    entry = services.audit.last("prompt.pushed")
    assert trace is not None and trace["output"] == "answer rw-1"
    assert entry is not None and entry["actor"] == "alice"
    assert time.monotonic() - t0 < 8
    assert dispatch.dispatcher().wait_for("rw-1", 0)


def test_closing_the_services_writes_what_they_queued(tmp_path: Path, default_config: None) -> None:
    dispatch.configure(EventsConfig(flush_interval_s=10))
    services = store(tmp_path)
    emit([finished("closing-1")], services)
    assert services.close()
    assert dispatch.dispatcher().depth == 0
    reader = store(tmp_path)  # another reader of the same file: no queue of its own to wait on
    with reader.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM traces")]
    assert ids == ["closing-1"]
