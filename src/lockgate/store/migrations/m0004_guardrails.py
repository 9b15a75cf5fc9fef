"""Guardrail results on traces, and the escalations awaiting human review."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    for stmt in (
        "ALTER TABLE traces ADD COLUMN app TEXT",
        "ALTER TABLE traces ADD COLUMN guardrails TEXT",
        "ALTER TABLE traces ADD COLUMN guard_action TEXT",
        "ALTER TABLE traces ADD COLUMN groundedness REAL",
        f"""CREATE TABLE guard_escalations (
            id {pk},
            created_at REAL NOT NULL,
            trace_id TEXT NOT NULL,
            principal TEXT NOT NULL DEFAULT 'anonymous',
            tenant TEXT NOT NULL DEFAULT 'default',
            direction TEXT NOT NULL,
            scanners TEXT NOT NULL,
            excerpt TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            owner TEXT NOT NULL DEFAULT 'system'
        )""",
        "CREATE INDEX ix_escalations_status ON guard_escalations (status, created_at)",
    ):
        conn.execute(text(stmt))
