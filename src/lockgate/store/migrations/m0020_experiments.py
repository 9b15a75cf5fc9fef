"""Evaluation runs: one `experiments` row per run of a dataset through the pipeline, one
`experiment_cases` row per case, and `experiment_labels` naming an experiment per tenant
(`baseline`, `main`) so a gate can compare against a name instead of an id.

What callers wrote and models answered (the case's input, answer, assertion details and
error) is sealed like trace content, in `content`; scores, flags and source names stay plain
so that lists and comparisons never decrypt anything."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    for stmt in (
        f"""CREATE TABLE experiments (
            id TEXT PRIMARY KEY,
            created_at {real} NOT NULL,
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            name TEXT NOT NULL,
            dataset TEXT NOT NULL,
            dataset_hash TEXT NOT NULL,
            options TEXT NOT NULL,
            pass_rate {real} NOT NULL,
            metrics TEXT NOT NULL,
            case_count INTEGER NOT NULL
        )""",
        "CREATE INDEX ix_experiments_tenant ON experiments (tenant, created_at)",
        f"""CREATE TABLE experiment_cases (
            experiment_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            case_id TEXT NOT NULL,
            tenant TEXT NOT NULL,
            passed INTEGER NOT NULL,
            refused INTEGER NOT NULL,
            tags TEXT NOT NULL,
            metrics TEXT NOT NULL,
            citations TEXT NOT NULL,
            sources TEXT NOT NULL,
            latency_ms {real},
            ttft_ms {real},
            cost_usd {real},
            trace_id TEXT,
            content TEXT NOT NULL,
            PRIMARY KEY (experiment_id, position)
        )""",
        "CREATE INDEX ix_experiment_cases_trace ON experiment_cases (trace_id)",
        f"""CREATE TABLE experiment_labels (
            tenant TEXT NOT NULL,
            label TEXT NOT NULL,
            experiment_id TEXT NOT NULL,
            updated_at {real} NOT NULL,
            PRIMARY KEY (tenant, label)
        )""",
    ):
        conn.execute(text(stmt))
