"""`lockgate cost report`: spend from the traces (one row per request, with its cost from
actual usage), by model, by key and by day, with cost per request and per 1,000 requests;
plus the budget ledger's current periods and alert events."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from lockgate.store import pending
from lockgate.store import tables as tb


def _group(
    engine: Engine, column: Any, since: float, tenant: str | None = None
) -> list[dict[str, Any]]:
    pending.settle()
    t = tb.traces
    stmt = (
        select(
            column.label("name"),
            func.count().label("requests"),
            func.coalesce(func.sum(t.c.cost), 0.0).label("cost"),
            func.coalesce(func.sum(t.c.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(t.c.tokens_out), 0).label("tokens_out"),
        )
        .where(t.c.created_at >= since)
        .group_by(column)
        .order_by(func.sum(t.c.cost).desc(), column)
    )
    if tenant is not None:
        stmt = stmt.where(t.c.tenant == tenant)
    out = []
    with engine.connect() as conn:
        for r in conn.execute(stmt):
            n, cost = int(r.requests), float(r.cost)
            out.append(
                {
                    "name": r.name if r.name is not None else "-",
                    "requests": n,
                    "cost": round(cost, 8),
                    "tokens_in": int(r.tokens_in),
                    "tokens_out": int(r.tokens_out),
                    "cost_per_request": round(cost / n, 8) if n else 0.0,
                    "cost_per_1k_requests": round(cost / n * 1000, 6) if n else 0.0,
                }
            )
    return out


def cost_report(
    engine: Engine, since: float = 0.0, budgets: Any = None, tenant: str | None = None
) -> dict[str, Any]:
    """`tenant`: that tenant's requests only, and no budgets (they span tenants)."""
    pending.settle()
    t = tb.traces
    # The upstream model that ran (after routing / fallback) is what was billed; the trace
    # keeps it as "backend:model".
    by_model = _group(engine, t.c.backend, since, tenant)
    for row in by_model:
        row["name"] = row["name"].split(":", 1)[-1]
    day = func.strftime("%Y-%m-%d", t.c.created_at, "unixepoch")
    if engine.dialect.name != "sqlite":
        day = func.to_char(func.to_timestamp(t.c.created_at), "YYYY-MM-DD")
    n = sum(r["requests"] for r in by_model)
    cost = sum(r["cost"] for r in by_model)
    report: dict[str, Any] = {
        "since": since,
        "generated_at": time.time(),
        "total": {
            "requests": n,
            "cost": round(cost, 8),
            "cost_per_request": round(cost / n, 8) if n else 0.0,
            "cost_per_1k_requests": round(cost / n * 1000, 6) if n else 0.0,
        },
        "by_model": by_model,
        "by_key": _group(engine, t.c.principal, since, tenant),
        "by_day": sorted(_group(engine, day, since, tenant), key=lambda r: r["name"]),
    }
    if tenant is not None:
        report["tenant"] = tenant
    elif budgets is not None:
        report["budgets"] = budgets.store.usage()
        report["alerts"] = [
            {**e, "at": datetime.fromtimestamp(e["created_at"], UTC).isoformat()}
            for e in budgets.store.events(50)
        ]
    return report
