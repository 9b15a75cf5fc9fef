"""Request traces: one row per request, written once when the request ends."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import Engine, insert, select

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import tables as tb
from lockgate.store.db import transaction

_JSON_FIELDS = (
    "request",
    "retrieved",
    "stages",
    "guardrails",
    "cache",
    "route",
    "upstream",
    "tool_calls",
)
# What callers wrote and models answered: encrypted at rest (the rest is metadata). The
# request holds the tool names offered and the conversation's tool calls and results.
SEALED = ("request", "prompt", "raw_output", "output", "error", "tool_calls")


class TraceStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()

    def record(self, row: dict[str, Any]) -> None:
        values = dict(row)
        for key in _JSON_FIELDS:
            if key in values and not isinstance(values[key], str | None):
                values[key] = json.dumps(values[key], default=str)
        tenant = str(values.get("tenant") or "default")
        for key in SEALED:
            if isinstance(values.get(key), str):
                values[key] = self.cipher.encrypt(values[key], tenant)
        with transaction(self.engine) as conn:
            conn.execute(insert(tb.traces).values(**values))

    def get(self, trace_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tb.traces).where(tb.traces.c.id == trace_id)).first()
        if row is None:
            return None
        values = dict(row._mapping)
        for key in SEALED:
            if isinstance(values.get(key), str):
                values[key] = self.cipher.decrypt(values[key])
        return _decode(values)

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
