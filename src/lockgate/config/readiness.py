"""What `lockgate readiness` needs to know that the rest of the configuration does not say:
the projected load, where a load-test result is kept, the evaluation set size to expect, and
the backup policy (docs/readiness.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from lockgate.config._base import Strict


class BackupPolicy(Strict):
    """How the store is backed up. Lockgate does not take backups itself; this documents who
    does, so the readiness report can say whether anyone does. For SQLite, `command` is what
    takes one (e.g. `sqlite3 /srv/lockgate/lockgate.db ".backup /backups/lockgate.db"`); for
    PostgreSQL, the managed service's or pgBackRest's schedule named in `schedule`."""

    command: str | None = None
    schedule: str | None = None  # e.g. "daily 02:00 UTC, point-in-time recovery"
    retention_days: int | None = Field(None, ge=1)
    # Date (YYYY-MM-DD) of the last restore that was tried and worked: a backup never
    # restored is a hope, not a backup.
    last_restore_test: str | None = None


class ReadinessConfig(Strict):
    # Requests per second the deployment is expected to carry at its peak.
    projected_rps: float | None = Field(None, gt=0)
    # A load test must have driven at least this multiple of the projected load.
    load_factor: float = Field(3.0, ge=1)
    # A `lockgate loadtest --json` result (throughput, error rate) when no load-test store
    # records it; see docs/readiness.md for the fields read.
    loadtest_result: Path | None = None
    # The error rate the load test may have reached and still pass.
    loadtest_max_error_rate: float = Field(0.01, ge=0, le=1)
    # An evaluation set smaller than this is a warning: too few cases to trust a gate.
    min_eval_cases: int = Field(50, ge=1)
    # Gate results older than this many days are a warning.
    max_gate_age_days: float = Field(30.0, gt=0)
    # The gateway listens on plain HTTP behind a proxy that terminates TLS (say which).
    tls_terminated_by: str | None = None
    backup: BackupPolicy = BackupPolicy()
