"""Batches and their items in the SQL store.

Each item moves pending -> running -> completed | failed (or cancelled / expired). "running"
is committed *before* the upstream call and the result *with* the move to a final state, so
after a crash the store says exactly which items finished (never repeated) and which one was
at the upstream when the process died (retried or failed, per `batch.resume_in_flight`).

One worker at a time owns a batch through a lease it renews; results are only written while
the lease is still that worker's (a fencing check in the same UPDATE), so a worker that was
presumed dead and comes back cannot overwrite its successor's work."""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_, select

from lockgate.engine.wire import has_lone_surrogate
from lockgate.store.db import transaction
from lockgate.store.tables import batch_items as items
from lockgate.store.tables import batches

ENDPOINTS = ("/v1/chat/completions",)
WINDOWS = {"24h": 24 * 3600}
ACTIVE = ("validating", "in_progress", "cancelling", "finalizing")
FINAL_ITEM = ("completed", "failed", "cancelled", "expired")

Scope = tuple[str, str]  # (principal id, tenant) of the caller a query is limited to


@dataclass
class Item:
    batch_id: str
    line: int
    custom_id: str
    body: dict[str, Any]
    attempts: int


class InvalidInput(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid input file")
        self.errors = errors


def parse_input(data: bytes, endpoint: str, max_items: int) -> list[tuple[str, dict[str, Any]]]:
    """The OpenAI batch input format: one JSON object per line with custom_id, method, url
    and body. Every problem is reported with its line number, all at once."""
    errors: list[dict[str, Any]] = []
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def bad(line: int, code: str, message: str, param: str | None = None) -> None:
        if len(errors) < 100:
            errors.append({"code": code, "message": message, "param": param, "line": line})

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            [
                {
                    "code": "invalid_file",
                    "message": "file is not UTF-8 text",
                    "param": None,
                    "line": None,
                }
            ]
        ) from None
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            bad(n, "invalid_json_line", f"line {n} is not valid JSON")
            continue
        if not isinstance(obj, dict):
            bad(n, "invalid_json_line", f"line {n} is not a JSON object")
            continue
        if has_lone_surrogate(obj):
            bad(n, "invalid_json_line", f"line {n} holds a lone UTF-16 surrogate")
            continue
        cid, body = obj.get("custom_id"), obj.get("body")
        if not isinstance(cid, str) or not cid:
            bad(n, "missing_required_parameter", f"line {n}: custom_id is required", "custom_id")
        elif cid in seen:
            bad(n, "duplicate_custom_id", f"line {n}: custom_id '{cid}' is used twice", "custom_id")
        if str(obj.get("method", "")).upper() != "POST":
            bad(n, "invalid_method", f"line {n}: method must be POST", "method")
        if obj.get("url") != endpoint:
            bad(n, "mismatched_url", f"line {n}: url must be the batch endpoint {endpoint}", "url")
        if not isinstance(body, dict):
            bad(n, "missing_required_parameter", f"line {n}: body must be an object", "body")
        elif isinstance(cid, str) and cid and cid not in seen:
            seen.add(cid)
            out.append((cid, body))
    if not out and not errors:
        bad(0, "empty_file", "the input file has no requests")
    if len(out) > max_items:
        bad(0, "too_many_requests", f"more than {max_items} requests in one batch")
    if errors:
        raise InvalidInput(errors)
    return out


def _ts(value: float | None) -> int | None:
    return None if value is None else int(value)


class BatchStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- API side ------------------------------------------------------------------------
    def create(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        principal: str,
        tenant: str,
        requests: list[tuple[str, dict[str, Any]]] | None,
        errors: list[dict[str, Any]] | None,
        app: str | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        batch_id = f"batch_{uuid.uuid4().hex[:24]}"
        with transaction(self.engine) as conn:
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    created_at=now,
                    status="failed" if errors else "validating",
                    endpoint=endpoint,
                    input_file_id=input_file_id,
                    completion_window=completion_window,
                    principal=principal,
                    tenant=tenant,
                    metadata=json.dumps(metadata) if metadata else None,
                    errors=json.dumps(errors) if errors else None,
                    failed_at=now if errors else None,
                    expires_at=now + WINDOWS[completion_window],
                    app=app,
                )
            )
            if requests:
                conn.execute(
                    items.insert(),
                    [
                        {
                            "batch_id": batch_id,
                            "line": i,
                            "custom_id": cid,
                            "body": json.dumps(body),
                            "status": "pending",
                            "attempts": 0,
                        }
                        for i, (cid, body) in enumerate(requests)
                    ],
                )
        got = self.get(batch_id)
        assert got is not None
        return got

    def _counts(self, conn: Any, batch_id: str) -> dict[str, int]:
        rows = conn.execute(
            select(items.c.status, func.count())
            .where(items.c.batch_id == batch_id)
            .group_by(items.c.status)
        )
        by = {status: n for status, n in rows}
        return {
            "total": sum(by.values()),
            "completed": by.get("completed", 0),
            "failed": by.get("failed", 0) + by.get("expired", 0),
        }

    def _object(self, conn: Any, row: Any) -> dict[str, Any]:
        errors = json.loads(row.errors) if row.errors else None
        return {
            "id": row.id,
            "object": "batch",
            "endpoint": row.endpoint,
            "errors": {"object": "list", "data": errors} if errors else None,
            "input_file_id": row.input_file_id,
            "completion_window": row.completion_window,
            "status": row.status,
            "output_file_id": row.output_file_id,
            "error_file_id": row.error_file_id,
            "created_at": int(row.created_at),
            "in_progress_at": _ts(row.in_progress_at),
            "expires_at": _ts(row.expires_at),
            "finalizing_at": _ts(row.finalizing_at),
            "completed_at": _ts(row.completed_at),
            "failed_at": _ts(row.failed_at),
            "expired_at": _ts(row.completed_at) if row.status == "expired" else None,
            "cancelling_at": _ts(row.cancelling_at),
            "cancelled_at": _ts(row.cancelled_at),
            "request_counts": self._counts(conn, row.id),
            "metadata": json.loads(row.metadata) if row.metadata else None,
        }

    @staticmethod
    def _scoped(stmt: Any, scope: Scope | None) -> Any:
        """A caller sees only its own batches (principal and tenant), filtered in the query;
        no scope is the operator's view (CLI, worker)."""
        if scope is None:
            return stmt
        principal, tenant = scope
        return stmt.where(batches.c.principal == principal, batches.c.tenant == tenant)

    def get(self, batch_id: str, scope: Scope | None = None) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            stmt = self._scoped(select(batches).where(batches.c.id == batch_id), scope)
            row = conn.execute(stmt).first()
            return self._object(conn, row) if row else None

    def list(
        self, limit: int = 20, after: str | None = None, scope: Scope | None = None
    ) -> list[dict[str, Any]]:
        b = batches
        stmt = self._scoped(select(b), scope)
        with self.engine.connect() as conn:
            if after:
                anchor = conn.execute(
                    self._scoped(select(b.c.created_at).where(b.c.id == after), scope)
                ).first()
                if anchor is not None:
                    stmt = stmt.where(
                        or_(
                            b.c.created_at < anchor[0],
                            and_(b.c.created_at == anchor[0], b.c.id < after),
                        )
                    )
            rows = conn.execute(stmt.order_by(b.c.created_at.desc(), b.c.id.desc()).limit(limit))
            return [self._object(conn, r) for r in rows]

    def cancel(self, batch_id: str, scope: Scope | None = None) -> dict[str, Any] | None:
        """Ask for a stop; the worker finishes the item in hand, then writes what is done."""
        now = time.time()
        with transaction(self.engine) as conn:
            conn.execute(
                self._scoped(
                    batches.update().where(
                        batches.c.id == batch_id,
                        batches.c.status.in_(("validating", "in_progress")),
                    ),
                    scope,
                ).values(status="cancelling", cancelling_at=now)
            )
        return self.get(batch_id, scope)

    # -- worker side ---------------------------------------------------------------------
    def claim(self, worker: str, now: float, lease_s: float, mode: str) -> str | None:
        """Take the oldest active batch no live worker holds; recover its interrupted item."""
        b = batches
        with transaction(self.engine) as conn:
            row = conn.execute(
                select(b.c.id, b.c.status)
                .where(
                    b.c.status.in_(ACTIVE),
                    or_(b.c.worker.is_(None), b.c.lease_until < now, b.c.worker == worker),
                )
                .order_by(b.c.created_at, b.c.id)
                .limit(1)
                # PostgreSQL runs two workers' claims side by side: without the lock both took
                # the same batch, and the second reset the first's in-flight item. A batch
                # another claim holds is skipped (SQLite's writers take turns anyway).
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            values: dict[str, Any] = {"worker": worker, "lease_until": now + lease_s}
            if row.status == "validating":
                values |= {"status": "in_progress", "in_progress_at": now}
            conn.execute(b.update().where(b.c.id == row.id).values(**values))
            stuck = items.c.batch_id == row.id, items.c.status == "running"
            if mode == "retry":
                conn.execute(items.update().where(*stuck).values(status="pending"))
            else:
                conn.execute(
                    items.update()
                    .where(*stuck)
                    .values(
                        status="failed",
                        finished_at=now,
                        error=json.dumps(
                            {
                                "code": "interrupted",
                                "message": "the gateway stopped while this request was at the "
                                "model; it was not sent again (batch.resume_in_flight: fail)",
                            }
                        ),
                    )
                )
            return str(row.id)

    def renew(self, batch_id: str, worker: str, now: float, lease_s: float) -> bool:
        with transaction(self.engine) as conn:
            return bool(
                conn.execute(
                    batches.update()
                    .where(batches.c.id == batch_id, batches.c.worker == worker)
                    .values(lease_until=now + lease_s)
                ).rowcount
            )

    def release(self, batch_id: str, worker: str) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                batches.update()
                .where(batches.c.id == batch_id, batches.c.worker == worker)
                .values(worker=None, lease_until=None)
            )

    def row(self, batch_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(batches).where(batches.c.id == batch_id)).first()

    def next_item(self, batch_id: str, worker: str) -> Item | None:
        """Mark the next pending item running (committed before its upstream call)."""
        with transaction(self.engine) as conn:
            row = conn.execute(
                select(items)
                .where(items.c.batch_id == batch_id, items.c.status == "pending")
                .order_by(items.c.line)
                .limit(1)
            ).first()
            if row is None:
                return None
            took = conn.execute(
                items.update()
                .where(
                    items.c.batch_id == batch_id,
                    items.c.line == row.line,
                    items.c.status == "pending",
                    self._owned(batch_id, worker),
                )
                .values(status="running", attempts=items.c.attempts + 1)
            ).rowcount
            if not took:
                return None
            return Item(batch_id, row.line, row.custom_id, json.loads(row.body), row.attempts + 1)

    def requeue(self, item: Item, worker: str) -> None:
        """Back to pending without a result (the gateway's own rate limit said wait)."""
        with transaction(self.engine) as conn:
            conn.execute(
                items.update()
                .where(
                    items.c.batch_id == item.batch_id,
                    items.c.line == item.line,
                    items.c.status == "running",
                    self._owned(item.batch_id, worker),
                )
                .values(status="pending")
            )

    @staticmethod
    def _owned(batch_id: str, worker: str) -> Any:
        return exists().where(batches.c.id == batch_id, batches.c.worker == worker)

    def finish(
        self,
        item: Item,
        worker: str,
        status_code: int | None,
        response: dict[str, Any] | None,
        error: dict[str, Any] | None,
        trace_id: str | None,
    ) -> bool:
        ok = status_code == 200 and error is None
        with transaction(self.engine) as conn:
            return bool(
                conn.execute(
                    items.update()
                    .where(
                        items.c.batch_id == item.batch_id,
                        items.c.line == item.line,
                        items.c.status == "running",
                        self._owned(item.batch_id, worker),
                    )
                    .values(
                        status="completed" if ok else "failed",
                        status_code=status_code,
                        response=json.dumps(response) if response is not None else None,
                        error=json.dumps(error) if error is not None else None,
                        trace_id=trace_id,
                        finished_at=time.time(),
                    )
                ).rowcount
            )

    def close_pending(self, batch_id: str, status: str, code: str, message: str) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                items.update()
                .where(items.c.batch_id == batch_id, items.c.status.in_(("pending", "running")))
                .values(
                    status=status,
                    finished_at=time.time(),
                    error=json.dumps({"code": code, "message": message}),
                )
            )

    def results(self, batch_id: str) -> builtins.list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(items).where(items.c.batch_id == batch_id).order_by(items.c.line)
                )
            )

    def mark(self, batch_id: str, owner: str, **values: Any) -> bool:
        """Update the batch only while `owner` still holds its lease."""
        with transaction(self.engine) as conn:
            return bool(
                conn.execute(
                    batches.update()
                    .where(batches.c.id == batch_id, batches.c.worker == owner)
                    .values(**values)
                ).rowcount
            )

    def item_stats(self, batch_id: str) -> dict[str, Any]:
        """Per custom_id: status and attempts (for tests and `lockgate batch show`)."""
        return {
            r.custom_id: {"status": r.status, "attempts": r.attempts}
            for r in self.results(batch_id)
        }
