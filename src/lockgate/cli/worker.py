"""`lockgate worker ingest`: consume the ingest queue (docs/ingest-queue.md)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from lockgate.auth.scopes import DOCS_WRITE
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx


@click.group()
def worker() -> None:
    """Background workers."""


@requires(DOCS_WRITE)
@worker.command("ingest")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs worked on at once in this process (threads: good while the embedder is "
    "remote; for CPU-bound parsing run more processes).",
)
@click.pass_obj
def worker_ingest(obj: Ctx, concurrency: int) -> None:
    """Index the files queued by `lockgate ingest PATHS --queue`, until SIGTERM or Ctrl-C
    (the jobs in hand are finished first; a worker killed outright loses nothing: its jobs
    go to another worker after `ingest.queue.visibility_timeout_s`)."""
    from lockgate.cli.ingest import open_queue, queued_runs, source_sync
    from lockgate.ingest.worker import IngestWorker, consumer_name, started, wait_for
    from lockgate.store.ingest_jobs import IngestJobStore

    cfg = obj.settings.ingest.queue
    probe = open_queue(obj)
    probe.close()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"lockgate: signal {signum}: finishing the jobs in hand", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    closer = queued_runs(obj)
    jobs = IngestJobStore(obj.services().engine)
    workers = [
        IngestWorker(
            open_queue(obj),
            jobs,
            source_sync(obj).ingestor,
            cfg,
            closer.close,
            stop,
            consumer_name(i),
        )
        for i in range(concurrency)
    ]
    click.echo(
        f"lockgate: ingest worker: {concurrency} consumer(s) on "
        f"{obj.settings.redis.prefix}{cfg.stream}, group {cfg.group}",
        err=True,
    )
    try:
        wait_for(stop, started(workers))
    finally:
        for w in workers:
            w.queue.close()
    total = sum(w.stats.jobs for w in workers)
    click.echo(f"lockgate: ingest worker stopped after {total} job(s)", err=True)
    sys.exit(0)
