"""Request traces: one row per request, written once when the request ends. Reads take the
tenant whose traces the caller may see and filter on it in the query itself (an index on
tenant and time serves it), so another tenant's trace is never read, only not found."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select

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

    def get(self, trace_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """One trace, decrypted; None when it does not exist or belongs to another tenant
        than `tenant` (None: any tenant, for the host's operator)."""
        stmt = _of_tenant(select(tb.traces).where(tb.traces.c.id == trace_id), tenant)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        values = dict(row._mapping)
        for key in SEALED:
            if isinstance(values.get(key), str):
                values[key] = self.cipher.decrypt(values[key])
        return _decode(values)

    def list(
        self, limit: int = 20, after: str | None = None, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest traces first, metadata only; `after` is the last id of the previous
        page (looked up within the same tenant, so another tenant's id pages nothing)."""
        t = tb.traces
        stmt = (
            select(
                t.c.id,
                t.c.created_at,
                t.c.principal,
                t.c.tenant,
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
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        stmt = _of_tenant(stmt, tenant)
        with self.engine.connect() as conn:
            if after:
                anchor = conn.execute(
                    _of_tenant(select(t.c.created_at).where(t.c.id == after), tenant)
                ).first()
                if anchor is None:
                    return []
                stmt = stmt.where(
                    or_(
                        t.c.created_at < anchor[0],
                        and_(t.c.created_at == anchor[0], t.c.id < after),
                    )
                )
            return [dict(r._mapping) for r in conn.execute(stmt)]


def _of_tenant(stmt: Any, tenant: str | None) -> Any:
    return stmt if tenant is None else stmt.where(tb.traces.c.tenant == tenant)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS:
        if isinstance(row.get(key), str):
            with contextlib.suppress(ValueError):
                row[key] = json.loads(row[key])
    for key in ("stream", "refused", "grounded", "degraded"):
        if row.get(key) is not None:
            row[key] = bool(row[key])
    return row
