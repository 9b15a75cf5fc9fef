"""API keys: the visible prefix that finds a key, a hash of its secret, and who it speaks for."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    for stmt in (
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            tenant TEXT NOT NULL,
            roles TEXT NOT NULL,
            groups TEXT NOT NULL,
            created_at REAL NOT NULL,
            created_by TEXT,
            expires_at REAL,
            revoked_at REAL,
            rotated_at REAL
        )""",
        # Every authenticated request looks its key up by prefix, so it is indexed and unique.
        "CREATE UNIQUE INDEX ix_api_keys_prefix ON api_keys (prefix)",
    ):
        conn.execute(text(stmt))
