"""The window reads the metric alert rules judge, straight from the store (traces, documents,
the quarantine, the review queue), so every gateway process sees the same values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, and_, case, func, select

from lockgate.store import pending
from lockgate.store import tables as tb
from lockgate.store.reviews import PENDING


@dataclass(frozen=True)
class Rate:
    value: float | None  # None: no samples
    samples: int


class AlertSignals:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def error_rate(self, since: float, until: float) -> Rate:
        """The share of turns answered 5xx or degraded (the backends failed)."""
        pending.settle()
        t = tb.traces
        failed = case(
            (func.coalesce(t.c.http_status, 0) >= 500, 1), (t.c.degraded == 1, 1), else_=0
        )
        with self.engine.connect() as conn:
            n, bad = conn.execute(
                select(func.count(), func.coalesce(func.sum(failed), 0)).where(
                    t.c.created_at >= since, t.c.created_at < until
                )
            ).one()
        n = int(n)
        return Rate(int(bad) / n if n else None, n)

    def p95_latency_ms(self, since: float, until: float) -> Rate:
        pending.settle()
        t = tb.traces
        cond = and_(t.c.created_at >= since, t.c.created_at < until, t.c.latency_ms.is_not(None))
        with self.engine.connect() as conn:
            n = int(conn.execute(select(func.count()).where(cond)).scalar_one())
            if not n:
                return Rate(None, 0)
            # Nearest rank: the smallest latency at or above 95% of the turns.
            rank = max(0, math.ceil(0.95 * n) - 1)
            value = conn.execute(
                select(t.c.latency_ms).where(cond).order_by(t.c.latency_ms).offset(rank).limit(1)
            ).scalar_one()
        return Rate(float(value), n)

    def stale_documents(self, today: date | None = None) -> int:
        """Active documents whose current version is past its review-by date."""
        d, v = tb.documents, tb.document_versions
        day = (today or date.today()).isoformat()
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(d.join(v, v.c.id == d.c.current_version_id))
                    .where(d.c.status == "active", v.c.review_by.is_not(None), v.c.review_by < day)
                ).scalar_one()
            )

    def quarantined_since(self, since: float) -> int:
        """Files that entered the quarantine since `since` (first seen then)."""
        q = tb.quarantine
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).where(q.c.first_seen_at >= since)).scalar_one()
            )

    def quarantined(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tb.quarantine)).scalar_one())

    def review_backlog(self) -> int:
        r = tb.review_items
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).where(r.c.status == PENDING)).scalar_one()
            )
