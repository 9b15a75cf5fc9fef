"""The append-only, hash-chained audit log and the one-row head that anchors its end."""

from __future__ import annotations

import time

from sqlalchemy import Connection, text

GENESIS = "0" * 64  # prev_hash of the first entry; repeated in store/audit.py


def upgrade(conn: Connection, dialect: str) -> None:
    # DOUBLE PRECISION on PostgreSQL: its REAL is 4 bytes, which would round a timestamp and
    # change the hash an entry was written with.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    seq = "INTEGER" if dialect == "sqlite" else "BIGINT"
    for stmt in (
        # seq is assigned by the writer (head + 1), never by the database, so a sequence that
        # skips on a rolled-back insert cannot look like a removed entry. prev_hash is unique:
        # two entries claiming the same predecessor would be a fork.
        f"""CREATE TABLE audit_log (
            seq {seq} PRIMARY KEY,
            created_at {real} NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            tenant TEXT,
            ref TEXT,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL UNIQUE,
            hash TEXT NOT NULL
        )""",
        "CREATE INDEX ix_audit_log_created ON audit_log (created_at)",
        "CREATE INDEX ix_audit_log_kind ON audit_log (kind, created_at)",
        # One row: the last seq and hash, and an HMAC of them when a key is configured. Every
        # append locks and moves it, so writers queue on it and the tail cannot be cut unseen.
        f"""CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY,
            seq {seq} NOT NULL,
            hash TEXT NOT NULL,
            updated_at {real} NOT NULL,
            signature TEXT
        )""",
    ):
        conn.execute(text(stmt))
    conn.execute(
        text("INSERT INTO audit_head (id, seq, hash, updated_at) VALUES (1, 0, :h, :t)"),
        {"h": GENESIS, "t": time.time()},
    )
