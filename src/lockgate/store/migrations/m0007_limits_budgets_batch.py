"""Rate-limit buckets (for the shared store), budget ledger with reservations and
alert events, uploaded files and batches with their items."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    for stmt in (
        """CREATE TABLE rate_buckets (
            key TEXT PRIMARY KEY,
            level REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        # One row per (scope, period): spent is settled money, reserved is held by requests
        # in flight. The admission check and the hold happen in one write transaction.
        """CREATE TABLE budget_usage (
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            spent REAL NOT NULL DEFAULT 0,
            reserved REAL NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            soft_alerted INTEGER NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            PRIMARY KEY (scope, period)
        )""",
        """CREATE TABLE budget_reservations (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            amount REAL NOT NULL,
            entries TEXT NOT NULL
        )""",
        "CREATE INDEX ix_budget_res_expires ON budget_reservations (expires_at)",
        f"""CREATE TABLE budget_events (
            id {pk},
            created_at REAL NOT NULL,
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            period TEXT NOT NULL,
            spent REAL NOT NULL,
            threshold REAL NOT NULL,
            trace_id TEXT
        )""",
        """CREATE TABLE files (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            filename TEXT NOT NULL,
            purpose TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            path TEXT NOT NULL,
            principal TEXT,
            deleted INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            status TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            input_file_id TEXT NOT NULL,
            completion_window TEXT NOT NULL,
            principal TEXT,
            tenant TEXT,
            metadata TEXT,
            errors TEXT,
            output_file_id TEXT,
            error_file_id TEXT,
            in_progress_at REAL,
            finalizing_at REAL,
            completed_at REAL,
            failed_at REAL,
            cancelling_at REAL,
            cancelled_at REAL,
            expires_at REAL,
            worker TEXT,
            lease_until REAL
        )""",
        "CREATE INDEX ix_batches_status ON batches (status, created_at)",
        """CREATE TABLE batch_items (
            batch_id TEXT NOT NULL,
            line INTEGER NOT NULL,
            custom_id TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            status_code INTEGER,
            response TEXT,
            error TEXT,
            trace_id TEXT,
            finished_at REAL,
            PRIMARY KEY (batch_id, line)
        )""",
        "CREATE INDEX ix_batch_items_status ON batch_items (batch_id, status, line)",
    ):
        conn.execute(text(stmt))
