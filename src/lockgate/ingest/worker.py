"""`lockgate worker ingest`: take jobs off the queue, index each file, ack it.

What each delivery can meet, and what the worker does:

- a finished job (its row is done, quarantined or failed): acked, nothing else. That is
  every redelivery of a job whose worker died after committing: the commit and the row's
  move to done are one transaction (`Ingestor.commit_hook`).
- a job whose worker died before committing: run again from scratch; nothing of it was
  written. A retried job looks at its file again even when the hash matches the stored
  version (a container's members may have been cut short); the store's row lock refuses a
  second copy of a version (`AlreadyIndexed`), so that costs a parse, never a second index.
- two workers on one job (one stalled past the visibility timeout, the other claimed it):
  the second commit finds the content there and writes nothing; counted as a duplicate.
- a file that cannot be parsed: quarantined once (the Ingestor's quarantine), the job
  finished as quarantined and acked. Never retried by the queue.
- any other failure (the store away, or the embedder: the Ingestor quarantines its failure
  as `embedding_failed`, which is treated as one): the job is put back after a backoff, at
  most `ingest.queue.max_failures` times, then failed and dead-lettered.
- a job delivered `max_deliveries` times without finishing (a file that kills its worker):
  failed and dead-lettered.

Whoever finishes a run's last job closes the run and writes its report."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.config import IngestQueueConfig
from lockgate.ingest.pipeline import Ingestor, IngestSummary
from lockgate.ingest.queue import Delivery, JobQueue
from lockgate.sharedstate.client import REDIS_ERRORS
from lockgate.store.access import Access
from lockgate.store.ingest_jobs import IngestJobStore, JobRow

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from lockgate.store.documents import DocumentStore, KnownSource

log = logging.getLogger("lockgate.ingest.worker")

RunCloser = Callable[[int], None]

# Quarantine reasons that are not the document's fault: a job that ends in one of them is
# retried like a failure (the quarantine entry stays until a later attempt indexes it).
TRANSIENT_REASONS = frozenset({"embedding_failed"})


class TransientQuarantine(Exception):  # noqa: N818 - a cause of a retry
    """The Ingestor quarantined the file for a reason that may pass (the embedder down)."""


def consumer_name(index: int = 0) -> str:
    """Unique per process and thread, readable in XINFO CONSUMERS: host, pid, thread."""
    return f"{socket.gethostname()}-{os.getpid()}-{index}-{uuid.uuid4().hex[:6]}"


class _Lookup:
    """`Known` for one job: a row read per source. `recheck` is the source whose stored
    version is not trusted to be complete (a retried job), so it is indexed again and the
    store's AlreadyIndexed decides."""

    def __init__(self, store: DocumentStore, recheck: str | None) -> None:
        self.store = store
        self.recheck = recheck

    def get(self, source: str, /) -> KnownSource | None:
        if source == self.recheck:
            return None
        return self.store.known_source(source)

    def __iter__(self) -> Iterator[str]:
        # Only a container's members ask for every source (to retire vanished members).
        return iter(self.store.known_sources())


@dataclass
class WorkerStats:
    jobs: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    redelivered: int = 0  # finished jobs handed out again: acked, nothing done
    duplicates: int = 0  # jobs another worker finished while this one worked on them
    retried: int = 0
    dead_lettered: int = 0

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class IngestWorker:
    """One consumer of the queue. Not thread-safe: `--concurrency N` runs N of them, each
    with its own Ingestor."""

    def __init__(
        self,
        queue: JobQueue,
        jobs: IngestJobStore,
        ingestor: Ingestor,
        config: IngestQueueConfig,
        close_run: RunCloser,
        stop: threading.Event,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        self.jobs = jobs
        self.ingestor = ingestor
        self.config = config
        self.close_run = close_run
        self.stop = stop
        self.name = name or consumer_name()
        self.stats = WorkerStats()

    def run(self) -> None:
        log.info("ingest worker %s started", self.name)
        pause = 0.5
        while not self.stop.is_set():
            try:
                deliveries = self.queue.take(self.name, 1)
            except REDIS_ERRORS as exc:
                log.error("ingest queue unavailable (%s: %s); retrying", type(exc).__name__, exc)
                self.stop.wait(pause)
                pause = min(pause * 2, 10.0)
                continue
            pause = 0.5
            for delivery in deliveries:
                try:
                    self.handle(delivery)
                except Exception:  # noqa: BLE001 - left pending: redelivered after the timeout
                    log.exception("ingest job %s not finished", delivery.message_id)
                    self.stop.wait(1.0)
        log.info("ingest worker %s stopped: %s", self.name, self.stats)

    def handle(self, delivery: Delivery) -> str:
        """Work on one delivery to the end (acked, retried or dead-lettered); its outcome."""
        try:
            job = delivery.job()
        except ValueError as exc:
            return self._dead(delivery, f"not an ingest job: {exc}", "malformed")
        row = self.jobs.start(job.job_id, self.name)
        if row is None:
            return self._dead(delivery, f"no ingest job {job.job_id} in the store", "unknown")
        if row.finished:
            self.queue.ack(delivery)
            self.stats.redelivered += 1
            return "redelivered"
        if row.attempts > self.config.max_deliveries:
            self.jobs.give_up(row.id, f"delivered {row.attempts - 1} times, never finished")
            outcome = self._dead(delivery, "too many deliveries", "failed")
            self.close_run(row.run_id)
            return outcome
        self.stats.jobs += 1
        with self._heartbeat(delivery):
            try:
                outcome, won = self._index(row)
            except Exception as exc:  # noqa: BLE001 - not the document's fault: retried
                return self._failed(delivery, row, exc)
        self.queue.ack(delivery)
        self.stats.count(outcome)
        if not won:
            self.stats.duplicates += 1
            log.warning("ingest job %s: finished meanwhile by another worker", row.id)
        self.close_run(row.run_id)
        return outcome

    def _index(self, row: JobRow) -> tuple[str, bool]:
        """Index the job's file; (outcome, whether this worker finished the job)."""
        ing = self.ingestor
        ing.access = Access.of(row.tenant, row.groups)
        summary = IngestSummary(run_id=row.run_id)
        marked: list[bool] = []

        def hook(conn: Connection, outcome: str, chunks: int, digest: str) -> None:
            marked.append(self.jobs.mark_in(conn, row.id, outcome, chunks, digest))

        path = Path(row.source)
        if not path.exists() and not path.is_symlink():
            return "missing", self.jobs.complete(row.id, "missing", error="gone since enqueued")
        ing.commit_hook = hook
        try:
            known = _Lookup(ing.store, row.source if row.attempts > 1 else None)
            quarantined = ing.store.quarantined_under(row.source)
            outcome = ing.index_file(path, known, quarantined, summary)
        finally:
            ing.commit_hook = None
        if marked:
            return outcome, marked[0]
        q = next((q for q in summary.quarantined_files if q.source == row.source), None)
        if q is not None and q.reason in TRANSIENT_REASONS:
            raise TransientQuarantine(f"{q.reason}: {q.detail}")
        error = f"{q.reason}: {q.detail}" if q else None
        return outcome, self.jobs.complete(row.id, outcome, summary.chunks, None, error)

    def _failed(self, delivery: Delivery, row: JobRow, exc: Exception) -> str:
        error = f"{type(exc).__name__}: {exc}"
        failures, final = self.jobs.fail(row.id, error, self.config.max_failures)
        if final:
            log.error("ingest job %s (%s) failed for good: %s", row.id, row.source, error)
            outcome = self._dead(delivery, error, "failed")
            self.close_run(row.run_id)
            return outcome
        delay = self.config.backoff_s * 2 ** (failures - 1)
        log.warning(
            "ingest job %s (%s) failed (%d of %d), again in %.1fs: %s",
            row.id,
            row.source,
            failures,
            self.config.max_failures,
            delay,
            error,
        )
        self.stop.wait(delay)
        self.queue.retry(delivery)
        self.stats.retried += 1
        return "retried"

    def _dead(self, delivery: Delivery, reason: str, outcome: str) -> str:
        self.queue.dead_letter(delivery, reason)
        self.stats.dead_lettered += 1
        self.stats.count(outcome)
        return outcome

    @contextlib.contextmanager
    def _heartbeat(self, delivery: Delivery) -> Iterator[None]:
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.config.heartbeat_s):
                try:
                    if not self.queue.keep(delivery, self.name):
                        log.warning(
                            "ingest job %s was claimed by another worker", delivery.message_id
                        )
                        return
                except REDIS_ERRORS as exc:
                    log.warning("ingest heartbeat failed: %s", exc)

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)


def wait_for(stop: threading.Event, threads: list[threading.Thread]) -> None:
    """Join worker threads, waking up for signals (a plain join blocks them)."""
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.2)
    stop.set()


def started(workers: list[IngestWorker]) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=w.run, name=f"ingest-worker-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]
    for t in threads:
        t.start()
    return threads
