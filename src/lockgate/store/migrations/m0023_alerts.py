"""Alert history: one row per alert that fired or cleared, with what each webhook answered.
The cool-down of a rule is read from here (its last row for the same subject), so several
gateway processes share one cool-down instead of each sending its own copy."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    for stmt in (
        f"""CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            created_at {real} NOT NULL,
            rule TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL,
            severity TEXT NOT NULL,
            value {real},
            threshold {real},
            message TEXT NOT NULL,
            detail TEXT NOT NULL,
            deliveries TEXT NOT NULL
        )""",
        "CREATE INDEX ix_alerts_rule_subject ON alerts (rule, subject, created_at)",
        "CREATE INDEX ix_alerts_created ON alerts (created_at)",
    ):
        conn.execute(text(stmt))
