"""A person's data across the store: export it, erase it, and purge what is past retention.

The subject is a principal id: the caller a trace, a review item, a correction, a feedback
row, a file or a batch belongs to. Erasure deletes those rows (and the cached answers made
from the subject's requests) in one transaction; uploaded file bytes are removed from disk
after it commits."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from lockgate.store import pending
from lockgate.store import tables as tb
from lockgate.store.db import transaction
from lockgate.store.feedback import FeedbackStore
from lockgate.store.reviews import ReviewStore
from lockgate.store.traces import TraceStore

_DAY = 86400.0


def _owned_file(f: Any, subject: str) -> Any:
    # Uploaded files record their owner as "tenant|principal" (older ones: the principal).
    return (f.c.principal == subject) | f.c.principal.endswith("|" + subject, autoescape=True)
_FINISHED = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class Retention:
    """Seconds each record type is kept; None keeps it."""

    traces: float | None
    reviews: float | None
    corrections: float | None
    cache: float | None
    batches: float | None
    files: float | None
    feedback: float | None = None  # None (as when not given) keeps it

    @classmethod
    def days(cls, **days: float | None) -> Retention:
        return cls(**{k: None if v is None else v * _DAY for k, v in days.items()})


class PrivacyStore:
    def __init__(
        self,
        engine: Engine,
        traces: TraceStore,
        reviews: ReviewStore,
        feedback: FeedbackStore | None = None,
    ) -> None:
        self.engine = engine
        self.traces = traces
        self.reviews = reviews
        self.feedback = feedback or FeedbackStore(engine, reviews.cipher)

    # -- export ----------------------------------------------------------------------------

    def export(self, subject: str) -> dict[str, Any]:
        pending.settle()
        t, f, b = tb.traces, tb.files, tb.batches
        with self.engine.connect() as conn:
            trace_ids = [r.id for r in conn.execute(select(t.c.id).where(t.c.principal == subject))]
            files = [
                {k: v for k, v in r._mapping.items() if k != "path"}
                for r in conn.execute(select(f).where(_owned_file(f, subject), f.c.deleted == 0))
            ]
            batches = [
                dict(r._mapping) for r in conn.execute(select(b).where(b.c.principal == subject))
            ]
        return {
            "subject": subject,
            "exported_at": time.time(),
            "traces": [self.traces.get(i) for i in trace_ids],
            "reviews": [asdict(r) for r in self.reviews.of_principal(subject)],
            "corrections": [asdict(c) for c in self.reviews.corrections_of_principal(subject)],
            "feedback": [asdict(x) for x in self.feedback.of_principal(subject)],
            "files": files,
            "batches": batches,
        }

    # -- erasure ---------------------------------------------------------------------------

    def forget(self, subject: str) -> dict[str, int]:
        # Before the erasure's transaction: a trace of the subject still queued is erased too.
        pending.settle()
        t, f, b = tb.traces, tb.files, tb.batches
        r, rc, fb = tb.review_items, tb.review_corrections, tb.feedback
        with transaction(self.engine) as conn:
            trace_ids = [r.id for r in conn.execute(select(t.c.id).where(t.c.principal == subject))]
            batch_ids = [r.id for r in conn.execute(select(b.c.id).where(b.c.principal == subject))]
            owned = _owned_file(f, subject)
            paths = [r.path for r in conn.execute(select(f.c.path).where(owned))]
            counts = {
                "cache_entries": _delete_in(conn, tb.cache_entries.c.trace_id, trace_ids),
                "trace_acl": _delete_in(conn, tb.trace_acl.c.trace_id, trace_ids),
                "batch_items": _delete_in(conn, tb.batch_items.c.batch_id, batch_ids),
                "batches": conn.execute(delete(b).where(b.c.principal == subject)).rowcount,
                "files": conn.execute(delete(f).where(owned)).rowcount,
                "reviews": conn.execute(delete(r).where(r.c.principal == subject)).rowcount,
                "corrections": conn.execute(
                    delete(rc).where(rc.c.principal == subject)
                ).rowcount,
                "feedback": conn.execute(delete(fb).where(fb.c.principal == subject)).rowcount,
                "traces": conn.execute(delete(t).where(t.c.principal == subject)).rowcount,
            }
        _unlink(paths)
        return counts

    # -- retention -------------------------------------------------------------------------

    def purge(self, keep: Retention, now: float | None = None) -> dict[str, int]:
        now = time.time() if now is None else now
        pending.settle()
        t, c, f, b = tb.traces, tb.cache_entries, tb.files, tb.batches
        r, rc = tb.review_items, tb.review_corrections
        counts: dict[str, int] = {}
        paths: list[str] = []
        with transaction(self.engine) as conn:
            if keep.traces is not None:
                old = t.c.created_at < now - keep.traces
                a = tb.trace_acl
                counts["trace_acl"] = conn.execute(
                    delete(a).where(a.c.trace_id.in_(select(t.c.id).where(old)))
                ).rowcount
                counts["traces"] = conn.execute(delete(t).where(old)).rowcount
            if keep.reviews is not None:
                old = r.c.created_at < now - keep.reviews
                counts["reviews"] = conn.execute(delete(r).where(old)).rowcount
            if keep.corrections is not None:
                old = rc.c.created_at < now - keep.corrections
                counts["corrections"] = conn.execute(delete(rc).where(old)).rowcount
            if keep.feedback is not None:
                fb = tb.feedback
                old = fb.c.created_at < now - keep.feedback
                counts["feedback"] = conn.execute(delete(fb).where(old)).rowcount
            expired = c.c.expires_at <= now
            if keep.cache is not None:
                expired = expired | (c.c.created_at < now - keep.cache)
            counts["cache_entries"] = conn.execute(delete(c).where(expired)).rowcount
            if keep.batches is not None:
                done = b.c.status.in_(_FINISHED) & (b.c.created_at < now - keep.batches)
                ids = [r.id for r in conn.execute(select(b.c.id).where(done))]
                counts["batch_items"] = _delete_in(conn, tb.batch_items.c.batch_id, ids)
                counts["batches"] = _delete_in(conn, b.c.id, ids)
            if keep.files is not None:
                old_files = f.c.created_at < now - keep.files
                paths = [r.path for r in conn.execute(select(f.c.path).where(old_files))]
                counts["files"] = conn.execute(delete(f).where(old_files)).rowcount
        _unlink(paths)
        return counts


def _delete_in(conn: Connection, column: Any, values: list[Any]) -> int:
    removed = 0
    # Bounded batches: SQLite caps the number of bound parameters in one statement.
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        removed += conn.execute(delete(column.table).where(column.in_(part))).rowcount
    return removed


def _unlink(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
