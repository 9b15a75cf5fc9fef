"""Data keys for encryption at rest: one per tenant, each wrapped by a master key that never
enters the store."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    blob = "BYTEA" if dialect == "postgresql" else "BLOB"
    conn.execute(
        text(
            "CREATE TABLE data_keys ("
            "id TEXT PRIMARY KEY, "
            "tenant TEXT NOT NULL UNIQUE, "
            f"wrapped {blob} NOT NULL, "
            "master_id TEXT NOT NULL, "
            "created_at DOUBLE PRECISION NOT NULL, "
            "rewrapped_at DOUBLE PRECISION)"
        )
    )
