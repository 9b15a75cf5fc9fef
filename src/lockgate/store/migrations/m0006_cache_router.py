"""The response cache table, and the cache and routing outcome on every trace."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    blob = "BLOB" if dialect == "sqlite" else "BYTEA"
    for stmt in (
        "ALTER TABLE traces ADD COLUMN cache TEXT",
        "ALTER TABLE traces ADD COLUMN route TEXT",
        f"""CREATE TABLE cache_entries (
            id {pk},
            key TEXT NOT NULL UNIQUE,
            scope TEXT NOT NULL,
            tenant TEXT NOT NULL,
            model TEXT NOT NULL,
            request_text TEXT NOT NULL,
            answer TEXT NOT NULL,
            documents TEXT NOT NULL DEFAULT '[]',
            embedding {blob},
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            last_hit_at REAL,
            hits INTEGER NOT NULL DEFAULT 0,
            trace_id TEXT
        )""",
        "CREATE INDEX ix_cache_scope ON cache_entries (scope, expires_at)",
        "CREATE INDEX ix_cache_tenant ON cache_entries (tenant)",
    ):
        conn.execute(text(stmt))
