"""Queued ingest (`lockgate ingest --queue`, `lockgate worker ingest`): a run is `queued`
when its files are jobs on the queue, and each job has a row here. The row is what makes a
redelivered job a no-op: its state moves to done in the same transaction that commits the
document, so the run's counts are the rows' states, each file counted once however often
the queue delivered it."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    ref = "INTEGER" if dialect == "sqlite" else "BIGINT"
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    for stmt in (
        "ALTER TABLE ingest_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'local'",
        f"""CREATE TABLE ingest_jobs (
            id {pk},
            run_id {ref} NOT NULL,
            source TEXT NOT NULL,
            source_id {ref},
            tenant TEXT NOT NULL,
            acl TEXT NOT NULL,
            enqueued_hash TEXT,
            content_hash TEXT,
            state TEXT NOT NULL,
            outcome TEXT,
            chunks INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            error TEXT,
            enqueued_at {real} NOT NULL,
            started_at {real},
            finished_at {real},
            UNIQUE (run_id, source)
        )""",
        "CREATE INDEX ix_ingest_jobs_run_state ON ingest_jobs (run_id, state)",
    ):
        conn.execute(text(stmt))
