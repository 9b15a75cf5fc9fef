"""Staged releases: one row per release (its bundle and stage), its stage history, and the
release that served each trace. The monitor reads a release's traces of the last minutes,
a range the existing index on `created_at` serves; an index on (release, created_at) would
save little on a window of minutes and costs every trace insert."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    for stmt in (
        f"""CREATE TABLE releases (
            name TEXT PRIMARY KEY,
            stage TEXT NOT NULL,
            percent {real},
            pilot TEXT NOT NULL,
            prompts TEXT NOT NULL,
            model TEXT,
            models TEXT NOT NULL,
            params TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            rollout_since {real},
            previous TEXT,
            reason TEXT,
            slot TEXT
        )""",
        # 'current' for the full release, 'rollout' for the one in pilot or percentage, NULL
        # otherwise: the database itself keeps it to one of each, whoever writes.
        "CREATE UNIQUE INDEX ux_releases_slot ON releases (slot)",
        f"""CREATE TABLE release_history (
            release TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at {real} NOT NULL,
            from_stage TEXT,
            to_stage TEXT NOT NULL,
            actor TEXT NOT NULL,
            detail TEXT NOT NULL,
            PRIMARY KEY (release, seq)
        )""",
        "ALTER TABLE traces ADD COLUMN release TEXT",
    ):
        conn.execute(text(stmt))
