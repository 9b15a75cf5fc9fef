"""The prompt registry: immutable prompt versions (a per-name sequence number and the SHA-256
of the canonical content), movable labels, and every label move (so rollback knows where a
label was before). Traces name the prompt's content hash and the label it came through."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    for stmt in (
        f"""CREATE TABLE prompt_versions (
            id {serial},
            name TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at {real} NOT NULL,
            created_by TEXT
        )""",
        # The two constraints make a concurrent push or seed of the same content a conflict
        # instead of a second version.
        "CREATE UNIQUE INDEX ux_prompt_versions_seq ON prompt_versions (name, seq)",
        "CREATE UNIQUE INDEX ux_prompt_versions_hash ON prompt_versions (name, hash)",
        f"""CREATE TABLE prompt_labels (
            name TEXT NOT NULL,
            label TEXT NOT NULL,
            seq INTEGER NOT NULL,
            updated_at {real} NOT NULL,
            updated_by TEXT,
            PRIMARY KEY (name, label)
        )""",
        f"""CREATE TABLE prompt_label_history (
            id {serial},
            name TEXT NOT NULL,
            label TEXT NOT NULL,
            action TEXT NOT NULL,
            from_seq INTEGER,
            to_seq INTEGER NOT NULL,
            created_at {real} NOT NULL,
            actor TEXT
        )""",
        "CREATE INDEX ix_prompt_label_history ON prompt_label_history (name, label, id)",
        "ALTER TABLE traces ADD COLUMN prompt_hash TEXT",
        "ALTER TABLE traces ADD COLUMN prompt_label TEXT",
    ):
        conn.execute(text(stmt))
