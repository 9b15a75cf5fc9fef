"""Queued runs: `lockgate ingest PATHS --queue` lists the files and puts one job per file on
the queue; workers (ingest/worker.py) index them; the one that finishes the last job closes
the run and writes its report, as `lockgate ingest` writes a local run's.

The run and its job rows are written before anything is queued, so a crash of the enqueuer
between the two leaves jobs that `lockgate runs requeue RUN` puts on the queue again (as it
does after a Redis that lost its data): the jobs' rows make a second copy harmless."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.config import SourceSpec
from lockgate.ingest.pipeline import IngestSummary, QuarantinedFile
from lockgate.ingest.queue import Job, JobQueue
from lockgate.ingest.report import finalize
from lockgate.ingest.sources.folder import FolderConnector
from lockgate.ingest.sync import SourceSync
from lockgate.store.ingest_jobs import IngestJobStore, NewJob


class NotQueueable(ValueError):
    """A source a worker cannot read from a shared folder (a URL, an s3:// prefix)."""


@dataclass(frozen=True)
class Enqueued:
    run_id: int
    jobs: int
    retired: int


def file_hash(path: Path, max_bytes: int) -> str | None:
    """sha256 of the file, or None when it cannot be read here or is over the size limit
    (its worker quarantines it with the reason)."""
    try:
        if path.stat().st_size > max_bytes:
            return None
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


class QueuedRuns:
    def __init__(self, sync: SourceSync, jobs: IngestJobStore) -> None:
        self.sync = sync
        self.jobs = jobs
        self._closing = threading.Lock()

    def enqueue(self, specs: Sequence[SourceSpec], queue: JobQueue, prune: bool) -> Enqueued:
        sync, ing = self.sync, self.sync.ingestor
        wanted: dict[str, NewJob] = {}
        retired = 0
        listed: list[tuple[int, list[Path]]] = []
        for spec in specs:
            if spec.kind != "folder":
                raise NotQueueable(
                    f"{spec.name}: --queue takes files and folders (workers read them from a "
                    f"shared volume), not {spec.kind} sources"
                )
            source_id = sync.sources.ensure(
                spec.name, spec.kind, spec.uri, spec.model_dump(mode="json")
            )
            conn = sync.connector(spec)
            if not isinstance(conn, FolderConnector):
                raise NotQueueable(f"{spec.name}: not a folder")
            paths = conn.paths()
            if prune:
                retired += sync.prune(conn.prefix(), {str(p) for p in paths})
            listed.append((source_id, paths))
        for source_id, paths in listed:
            for path in paths:
                key = str(path)
                if key in wanted:  # two overlapping folders: the first names it
                    continue
                access = ing.access_for(key)
                wanted[key] = NewJob(
                    source=key,
                    content_hash=file_hash(path, ing.config.max_file_bytes),
                    source_id=source_id,
                    tenant=access.tenant,
                    groups=access.groups,
                )
        new = list(wanted.values())
        run_id, ids = self.jobs.create_run(new)
        queue.put([Job(i, run_id, j.source, j.content_hash) for i, j in zip(ids, new, strict=True)])
        if not new:
            self.close(run_id)
        return Enqueued(run_id, len(new), retired)

    def requeue(self, run_id: int, queue: JobQueue) -> int:
        """Put the run's unfinished jobs on the queue again; how many."""
        open_jobs = self.jobs.open_jobs(run_id)
        queue.put([Job(i, run_id, source, digest) for i, source, digest in open_jobs])
        return len(open_jobs)

    def close(self, run_id: int) -> None:
        """Close the run if its last job is finished, once across all workers, and write
        its report: counts from the job rows, near-duplicate grouping, quarantine alerts."""
        if not self.jobs.close_run(run_id):
            return
        with self._closing:
            self._report(run_id)

    def _report(self, run_id: int) -> None:
        sync, ing = self.sync, self.sync.ingestor
        progress = self.jobs.progress(run_id)
        outcomes: dict[str, int] = progress["outcomes"]
        summary = IngestSummary(
            run_id=run_id,
            seen=progress["jobs"],
            new=outcomes.get("new", 0),
            updated=outcomes.get("updated", 0),
            unchanged=outcomes.get("unchanged", 0),
            duplicates=outcomes.get("duplicate", 0),
            quarantined=outcomes.get("quarantined", 0),
            refused=outcomes.get("refused", 0),
            chunks=progress["chunks"],
        )
        for row in self.jobs.jobs(run_id, state="quarantined", limit=50):
            reason, _, detail = (row["error"] or "").partition(": ")
            summary.quarantined_files.append(QuarantinedFile(row["source"], reason, detail))
            summary.reasons[reason] = summary.reasons.get(reason, 0) + 1
        for source_id, sources in self.jobs.finished_sources(run_id).items():
            sync.quality.set_source(sources, source_id)
        for src in progress["sources"]:
            if src["source_id"] is None:
                continue
            changed = any(src["outcomes"].get(k) for k in ("new", "updated", "duplicate"))
            failed = src["states"].get("failed", 0)
            sync.sources.record_sync(
                src["source_id"],
                changed=changed,
                indexed=changed,
                error=f"{failed} job(s) failed" if failed else None,
            )
        summary.sources = progress["sources"]
        finalize(ing, summary)
        run = ing.runs.get(run_id)
        summary.seconds = round(time.time() - (run["started_at"] if run else time.time()), 3)
        report: dict[str, Any] = {**summary.as_dict(), "failed": progress["failed"]}
        ing.runs.finish(run_id, report)
