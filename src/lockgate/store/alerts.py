"""The alert history: each alert that fired or cleared, what it was about (`subject`: a
deployment, a tenant, or "" for the whole gateway) and what each webhook answered. The last
row of a rule and subject is its state (firing or resolved) and the start of its cool-down,
shared by every process on the store."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lockgate.store import tables as tb
from lockgate.store.db import transaction

FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class AlertRecord:
    rule: str
    kind: str
    subject: str
    state: str
    severity: str
    message: str
    value: float | None = None
    threshold: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "rule": self.rule,
            "kind": self.kind,
            "subject": self.subject,
            "state": self.state,
            "severity": self.severity,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "detail": self.detail,
            "deliveries": self.deliveries,
        }


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, alert: AlertRecord) -> AlertRecord:
        row = alert.as_dict()
        row["detail"] = json.dumps(alert.detail, sort_keys=True, default=str)
        row["deliveries"] = json.dumps(alert.deliveries, default=str)
        with transaction(self.engine) as conn:
            conn.execute(insert(tb.alerts).values(**row))
        return alert

    def set_deliveries(self, alert_id: str, deliveries: list[dict[str, Any]]) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                update(tb.alerts)
                .where(tb.alerts.c.id == alert_id)
                .values(deliveries=json.dumps(deliveries, default=str))
            )

    def last(self, rule: str, subject: str) -> AlertRecord | None:
        a = tb.alerts
        with self.engine.connect() as conn:
            row = conn.execute(
                select(a)
                .where(a.c.rule == rule, a.c.subject == subject)
                .order_by(a.c.created_at.desc(), a.c.id.desc())
                .limit(1)
            ).mappings().first()
        return None if row is None else _record(row)

    def last_fired(self, rule: str, subject: str) -> AlertRecord | None:
        a = tb.alerts
        with self.engine.connect() as conn:
            row = conn.execute(
                select(a)
                .where(a.c.rule == rule, a.c.subject == subject, a.c.state == FIRING)
                .order_by(a.c.created_at.desc(), a.c.id.desc())
                .limit(1)
            ).mappings().first()
        return None if row is None else _record(row)

    def recent(
        self, limit: int = 50, since: float | None = None, state: str | None = None
    ) -> list[AlertRecord]:
        """Newest first: the dashboard's alert list."""
        a = tb.alerts
        query = select(a).order_by(a.c.created_at.desc(), a.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(a.c.created_at >= since)
        if state is not None:
            query = query.where(a.c.state == state)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_record(r) for r in rows]

    def firing(self) -> list[AlertRecord]:
        """Each rule and subject whose latest row is a firing alert: what is wrong now."""
        latest: dict[tuple[str, str], AlertRecord] = {}
        a = tb.alerts
        with self.engine.connect() as conn:
            rows = conn.execute(select(a).order_by(a.c.created_at, a.c.id)).mappings().all()
        for row in rows:
            rec = _record(row)
            latest[(rec.rule, rec.subject)] = rec
        return [r for r in latest.values() if r.state == FIRING]


def _record(row: Any) -> AlertRecord:
    return AlertRecord(
        id=row["id"],
        created_at=float(row["created_at"]),
        rule=row["rule"],
        kind=row["kind"],
        subject=row["subject"],
        state=row["state"],
        severity=row["severity"],
        value=None if row["value"] is None else float(row["value"]),
        threshold=None if row["threshold"] is None else float(row["threshold"]),
        message=row["message"],
        detail=json.loads(row["detail"] or "{}"),
        deliveries=json.loads(row["deliveries"] or "[]"),
    )
