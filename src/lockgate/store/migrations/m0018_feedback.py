"""User feedback on answers: a rating (1-5; a thumb up is 5, down is 1) on one trace, with an
optional comment and correction sealed by the tenant's data key. The trace's prompt version,
model and app are copied at submission, so reports group by them after the trace is purged."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    for stmt in (
        f"""CREATE TABLE feedback (
            id TEXT PRIMARY KEY,
            created_at {real} NOT NULL,
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            trace_id TEXT NOT NULL,
            rating INTEGER NOT NULL,
            thumb TEXT,
            comment TEXT,
            correction TEXT,
            prompt_version INTEGER,
            model TEXT,
            app TEXT
        )""",
        "CREATE INDEX ix_feedback_tenant ON feedback (tenant, created_at)",
        "CREATE INDEX ix_feedback_principal ON feedback (principal)",
        "CREATE INDEX ix_feedback_created ON feedback (created_at)",
    ):
        conn.execute(text(stmt))
