"""On traces: whether the answer was the degraded extractive one, and what the
upstream call went through (attempts per deployment, fallback used)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    for stmt in (
        "ALTER TABLE traces ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE traces ADD COLUMN upstream TEXT",
    ):
        conn.execute(text(stmt))
