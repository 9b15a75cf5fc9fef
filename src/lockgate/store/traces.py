"""Request traces: one row per request, written once after the request ends, in batches by
the event writer (observability/dispatch.py); reads first wait for what this process queued.
Reads take the tenant whose traces the caller may see and filter on it in the query itself
(an index on tenant and time serves it), so another tenant's trace is never read, only not
found.

A trace keeps the texts of the chunks it retrieved, so it is as restricted as they are: when
it is recorded, each distinct non-empty group list of its chunks becomes one requirement in
`trace_acl` (m0017), and a read with the reader's groups keeps only traces where every
requirement has a group of the reader's — also in the query, so a hidden trace is never read.
Reads without groups (the host's operator, admins) see every trace of their tenant(s)."""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, and_, case, exists, func, insert, or_, select

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import pending
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
# The metadata columns a trace search returns.
_LISTED = (
    "id", "created_at", "principal", "tenant", "endpoint", "model", "status", "http_status",
    "tokens_in", "tokens_out", "cost", "latency_ms", "ttft_ms", "refused", "grounded",
    "guard_action",
)


class TraceStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()

    def record(self, row: dict[str, Any]) -> None:
        self.record_many([row])

    def record_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write traces in one transaction (group commit: the event writer hands a batch of
        finished requests at once). All or none: on an error nothing of the batch is written."""
        if not rows:
            return
        prepared = [self._sealed(row) for row in rows]
        # One executemany per set of columns: rows of the same shape (all of a chat
        # endpoint's) share one statement; a batch of mixed endpoints has a few.
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values, _ in prepared:
            shapes.setdefault(tuple(sorted(values)), []).append(values)
        acl = [entry for _, entries in prepared for entry in entries]
        with transaction(self.engine) as conn:
            for same in shapes.values():
                conn.execute(insert(tb.traces), same)
            if acl:
                conn.execute(insert(tb.trace_acl), acl)

    def _sealed(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The row as stored (JSON fields serialised, texts encrypted) and its `trace_acl`."""
        values = dict(row)
        acl = [
            {"trace_id": values["id"], "req": req, "grp": grp}
            for req, groups in enumerate(required_groups(values.get("retrieved")))
            for grp in groups
        ]
        for key in _JSON_FIELDS:
            if key in values and not isinstance(values[key], str | None):
                values[key] = json.dumps(values[key], default=str)
        tenant = str(values.get("tenant") or "default")
        for key in SEALED:
            if isinstance(values.get(key), str):
                values[key] = self.cipher.encrypt(values[key], tenant)
        return values, acl

    def get(
        self, trace_id: str, tenant: str | None = None, groups: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        """One trace, decrypted; None when it does not exist, belongs to another tenant than
        `tenant` (None: any tenant, for the host's operator) or retrieved chunks a reader
        with `groups` could not see (None: no group filter, for the operator and admins)."""
        pending.settle()
        stmt = _visible(select(tb.traces).where(tb.traces.c.id == trace_id), tenant, groups)
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
        self,
        limit: int = 20,
        after: str | None = None,
        tenant: str | None = None,
        groups: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The newest traces first, metadata only; `after` is the last id of the previous
        page (looked up among the traces the reader sees, so another tenant's id, or a
        hidden trace's, pages nothing). `tenant` and `groups` as for `get`."""
        pending.settle()
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
        stmt = _visible(stmt, tenant, groups)
        with self.engine.connect() as conn:
            if after:
                anchor = conn.execute(
                    _visible(select(t.c.created_at).where(t.c.id == after), tenant, groups)
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


    def search(
        self,
        tenant: str | None = None,
        groups: Sequence[str] | None = None,
        *,
        text: str | None = None,
        status: str | None = None,
        model: str | None = None,
        guard_action: str | None = None,
        since: float | None = None,
        min_latency_ms: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[dict[str, Any]]:
        """`list`'s rows filtered, newest first: `text` matches the id, principal, model or
        app (a substring; sealed texts are not searched, they are encrypted at rest)."""
        pending.settle()
        t = tb.traces
        stmt = select(*(t.c[name] for name in _LISTED), t.c.app, t.c.prompt_version)
        if text:
            like = f"%{text.replace('%', '').replace('_', '')}%"
            stmt = stmt.where(
                or_(
                    t.c.id.ilike(like),
                    t.c.principal.ilike(like),
                    t.c.model.ilike(like),
                    t.c.app.ilike(like),
                )
            )
        for column, value in ((t.c.status, status), (t.c.model, model)):
            if value:
                stmt = stmt.where(column == value)
        if guard_action:
            stmt = stmt.where(t.c.guard_action == guard_action)
        if since is not None:
            stmt = stmt.where(t.c.created_at >= since)
        if min_latency_ms is not None:
            stmt = stmt.where(t.c.latency_ms >= min_latency_ms)
        stmt = _visible(stmt, tenant, groups)
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


def required_groups(retrieved: Any) -> list[tuple[str, ...]]:
    """The distinct non-empty group lists of a trace's retrieved chunks (`retrieved` as
    engine/trace.py writes it), in a stable order: a reader needs a group of each."""
    if isinstance(retrieved, str):
        try:
            retrieved = json.loads(retrieved)
        except ValueError:
            return []
    found: set[tuple[str, ...]] = set()
    for item in retrieved if isinstance(retrieved, list) else []:
        groups = item.get("groups") if isinstance(item, dict) else None
        if isinstance(groups, list):
            plain = tuple(sorted({str(g) for g in groups if g}))
            if plain:
                found.add(plain)
    return sorted(found)


def _visible(stmt: Any, tenant: str | None, groups: Iterable[str] | None) -> Any:
    """`stmt` (over `traces`) limited to the traces a reader of `tenant` with `groups` sees:
    no requirement of the trace without one of the reader's groups."""
    t, a = tb.traces, tb.trace_acl
    if tenant is not None:
        stmt = stmt.where(t.c.tenant == tenant)
    if groups is None:
        return stmt
    mine = sorted(set(groups))
    if not mine:  # any requirement hides the trace
        return stmt.where(~exists(select(a.c.req).where(a.c.trace_id == t.c.id)))
    met = func.sum(case((a.c.grp.in_(mine), 1), else_=0))
    unmet = select(a.c.req).where(a.c.trace_id == t.c.id).group_by(a.c.req).having(met == 0)
    return stmt.where(~exists(unmet))


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS:
        if isinstance(row.get(key), str):
            with contextlib.suppress(ValueError):
                row[key] = json.loads(row[key])
    for key in ("stream", "refused", "grounded", "degraded"):
        if row.get(key) is not None:
            row[key] = bool(row[key])
    return row
