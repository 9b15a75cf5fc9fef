"""Budgets: spending caps per key / tenant / project per day and month.

A request is admitted only if, for every cap it falls under,
    spent + reserved by requests in flight + this request's maximum cost <= hard ceiling,
and that check and the hold on the maximum cost happen in one write transaction. So however
many requests run at once, the settled spend cannot pass the ceiling unless a request costs
more than its computed maximum (a prompt estimate that came out low). Settling replaces the
hold with the actual cost; a failure settles with whatever the upstream did bill (often 0).

The ledger's state is behind `BudgetStore` (SQL today; PostgreSQL works through the same
SQLAlchemy code, Redis would implement the same three calls with a Lua script)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select

from lockgate.config import BudgetRule, BudgetsConfig
from lockgate.observability.metrics import METRICS
from lockgate.store.db import transaction
from lockgate.store.tables import budget_events, budget_reservations, budget_usage

log = logging.getLogger("lockgate.budget")


@dataclass(frozen=True)
class Cap:
    """One cap that applies to a request: scope "key:alice", period "day:2025-06-01"."""

    scope: str
    period: str
    hard: float | None
    soft: float | None


@dataclass
class Reservation:
    id: str
    amount: float
    caps: list[Cap]


@dataclass
class Refusal:
    cap: Cap
    spent: float
    reserved: float
    amount: float


@dataclass
class Alert:
    kind: str  # "soft"
    scope: str
    period: str
    spent: float
    threshold: float


@dataclass
class Settled:
    alerts: list[Alert] = field(default_factory=list)


class BudgetStore(Protocol):
    def reserve(
        self, caps: list[Cap], amount: float, now: float, ttl_s: float
    ) -> Reservation | Refusal: ...

    def settle(
        self, reservation: Reservation, actual: float, now: float, trace_id: str | None
    ) -> Settled: ...

    def usage(self) -> list[dict[str, Any]]: ...

    def events(self, limit: int = 100) -> list[dict[str, Any]]: ...


def _key(scope: str, period: str) -> str:
    return f"{scope}\x1f{period}"


class SqlBudgetStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _expire(self, conn: Any, now: float) -> None:
        """Drop holds of requests whose process died before settling them."""
        r, u = budget_reservations, budget_usage
        stale = list(conn.execute(select(r).where(r.c.expires_at < now)))
        for row in stale:
            for scope, period in json.loads(row.entries):
                conn.execute(
                    u.update()
                    .where(u.c.scope == scope, u.c.period == period)
                    .values(reserved=u.c.reserved - row.amount)
                )
            conn.execute(r.delete().where(r.c.id == row.id))
        if stale:
            log.warning("released %d budget reservation(s) that were never settled", len(stale))

    def reserve(
        self, caps: list[Cap], amount: float, now: float, ttl_s: float
    ) -> Reservation | Refusal:
        u = budget_usage
        with transaction(self.engine) as conn:
            self._expire(conn, now)
            rows = {}
            for cap in caps:
                row = conn.execute(
                    select(u.c.spent, u.c.reserved).where(
                        u.c.scope == cap.scope, u.c.period == cap.period
                    )
                ).first()
                if row is None:
                    conn.execute(
                        u.insert().values(
                            scope=cap.scope,
                            period=cap.period,
                            spent=0.0,
                            reserved=0.0,
                            requests=0,
                            soft_alerted=0,
                            updated_at=now,
                        )
                    )
                    spent, reserved = 0.0, 0.0
                else:
                    spent, reserved = float(row.spent), float(row.reserved)
                rows[_key(cap.scope, cap.period)] = (spent, reserved)
                # A tiny epsilon keeps float sums of many small prices from refusing the
                # request that lands exactly on the ceiling.
                if cap.hard is not None and spent + reserved + amount > cap.hard + 1e-12:
                    # Nothing is held: the transaction only created zero rows.
                    return Refusal(cap, spent, reserved, amount)
            res = Reservation(uuid.uuid4().hex, amount, caps)
            distinct = {(c.scope, c.period) for c in caps}
            for scope, period in distinct:
                conn.execute(
                    u.update()
                    .where(u.c.scope == scope, u.c.period == period)
                    .values(reserved=u.c.reserved + amount, updated_at=now)
                )
            conn.execute(
                budget_reservations.insert().values(
                    id=res.id,
                    created_at=now,
                    expires_at=now + ttl_s,
                    amount=amount,
                    entries=json.dumps(sorted(distinct)),
                )
            )
            return res

    def settle(
        self, reservation: Reservation, actual: float, now: float, trace_id: str | None
    ) -> Settled:
        u, r = budget_usage, budget_reservations
        out = Settled()
        with transaction(self.engine) as conn:
            held = conn.execute(r.delete().where(r.c.id == reservation.id)).rowcount
            # If the hold already expired (a very long request), only the spend is added.
            release = reservation.amount if held else 0.0
            done: set[tuple[str, str]] = set()
            for cap in reservation.caps:
                if (cap.scope, cap.period) in done:
                    continue
                done.add((cap.scope, cap.period))
                conn.execute(
                    u.update()
                    .where(u.c.scope == cap.scope, u.c.period == cap.period)
                    .values(
                        reserved=u.c.reserved - release,
                        spent=u.c.spent + actual,
                        requests=u.c.requests + 1,
                        updated_at=now,
                    )
                )
            for cap in reservation.caps:
                if cap.soft is None:
                    continue
                row = conn.execute(
                    select(u.c.spent, u.c.soft_alerted).where(
                        u.c.scope == cap.scope, u.c.period == cap.period
                    )
                ).first()
                if row is None or row.soft_alerted or row.spent < cap.soft:
                    continue
                # Once per scope and period: an alert per request after the crossing is noise.
                conn.execute(
                    u.update()
                    .where(u.c.scope == cap.scope, u.c.period == cap.period)
                    .values(soft_alerted=1)
                )
                conn.execute(
                    budget_events.insert().values(
                        created_at=now,
                        kind="soft",
                        scope=cap.scope,
                        period=cap.period,
                        spent=float(row.spent),
                        threshold=cap.soft,
                        trace_id=trace_id,
                    )
                )
                out.alerts.append(Alert("soft", cap.scope, cap.period, float(row.spent), cap.soft))
        return out

    def record_event(
        self, kind: str, cap: Cap, spent: float, threshold: float, trace_id: str | None, now: float
    ) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                budget_events.insert().values(
                    created_at=now,
                    kind=kind,
                    scope=cap.scope,
                    period=cap.period,
                    spent=spent,
                    threshold=threshold,
                    trace_id=trace_id,
                )
            )

    def usage(self) -> list[dict[str, Any]]:
        u = budget_usage
        with self.engine.connect() as conn:
            rows = conn.execute(select(u).order_by(u.c.period.desc(), u.c.scope))
            return [dict(r._mapping) for r in rows]

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        e = budget_events
        with self.engine.connect() as conn:
            rows = conn.execute(select(e).order_by(e.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]


def period_of(kind: str, now: float) -> str:
    day = datetime.fromtimestamp(now, UTC)
    return f"day:{day:%Y-%m-%d}" if kind == "day" else f"month:{day:%Y-%m}"


def caps_for(rules: list[BudgetRule], key: str, tenant: str, project: str, now: float) -> list[Cap]:
    ids = {"key": key, "tenant": tenant, "project": project}
    caps = []
    for rule in rules:
        who = ids[rule.scope]
        if rule.id not in ("*", who):
            continue
        caps.append(Cap(f"{rule.scope}:{who}", period_of(rule.period, now), rule.hard, rule.soft))
    return caps


def fits_once_settled(refusal: Refusal) -> bool:
    """Refused only because requests in flight hold the room: it may fit once they settle
    (they usually cost far less than their maximum)."""
    cap = refusal.cap
    return (
        cap.hard is not None
        and refusal.reserved > 0
        and refusal.spent + refusal.amount <= cap.hard + 1e-12
    )


class BudgetExceeded(Exception):
    def __init__(self, refusal: Refusal) -> None:
        cap = refusal.cap
        kind, _, when = cap.period.partition(":")
        super().__init__(
            f"Budget exhausted for {cap.scope} ({'daily' if kind == 'day' else 'monthly'} "
            f"ceiling {cap.hard:.4f} for {when}; spent {refusal.spent:.4f}, "
            f"{refusal.reserved:.4f} held by requests in flight, this request may cost up "
            f"to {refusal.amount:.4f}). The request was not sent to the model."
        )
        self.refusal = refusal


class Budgets:
    """What the pipeline stage and the batch worker use."""

    def __init__(self, config: BudgetsConfig, store: BudgetStore) -> None:
        self.config = config
        self.store = store

    def active(self) -> bool:
        return self.config.enabled and bool(self.config.rules)

    def reserve(
        self,
        key: str,
        tenant: str,
        project: str,
        amount: float,
        trace_id: str | None = None,
        now: float | None = None,
    ) -> Reservation | None:
        """Hold `amount` under every cap that applies; raise BudgetExceeded if one is full."""
        at = time.time() if now is None else now
        caps = caps_for(self.config.rules, key, tenant, project, at)
        if not caps:
            return None
        got = self.store.reserve(caps, amount, at, self.config.reservation_ttl_s)
        if isinstance(got, Refusal):
            raise BudgetExceeded(got)
        return got

    def refused(self, refusal: Refusal, trace_id: str | None) -> None:
        """Count and log a final refusal (not each wait-and-retry before it)."""
        METRICS.inc("lockgate_budget_refused_total", scope=refusal.cap.scope.split(":")[0])
        log.warning(
            "budget refusal %s %s: spent %.6f held %.6f request max %.6f (trace %s)",
            refusal.cap.scope,
            refusal.cap.period,
            refusal.spent,
            refusal.reserved,
            refusal.amount,
            trace_id,
        )

    def settle(
        self,
        reservation: Reservation,
        actual: float,
        trace_id: str | None = None,
        now: float | None = None,
    ) -> Settled:
        settled = self.store.settle(
            reservation, max(0.0, actual), time.time() if now is None else now, trace_id
        )
        for alert in settled.alerts:
            METRICS.inc(
                "lockgate_budget_alerts_total", kind=alert.kind, scope=alert.scope.split(":")[0]
            )
            log.warning(
                "budget %s threshold crossed: %s %s spent %.4f >= %.4f",
                alert.kind,
                alert.scope,
                alert.period,
                alert.spent,
                alert.threshold,
            )
        return settled
