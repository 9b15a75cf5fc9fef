"""The event writer: events go to the store off the request path.

`emit` hands events to the `track_event` subscribers at once (metrics, span export, alerting
and plugins, none of which blocks), then queues them for the `store_events` subscribers (the
trace store, the audit log). One thread per process takes the queue in batches, in the order
the events were accepted, and hands each batch to those subscribers, which write it in one
transaction (group commit): a request no longer waits for its trace's commit, and a busy
gateway commits once per batch instead of once per request.

The queue is bounded (`events.queue_size`). When the store falls behind and it fills,
`events.on_full` decides: `block` holds the caller until there is room (at most
`events.block_timeout_s`, then the events are dropped), `drop` drops at once. Either way
dropped events are counted (`lockgate_events_dropped_total`) and logged, at most every 10 s.

Readers of the tables it writes call `lockgate.store.pending.settle()` (installed here) and
so see every event this process accepted before the read; `flush` and `wait_for` are the
same wait for tests and for stopping processes. A gateway's shutdown, the end of a CLI
command, `Services.close` and the interpreter's exit flush the queue."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lockgate.config.events import EventsConfig
from lockgate.observability.events import Event, TurnFinished
from lockgate.observability.metrics import METRICS
from lockgate.store import pending

log = logging.getLogger("lockgate.events")

# Trace ids remembered as written, for `wait_for` of a trace that was written already.
_RECENT = 4096
_WARN_EVERY_S = 10.0

Writer = Callable[[list[Event], Any], None]


@dataclass
class _Item:
    seq: int
    services: Any
    events: list[Event]


def store_with_plugins(events: list[Event], services: Any) -> None:
    """Hand a batch to every `store_events` subscriber; one failing must not stop the rest
    (so they are called one by one, not through the hook's chain)."""
    from lockgate.plugins.manager import plugin_manager

    for impl in plugin_manager().hook.store_events.get_hookimpls():
        kwargs = {"events": events, "services": services}
        try:
            impl.function(**{name: kwargs[name] for name in impl.argnames})
        except Exception:  # noqa: BLE001 - a subscriber's failure must not stop the others
            log.exception(
                "store_events subscriber %s failed on %d events", impl.plugin_name, len(events)
            )


class Dispatcher:
    def __init__(self, config: EventsConfig | None = None, writer: Writer | None = None) -> None:
        self.config = config or EventsConfig()
        self._writer = writer or store_with_plugins
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer: there is something to do
        self._space = threading.Condition(self._lock)  # blocked threads: there is room
        self._done = threading.Condition(self._lock)  # flush and wait_for: a batch was written
        self._queue: deque[_Item] = deque()
        self._depth = 0  # events queued (an item holds the events of one emit)
        self._writing = 0  # events of the batch being written
        self._last_batch = 0  # emits in the batch written last
        self._accepted = 0  # seq of the last item accepted
        self._written = 0  # seq of the last item written (items are written in order)
        self._queued_traces: dict[str, int] = {}  # trace id -> its item's seq, until written
        self._recent: deque[str] = deque(maxlen=_RECENT)
        self._recent_set: set[str] = set()
        self._room: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._waiting = 0  # callers in flush/wait_for: the writer lingers for nobody then
        self._blocked = 0  # threads held by a full queue: nor for them
        self._idle = True  # the writer waits for a first event (a producer must wake it)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.batches = 0  # batches written, for tests and benchmarks
        self._unlogged = 0
        self._last_warning = 0.0

    # -- producers ---------------------------------------------------------------------------

    def submit(self, events: Sequence[Event], services: Any) -> bool:
        """Queue events for the store subscribers; False when they were dropped (full)."""
        batch = list(events)
        if not batch:
            return True
        reason = "full"
        with self._lock:
            if self._has_room(len(batch)) or self._on_writer_thread():
                return self._accept(batch, services)
            if self.config.on_full == "block":
                if _on_event_loop():
                    # Waiting would stall every request of the loop, and the caller is a
                    # rare synchronous one (an authentication event): over the bound.
                    return self._accept(batch, services)
                deadline = time.monotonic() + self.config.block_timeout_s
                self._work.notify()  # a writer lingering over a full queue: write it now
                self._blocked += 1
                try:
                    while not self._has_room(len(batch)):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._space.wait(left)
                finally:
                    self._blocked -= 1
                if self._has_room(len(batch)):
                    return self._accept(batch, services)
                reason = "timeout"
        self._drop(len(batch), reason)
        return False

    async def submit_async(self, events: Sequence[Event], services: Any) -> bool:
        """`submit` for a coroutine: a full queue makes it wait without holding the loop."""
        batch = list(events)
        if not batch:
            return True
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            with self._lock:
                if self._has_room(len(batch)):
                    return self._accept(batch, services)
                if self.config.on_full == "drop":
                    reason = "full"
                    break
                now = time.monotonic()
                deadline = now + self.config.block_timeout_s if deadline is None else deadline
                left = deadline - now
                if left <= 0:
                    reason = "timeout"
                    break
                room: asyncio.Future[None] = loop.create_future()
                self._room.append((loop, room))
                self._work.notify()  # a writer lingering over a full queue: write it now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(room, left)
        self._drop(len(batch), reason)
        return False

    def _has_room(self, n: int) -> bool:
        # An emit larger than the whole queue still goes in once the queue is empty.
        return self._depth == 0 or self._depth + n <= self.config.queue_size

    def _accept(self, batch: list[Event], services: Any) -> bool:
        self._accepted += 1
        self._queue.append(_Item(self._accepted, services, batch))
        self._depth += len(batch)
        for event in batch:
            if isinstance(event, TurnFinished):
                self._queued_traces[event.trace_id] = self._accepted
        self._start()
        # The writer lingering over a batch is woken only when the batch or the queue is full.
        if self._idle or self._depth >= min(self.config.max_batch, self.config.queue_size):
            self._work.notify()
        return True

    def _drop(self, n: int, reason: str) -> None:
        METRICS.inc("lockgate_events_dropped_total", n, reason=reason)
        now = time.monotonic()
        with self._lock:
            self.dropped += n
            self._unlogged += n
            if now - self._last_warning < _WARN_EVERY_S:
                return
            count, self._unlogged, self._last_warning = self._unlogged, 0, now
        log.warning(
            "event queue full (%d events): dropped %d events (%s); the store is not keeping "
            "up: traces and audit entries are lost (events.on_full=%s)",
            self.config.queue_size,
            count,
            reason,
            self.config.on_full,
        )

    # -- waiting -----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event accepted before this call is written; False on timeout.
        At once when nothing is queued, and on the writer thread (a subscriber reading)."""
        if self._written >= self._accepted or self._on_writer_thread():
            return True
        with self._lock:
            target = self._accepted
            return self._wait(lambda: self._written >= target, timeout)

    def wait_for(self, trace_id: str, timeout: float | None = None) -> bool:
        """Wait until the trace `trace_id` is written (accepted already, or later: a request
        still running); False on timeout. Remembers the last 4096 traces written."""
        with self._lock:
            return self._wait(
                lambda: trace_id in self._recent_set and trace_id not in self._queued_traces,
                timeout,
            )

    def _wait(self, done: Callable[[], bool], timeout: float | None) -> bool:
        # Called holding the lock.
        if done():
            return True
        if self._queue:
            self._start()
        self._waiting += 1
        self._work.notify()  # cut a linger short: someone is waiting for this batch
        try:
            return self._done.wait_for(done, timeout)
        finally:
            self._waiting -= 1

    @property
    def depth(self) -> int:
        """Events accepted and not yet written."""
        return self._depth + self._writing

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the writer thread (a later emit starts another); False when the
        queue could not be written in time."""
        flushed = self.flush(timeout)
        with self._lock:
            thread = self._thread
            self._stopping = True
            self._work.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return flushed

    # -- the writer --------------------------------------------------------------------------

    def _on_writer_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def _start(self) -> None:
        # Called holding the lock.
        self._stopping = False
        if self._thread is not None and self._thread.is_alive():
            return
        thread = threading.Thread(target=self._run, name="lockgate-event-writer", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the interpreter is shutting down: no new threads
            log.warning("cannot start the event writer; %d events are not written", self._depth)
            return
        self._thread = thread

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    if self._stopping:
                        self._thread = None
                        return
                    self._idle = True
                    self._work.wait()
                self._idle = False
                self._linger()
                items = self._take()
                self._writing = sum(len(item.events) for item in items)
                self._last_batch = len(items)
                room, self._room = self._room, []
                self._space.notify_all()
                depth = self._depth
            for loop, future in room:
                with contextlib.suppress(RuntimeError):  # that loop has closed meanwhile
                    loop.call_soon_threadsafe(_wake, future)
            self._write(items)
            with self._lock:
                self._written = items[-1].seq
                self._writing = 0
                self.batches += 1
                for item in items:
                    for event in item.events:
                        if isinstance(event, TurnFinished):
                            self._written_trace(event.trace_id, item.seq)
                self._done.notify_all()
            METRICS.set("lockgate_event_queue_depth", depth)

    def _linger(self) -> None:
        # Called holding the lock: lets a batch fill for `flush_interval_s` while events keep
        # coming, under load only (the previous batch held more than one emit: they arrive
        # faster than a batch is written). A trickle is written at once, each emit as it
        # comes, and the end of a burst waits a quarter of the interval, not all of it. A
        # full batch or queue, a waiting reader or producer, or a stop ends the wait at once.
        if self._last_batch <= 1:
            return
        interval = self.config.flush_interval_s
        deadline = time.monotonic() + interval
        seen = self._depth
        full = min(self.config.max_batch, self.config.queue_size)
        while (
            self._depth < full
            and not (self._waiting or self._blocked or self._room)
            and not self._stopping
        ):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._work.wait(min(left, interval / 4))
            if self._depth == seen:
                return  # nothing came for a quarter of the interval: the burst is over
            seen = self._depth

    def _take(self) -> list[_Item]:
        items = [self._queue.popleft()]
        count = len(items[0].events)
        while self._queue and count + len(self._queue[0].events) <= self.config.max_batch:
            item = self._queue.popleft()
            items.append(item)
            count += len(item.events)
        self._depth -= count
        return items

    def _write(self, items: list[_Item]) -> None:
        # Consecutive items of one Services (a process has one, tests have many) are one batch.
        start = 0
        for end in range(1, len(items) + 1):
            if end == len(items) or items[end].services is not items[start].services:
                events = [e for item in items[start:end] for e in item.events]
                try:
                    self._writer(events, items[start].services)
                except Exception:  # noqa: BLE001 - the writer thread must outlive any batch
                    log.exception("could not write %d events", len(events))
                start = end

    def _written_trace(self, trace_id: str, seq: int) -> None:
        if self._queued_traces.get(trace_id) == seq:
            del self._queued_traces[trace_id]
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(trace_id)
        self._recent_set.add(trace_id)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# -- the process's dispatcher ---------------------------------------------------------------

_config = EventsConfig()
_instance: Dispatcher | None = None
_instance_lock = threading.Lock()


def dispatcher() -> Dispatcher:
    """This process's event writer (made on first use, with the last `configure`d settings)."""
    global _instance
    found = _instance
    if found is None:
        with _instance_lock:
            if _instance is None:
                _instance = Dispatcher(_config)
            found = _instance
    return found


def configure(config: EventsConfig) -> None:
    """Use these settings from now on (a process has one configuration: the last one set)."""
    global _config
    _config = config
    if _instance is not None:
        _instance.config = config


def flush(timeout: float | None = None) -> bool:
    """Wait for this process's queue (`events.shutdown_timeout_s` by default)."""
    found = _instance
    if found is None:
        return True
    ok = found.flush(found.config.shutdown_timeout_s if timeout is None else timeout)
    if not ok:
        log.warning("the event queue was not written in time: %d events left", found.depth)
    return ok


def _settle() -> None:
    found = _instance
    if found is not None:
        found.flush(found.config.read_wait_s)


def _at_exit() -> None:
    found = _instance
    if found is not None and not found.close(found.config.shutdown_timeout_s):
        log.warning("exiting with %d events not written", found.depth)


def _after_fork() -> None:
    # A forked child has no writer thread, and the queue it inherited is its parent's to
    # write: it starts with an empty one.
    global _instance, _instance_lock
    _instance = None
    _instance_lock = threading.Lock()


pending.install(_settle)
atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
