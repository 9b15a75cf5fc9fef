"""The jobs of queued ingest runs (m0026): one row per file, its state and outcome.

The queue (ingest/queue.py) only carries job ids; this table is the truth about them. A job
moves queued -> running -> done | quarantined | failed, and a job in one of the last three
states is never worked on again, however often the queue hands it out. Its move to done is
written in the transaction that commits its document (`mark_in`), so a worker killed at any
point leaves either nothing committed (the job runs again from scratch) or both.

A run's counts and per-source state are read from these rows, so any replica sees the same
progress, and a file is counted once whatever the queue did."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update

from lockgate.store import tables as tb
from lockgate.store.db import inserted_id, transaction

j = tb.ingest_jobs

OPEN = ("queued", "running")
TERMINAL = ("done", "quarantined", "failed")


@dataclass(frozen=True)
class NewJob:
    source: str
    content_hash: str | None
    source_id: int | None = None
    tenant: str = "default"
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobRow:
    id: int
    run_id: int
    source: str
    source_id: int | None
    tenant: str
    groups: tuple[str, ...]
    enqueued_hash: str | None
    state: str
    attempts: int
    failures: int

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL


def state_of(outcome: str) -> str:
    """The job state an ingest outcome leaves: a parse failure is quarantined, the rest done."""
    return "quarantined" if outcome == "quarantined" else "done"


class IngestJobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the enqueuer ------------------------------------------------------------------
    def create_run(self, jobs: Sequence[NewJob]) -> tuple[int, list[int]]:
        """A queued run and its jobs, in one transaction: (run id, job ids in order)."""
        now = time.time()
        with transaction(self.engine) as conn:
            run_id = inserted_id(
                conn.execute(
                    insert(tb.ingest_runs).values(started_at=now, summary="{}", kind="queued")
                )
            )
            if jobs:
                conn.execute(
                    insert(j),
                    [
                        {
                            "run_id": run_id,
                            "source": job.source,
                            "source_id": job.source_id,
                            "tenant": job.tenant,
                            "acl": json.dumps(sorted(set(job.groups))),
                            "enqueued_hash": job.content_hash,
                            "state": "queued",
                            "chunks": 0,
                            "attempts": 0,
                            "failures": 0,
                            "enqueued_at": now,
                        }
                        for job in jobs
                    ],
                )
            ids = {
                r.source: int(r.id)
                for r in conn.execute(select(j.c.id, j.c.source).where(j.c.run_id == run_id))
            }
        return run_id, [ids[job.source] for job in jobs]

    def open_jobs(self, run_id: int) -> list[tuple[int, str, str | None]]:
        """(job id, source, enqueued hash) of the run's unfinished jobs: what a requeue
        puts on the queue again."""
        stmt = (
            select(j.c.id, j.c.source, j.c.enqueued_hash)
            .where(j.c.run_id == run_id, j.c.state.in_(OPEN))
            .order_by(j.c.id)
        )
        with self.engine.connect() as conn:
            return [(int(r.id), r.source, r.enqueued_hash) for r in conn.execute(stmt)]

    # -- a worker ----------------------------------------------------------------------
    def start(self, job_id: int, worker: str) -> JobRow | None:
        """Count a delivery of the job and mark it running (unless it is finished already);
        the row as it is then, or None for a job the store does not have."""
        with transaction(self.engine) as conn:
            conn.execute(
                update(j)
                .where(j.c.id == job_id, j.c.state.in_(OPEN))
                .values(
                    state="running",
                    attempts=j.c.attempts + 1,
                    worker=worker,
                    started_at=time.time(),
                )
            )
            row = conn.execute(select(j).where(j.c.id == job_id)).first()
        if row is None:
            return None
        return JobRow(
            id=int(row.id),
            run_id=int(row.run_id),
            source=row.source,
            source_id=row.source_id,
            tenant=row.tenant,
            groups=tuple(json.loads(row.acl or "[]")),
            enqueued_hash=row.enqueued_hash,
            state=row.state,
            attempts=int(row.attempts),
            failures=int(row.failures),
        )

    def mark_in(
        self,
        conn: Connection,
        job_id: int,
        outcome: str,
        chunks: int,
        content_hash: str | None,
        error: str | None = None,
    ) -> bool:
        """Finish the job inside the caller's transaction. False when it was finished
        already (another worker held a redelivered copy and got there first)."""
        result = conn.execute(
            update(j)
            .where(j.c.id == job_id, j.c.state.in_(OPEN))
            .values(
                state=state_of(outcome),
                outcome=outcome,
                chunks=chunks,
                content_hash=content_hash,
                error=error,
                finished_at=time.time(),
            )
        )
        return result.rowcount == 1

    def complete(
        self,
        job_id: int,
        outcome: str,
        chunks: int = 0,
        content_hash: str | None = None,
        error: str | None = None,
    ) -> bool:
        with transaction(self.engine) as conn:
            return self.mark_in(conn, job_id, outcome, chunks, content_hash, error)

    def fail(self, job_id: int, error: str, max_failures: int) -> tuple[int, bool]:
        """Count a failure that was not the document's fault. Under `max_failures` the job
        is queued again; at it, failed for good. Returns (failures, final)."""
        with transaction(self.engine) as conn:
            row = conn.execute(
                select(j.c.failures, j.c.state).where(j.c.id == job_id).with_for_update()
            ).first()
            if row is None or row.state in TERMINAL:
                return (int(row.failures) if row else 0), True
            failures = int(row.failures) + 1
            final = failures >= max_failures
            conn.execute(
                update(j)
                .where(j.c.id == job_id)
                .values(
                    failures=failures,
                    error=error[:1000],
                    state="failed" if final else "queued",
                    outcome="failed" if final else None,
                    finished_at=time.time() if final else None,
                )
            )
        return failures, final

    def give_up(self, job_id: int, error: str) -> bool:
        """Fail the job for good (delivered too often): False if it was finished already."""
        with transaction(self.engine) as conn:
            result = conn.execute(
                update(j)
                .where(j.c.id == job_id, j.c.state.in_(OPEN))
                .values(
                    state="failed", outcome="failed", error=error[:1000], finished_at=time.time()
                )
            )
        return result.rowcount == 1

    def close_run(self, run_id: int) -> bool:
        """Mark the run finished if no job of it is open. True for the one caller that
        closed it (whoever finishes the last job), who then writes its report."""
        open_job = exists().where(j.c.run_id == run_id, j.c.state.in_(OPEN))
        r = tb.ingest_runs
        with transaction(self.engine) as conn:
            result = conn.execute(
                update(r)
                .where(and_(r.c.id == run_id, r.c.finished_at.is_(None), ~open_job))
                .values(finished_at=time.time())
            )
        return result.rowcount == 1

    # -- reads ---------------------------------------------------------------------------
    def progress(self, run_id: int) -> dict[str, Any]:
        """Counts by state and by outcome, chunks written, attempts beyond the first, and
        the same per source (the configured or ad-hoc folder a job came from)."""
        stmt = (
            select(
                j.c.source_id,
                j.c.state,
                j.c.outcome,
                func.count().label("n"),
                func.sum(j.c.chunks).label("chunks"),
                func.sum(j.c.attempts).label("attempts"),
            )
            .where(j.c.run_id == run_id)
            .group_by(j.c.source_id, j.c.state, j.c.outcome)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            names = {r.id: r.name for r in conn.execute(select(tb.sources.c.id, tb.sources.c.name))}
        total: dict[str, Any] = _empty()
        per: dict[Any, dict[str, Any]] = {}
        for row in rows:
            for bucket in (total, per.setdefault(row.source_id, _empty())):
                bucket["jobs"] += row.n
                bucket["states"][row.state] = bucket["states"].get(row.state, 0) + row.n
                if row.outcome:
                    bucket["outcomes"][row.outcome] = bucket["outcomes"].get(row.outcome, 0) + row.n
                bucket["chunks"] += int(row.chunks or 0)
                bucket["redeliveries"] += max(int(row.attempts or 0) - row.n, 0)
        for state in (*OPEN, *TERMINAL):
            total[state] = total["states"].get(state, 0)
        total["sources"] = [
            {
                "source_id": sid,
                "name": names.get(sid, "(none)"),
                **{k: v for k, v in bucket.items() if k != "jobs"},
                "jobs": bucket["jobs"],
            }
            for sid, bucket in sorted(per.items(), key=lambda kv: str(names.get(kv[0], "")))
        ]
        return total

    def jobs(self, run_id: int, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        stmt = select(j).where(j.c.run_id == run_id).order_by(j.c.id).limit(limit)
        if state is not None:
            stmt = stmt.where(j.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def finished_sources(self, run_id: int) -> dict[int, list[str]]:
        """Source id -> the sources of its jobs that were indexed or left as they were."""
        stmt = select(j.c.source_id, j.c.source).where(
            j.c.run_id == run_id, j.c.source_id.is_not(None), j.c.state != "failed"
        )
        out: dict[int, list[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(stmt):
                out.setdefault(int(r.source_id), []).append(r.source)
        return out


def _empty() -> dict[str, Any]:
    return {"jobs": 0, "states": {}, "outcomes": {}, "chunks": 0, "redeliveries": 0}
