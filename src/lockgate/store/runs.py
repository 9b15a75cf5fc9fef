"""A record of each ingest run and its summary."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lockgate.store import tables as tb
from lockgate.store.db import inserted_id, transaction


class IngestRunStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self) -> int:
        with transaction(self.engine) as conn:
            stmt = insert(tb.ingest_runs).values(started_at=time.time(), summary="{}")
            return inserted_id(conn.execute(stmt))

    def finish(self, run_id: int, summary: dict[str, Any]) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                update(tb.ingest_runs)
                .where(tb.ingest_runs.c.id == run_id)
                .values(finished_at=time.time(), summary=json.dumps(summary))
            )

    def get(self, run_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(tb.ingest_runs).where(tb.ingest_runs.c.id == run_id)).first()
        return {**dict(r._mapping), "summary": json.loads(r.summary or "{}")} if r else None

    def latest(self, limit: int = 20) -> list[dict[str, Any]]:
        stmt = select(tb.ingest_runs).order_by(tb.ingest_runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [
                {**dict(r._mapping), "summary": json.loads(r.summary or "{}")}
                for r in conn.execute(stmt)
            ]
