"""User feedback on answers: one row per rating a caller gives a trace of their tenant.

Every read names the tenant in the WHERE clause (None only for the host's operator, who reads
every tenant), so another tenant's feedback is never loaded. The comment and the correction
are sealed by the tenant's data key; the rest (rating, the trace's prompt version, model and
app) stays plain so that reports can group on it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, insert, select

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import pending
from lockgate.store import tables as tb
from lockgate.store.db import transaction

Thumb = Literal["up", "down"]
GroupBy = Literal["prompt_version", "model", "app", "release", "day"]
GROUP_BY: tuple[str, ...] = ("prompt_version", "model", "app", "release", "day")
THUMB_RATING: dict[str, int] = {"up": 5, "down": 1}
NEGATIVE_AT_MOST = 2  # a rating of 1 or 2 (and every thumb down) counts as negative
_SEALED = ("comment", "correction")


def new_feedback_id() -> str:
    return f"fb_{uuid.uuid4().hex[:24]}"


@dataclass
class FeedbackRecord:
    id: str
    tenant: str
    principal: str
    trace_id: str
    rating: int
    thumb: str | None = None
    comment: str | None = None
    correction: str | None = None
    prompt_version: int | None = None
    model: str | None = None
    app: str | None = None
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class FeedbackGroup:
    key: str
    count: int
    mean_rating: float
    negative_share: float
    meets_target: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "mean_rating": round(self.mean_rating, 3),
            "negative_share": round(self.negative_share, 3),
            "meets_target": self.meets_target,
        }


def _key(row: Any, by: str) -> str:
    if by == "day":
        return datetime.fromtimestamp(float(row.created_at), UTC).strftime("%Y-%m-%d")
    value = getattr(row, by)
    return "-" if value is None else str(value)


class FeedbackStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()

    def _open(self, row: Any) -> FeedbackRecord:
        values = dict(row._mapping)
        for key in _SEALED:
            if values[key] is not None:
                values[key] = self.cipher.decrypt(values[key])
        return FeedbackRecord(**values)

    def add(self, rec: FeedbackRecord) -> FeedbackRecord:
        if not 1 <= rec.rating <= 5:
            raise ValueError(f"rating must be 1 to 5, not {rec.rating}")
        values: dict[str, Any] = {c.name: getattr(rec, c.name) for c in tb.feedback.columns}
        # Sealed before the transaction: a tenant's first seal writes its data key, in a
        # transaction of its own that must not wait on this one.
        for key in _SEALED:
            if values[key] is not None:
                values[key] = self.cipher.encrypt(values[key], rec.tenant)
        with transaction(self.engine) as conn:
            conn.execute(insert(tb.feedback).values(**values))
        return rec

    def get(self, feedback_id: str, tenant: str) -> FeedbackRecord | None:
        f = tb.feedback
        with self.engine.connect() as conn:
            row = conn.execute(
                select(f).where(f.c.id == feedback_id, f.c.tenant == tenant)
            ).first()
        return None if row is None else self._open(row)

    def find(
        self, tenant: str | None, since: float | None = None, limit: int = 1000
    ) -> list[FeedbackRecord]:
        """Feedback of `tenant` (None: every tenant), newest first."""
        f = tb.feedback
        stmt = select(f)
        if tenant is not None:
            stmt = stmt.where(f.c.tenant == tenant)
        if since is not None:
            stmt = stmt.where(f.c.created_at >= since)
        stmt = stmt.order_by(f.c.created_at.desc(), f.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [self._open(row) for row in conn.execute(stmt)]

    def report(
        self,
        tenant: str | None,
        by: str = "prompt_version",
        since: float | None = None,
        target: float = 4.2,
    ) -> list[FeedbackGroup]:
        """Per group: count, mean rating, share of negative ratings, and whether the mean
        meets `target`. Only plain columns are read; nothing is decrypted."""
        if by not in GROUP_BY:
            raise ValueError(f"cannot group by '{by}' (known: {', '.join(GROUP_BY)})")
        pending.settle()
        f = tb.feedback
        if by == "release":
            # The release is read from the rated turn's trace (a feedback row outlives nothing
            # it is tied to: a trace erased or purged leaves the rating under "-").
            t = tb.traces
            stmt = select(f.c.created_at, f.c.rating, t.c.release).select_from(
                f.outerjoin(t, t.c.id == f.c.trace_id)
            )
        else:
            stmt = select(f.c.created_at, f.c.rating, f.c.prompt_version, f.c.model, f.c.app)
        if tenant is not None:
            stmt = stmt.where(f.c.tenant == tenant)
        if since is not None:
            stmt = stmt.where(f.c.created_at >= since)
        sums: dict[str, list[int]] = {}  # key -> [count, total, negatives]
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                acc = sums.setdefault(_key(row, by), [0, 0, 0])
                acc[0] += 1
                acc[1] += int(row.rating)
                acc[2] += int(row.rating) <= NEGATIVE_AT_MOST
        groups = []
        for key in sorted(sums):
            n, total, negative = sums[key]
            mean = total / n
            groups.append(FeedbackGroup(key, n, mean, negative / n, mean >= target))
        return groups

    # -- one person's records, every tenant (privacy export) -------------------------------

    def of_principal(self, subject: str) -> list[FeedbackRecord]:
        f = tb.feedback
        stmt = select(f).where(f.c.principal == subject).order_by(f.c.created_at)
        with self.engine.connect() as conn:
            return [self._open(row) for row in conn.execute(stmt)]
