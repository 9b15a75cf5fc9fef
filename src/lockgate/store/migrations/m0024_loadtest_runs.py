"""Load test runs (`lockgate loadtest`): the headline numbers of each run as columns, for the
readiness report to read the latest, and the whole report as JSON."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # REAL is 4 bytes on PostgreSQL, which would round a timestamp.
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    for stmt in (
        f"""CREATE TABLE loadtest_runs (
            id TEXT PRIMARY KEY,
            created_at {real} NOT NULL,
            url TEXT NOT NULL,
            scenario TEXT NOT NULL,
            rps_target {real} NOT NULL,
            rps_achieved {real} NOT NULL,
            duration {real} NOT NULL,
            requests INTEGER NOT NULL,
            p50 {real},
            p95 {real},
            p99 {real},
            ttft_p50 {real},
            error_rate {real} NOT NULL,
            cost {real},
            generator_cpu {real} NOT NULL,
            projected_peak_rps {real},
            projected_load_multiple {real},
            report TEXT NOT NULL
        )""",
        "CREATE INDEX ix_loadtest_runs_created ON loadtest_runs (created_at)",
    ):
        conn.execute(text(stmt))
