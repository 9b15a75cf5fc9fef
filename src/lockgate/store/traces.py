"""Request traces: one row per request, written once when the request ends."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import Engine, insert, select

from lockgate.store import tables as tb
from lockgate.store.db import transaction

_JSON_FIELDS = ("request", "retrieved", "stages", "guardrails", "cache", "route", "upstream")


class TraceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, row: dict[str, Any]) -> None:
        values = dict(row)
        for key in _JSON_FIELDS:
            if key in values and not isinstance(values[key], str | None):
                values[key] = json.dumps(values[key], default=str)
        with transaction(self.engine) as conn:
            conn.execute(insert(tb.traces).values(**values))

    def get(self, trace_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tb.traces).where(tb.traces.c.id == trace_id)).first()
        return _decode(dict(row._mapping)) if row else None

    def list(self, limit: int = 20) -> list[dict[str, Any]]:
        t = tb.traces
        stmt = (
            select(
                t.c.id,
                t.c.created_at,
                t.c.endpoint,
                t.c.model,
                t.c.status,
                t.c.http_status,
                t.c.tokens_in,
                t.c.tokens_out,
                t.c.cost,
                t.c.latency_ms,
                t.c.ttft_ms,
                t.c.refused,
                t.c.grounded,
                t.c.guard_action,
            )
            .order_by(t.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS:
        if isinstance(row.get(key), str):
            with contextlib.suppress(ValueError):
                row[key] = json.loads(row[key])
    for key in ("stream", "refused", "grounded", "degraded"):
        if row.get(key) is not None:
            row[key] = bool(row[key])
    return row
