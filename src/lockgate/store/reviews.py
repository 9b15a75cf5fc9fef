"""Review queue rows and reviewers' corrections. This module stores and finds them; who may do
what, and what a decision means, is `lockgate.review.queue`.

Every read and every change names the tenant, and the tenant is part of the WHERE clause:
an item of another tenant is never loaded, so it cannot leak through a forgotten check.
Claims and decisions are one conditional UPDATE each, so two reviewers racing for an item
cannot both win, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import tables as tb
from lockgate.store.db import transaction

PENDING = "pending"
DECIDED: tuple[str, ...] = ("approved", "edited", "rejected")
STATUSES: tuple[str, ...] = (PENDING, *DECIDED)
# What a listing may filter on: the stored statuses, plus `claimed` (pending with a live
# claim), `open` (pending, claimed or not) and `decided` (any of DECIDED).
LIST_STATUSES: tuple[str, ...] = (*STATUSES, "claimed", "open", "decided")
REVIEW_ID = re.compile(r"rev_[0-9a-f]{24}")

_SEALED_TEXT = ("question", "answer", "final_answer", "excerpt", "note")
_SEALED_JSON = ("context", "citations", "payload")
_MAX_TEXT = 200_000  # as traces: a review shows the whole answer, bounded


def new_review_id() -> str:
    return f"rev_{uuid.uuid4().hex[:24]}"


class ReviewConflict(Exception):
    """The item cannot be claimed or decided now (another reviewer holds it, or it is
    decided already); the message says which and is safe to show the reviewer."""


@dataclass
class ReviewRecord:
    id: str
    tenant: str
    principal: str  # the caller whose answer or tool call this is
    kind: str
    mode: str
    status: str = PENDING
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    app: str | None = None
    model: str | None = None
    trace_id: str | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    groundedness: float | None = None
    question: str | None = None
    answer: str | None = None
    final_answer: str | None = None
    excerpt: str | None = None
    context: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    payload: dict[str, Any] | None = None
    claimed_by: str | None = None
    claimed_at: float | None = None
    claim_expires_at: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    callback_status: str | None = None
    callback_attempts: int = 0

    def claimed(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return (
            self.status == PENDING
            and self.claimed_by is not None
            and (self.claim_expires_at or 0) > now
        )


@dataclass(frozen=True)
class CorrectionRecord:
    id: int
    created_at: float
    tenant: str
    principal: str
    review_id: str
    trace_id: str | None
    app: str | None
    model: str | None
    reviewer: str
    question: str
    original: str
    corrected: str


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"… [{len(text) - _MAX_TEXT} more characters]"


class ReviewStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()

    # -- rows <-> records ------------------------------------------------------------------

    def _seal(self, rec: ReviewRecord) -> dict[str, Any]:
        values: dict[str, Any] = {c.name: getattr(rec, c.name) for c in tb.review_items.columns}
        values["reasons"] = json.dumps(rec.reasons, default=str)
        for key in _SEALED_TEXT:
            text = _clip(values[key])
            values[key] = None if text is None else self.cipher.encrypt(text, rec.tenant)
        for key in _SEALED_JSON:
            value = values[key]
            empty = value is None or value == []
            plain = None if empty else json.dumps(value, default=str)
            values[key] = None if plain is None else self.cipher.encrypt(plain, rec.tenant)
        return values

    def _open(self, row: Any) -> ReviewRecord:
        values = dict(row._mapping)
        values["reasons"] = json.loads(values["reasons"] or "[]")
        for key in _SEALED_TEXT:
            if values[key] is not None:
                values[key] = self.cipher.decrypt(values[key])
        for key in _SEALED_JSON:
            raw = values[key]
            default: Any = None if key == "payload" else []
            values[key] = default if raw is None else json.loads(self.cipher.decrypt(raw))
        return ReviewRecord(**values)

    def _correction(self, row: Any) -> CorrectionRecord:
        values = dict(row._mapping)
        for key in ("question", "original", "corrected"):
            values[key] = self.cipher.decrypt(values[key])
        return CorrectionRecord(**values)

    # -- writing ---------------------------------------------------------------------------

    def add(self, rec: ReviewRecord) -> ReviewRecord:
        rec = replace(rec, updated_at=rec.updated_at or rec.created_at)
        # Sealed before the transaction: a tenant's first seal writes its data key, in a
        # transaction of its own that must not wait on this one.
        values = self._seal(rec)
        with transaction(self.engine) as conn:
            conn.execute(insert(tb.review_items).values(**values))
        return rec

    def claim(
        self, item_id: str, tenant: str, reviewer: str, ttl_s: float, now: float | None = None
    ) -> ReviewRecord | None:
        """Claim the item for `reviewer` (again, to extend a claim); None when there is no
        such item in the tenant; ReviewConflict when someone else holds it or it is decided."""
        now = time.time() if now is None else now
        r = tb.review_items
        with transaction(self.engine) as conn:
            done = conn.execute(
                update(r)
                .where(_mine(item_id, tenant, reviewer, now))
                .values(
                    claimed_by=reviewer,
                    claimed_at=now,
                    claim_expires_at=now + ttl_s,
                    updated_at=now,
                )
            ).rowcount
            if not done:
                _refusal(conn, item_id, tenant, now)
                return None
        return self.get(item_id, tenant)

    def decide(
        self,
        item_id: str,
        tenant: str,
        reviewer: str,
        status: str,
        final_answer: str | None,
        note: str | None = None,
        correction: bool = False,
        now: float | None = None,
    ) -> ReviewRecord | None:
        """Record a decision on a pending item nobody else holds; with `correction`, keep the
        question, the original and `final_answer` as a correction, in the same transaction."""
        if status not in DECIDED:
            raise ValueError(f"not a decision: {status}")
        now = time.time() if now is None else now
        r = tb.review_items
        # Sealed before the transaction, as in `add`.
        sealed_final = None
        if final_answer is not None:
            sealed_final = self.cipher.encrypt(_clip(final_answer) or "", tenant)
        sealed_note = None if note is None else self.cipher.encrypt(note, tenant)
        empty = self.cipher.encrypt("", tenant)
        with transaction(self.engine) as conn:
            current = conn.execute(
                select(r).where(r.c.id == item_id, r.c.tenant == tenant)
            ).first()
            if current is None:
                return None
            done = conn.execute(
                update(r)
                .where(_mine(item_id, tenant, reviewer, now))
                .values(
                    status=status,
                    final_answer=sealed_final,
                    note=sealed_note,
                    decided_by=reviewer,
                    decided_at=now,
                    claimed_by=None,
                    claimed_at=None,
                    claim_expires_at=None,
                    updated_at=now,
                )
            ).rowcount
            if not done:
                _refusal(conn, item_id, tenant, now)
                return None
            if correction and sealed_final is not None:
                conn.execute(
                    insert(tb.review_corrections).values(
                        created_at=now,
                        tenant=tenant,
                        principal=current.principal,
                        review_id=item_id,
                        trace_id=current.trace_id,
                        app=current.app,
                        model=current.model,
                        reviewer=reviewer,
                        # Copied sealed: the same tenant key seals both tables.
                        question=current.question or empty,
                        original=current.answer or empty,
                        corrected=sealed_final,
                    )
                )
        return self.get(item_id, tenant)

    def record_callback(self, item_id: str, status: str, attempts: int) -> None:
        r = tb.review_items
        with transaction(self.engine) as conn:
            conn.execute(
                update(r)
                .where(r.c.id == item_id)
                .values(
                    callback_status=status[:500],
                    callback_attempts=r.c.callback_attempts + attempts,
                )
            )

    # -- reading ---------------------------------------------------------------------------

    def get(self, item_id: str, tenant: str) -> ReviewRecord | None:
        r = tb.review_items
        with self.engine.connect() as conn:
            row = conn.execute(select(r).where(r.c.id == item_id, r.c.tenant == tenant)).first()
        return None if row is None else self._open(row)

    def find(
        self,
        tenant: str,
        status: str | None = "open",
        kind: str | None = None,
        min_age_s: float | None = None,
        max_age_s: float | None = None,
        limit: int = 50,
        now: float | None = None,
    ) -> list[ReviewRecord]:
        """The tenant's items, oldest first (the order they should be worked in)."""
        now = time.time() if now is None else now
        r = tb.review_items
        stmt = select(r).where(r.c.tenant == tenant)
        if status is not None:
            stmt = stmt.where(_status_is(status, now))
        if kind is not None:
            stmt = stmt.where(r.c.kind == kind)
        if min_age_s is not None:
            stmt = stmt.where(r.c.created_at <= now - min_age_s)
        if max_age_s is not None:
            stmt = stmt.where(r.c.created_at >= now - max_age_s)
        stmt = stmt.order_by(r.c.created_at, r.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [self._open(row) for row in conn.execute(stmt)]

    def tool_calls_of(
        self, tenant: str, principal: str, since: float, limit: int = 200
    ) -> list[ReviewRecord]:
        """One caller's tool call items since a time, newest first."""
        r = tb.review_items
        stmt = (
            select(r)
            .where(
                r.c.tenant == tenant,
                r.c.principal == principal,
                r.c.kind == "tool_call",
                r.c.created_at >= since,
            )
            .order_by(r.c.created_at.desc(), r.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [self._open(row) for row in conn.execute(stmt)]

    def corrections(self, tenant: str, limit: int = 10_000) -> list[CorrectionRecord]:
        c = tb.review_corrections
        stmt = select(c).where(c.c.tenant == tenant).order_by(c.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [self._correction(row) for row in conn.execute(stmt)]

    def backlog(self, now: float | None = None) -> dict[tuple[str, str], int]:
        """(kind, status) -> items, every tenant; pending items with a live claim count as
        `claimed`."""
        now = time.time() if now is None else now
        r = tb.review_items
        live = and_(
            r.c.status == PENDING, r.c.claimed_by.is_not(None), r.c.claim_expires_at > now
        )
        # Grouped over a subquery: PostgreSQL would not match a GROUP BY expression that
        # carries its own copy of the bound `now` to the one in the select list.
        shown = select(r.c.kind, case((live, "claimed"), else_=r.c.status).label("st")).subquery()
        stmt = select(shown.c.kind, shown.c.st, func.count()).group_by(shown.c.kind, shown.c.st)
        with self.engine.connect() as conn:
            return {(k, s): int(n) for k, s, n in conn.execute(stmt)}

    def oldest_open(self) -> dict[str, float]:
        """kind -> created_at of its oldest pending item, every tenant."""
        r = tb.review_items
        stmt = (
            select(r.c.kind, func.min(r.c.created_at))
            .where(r.c.status == PENDING)
            .group_by(r.c.kind)
        )
        with self.engine.connect() as conn:
            return {k: float(t) for k, t in conn.execute(stmt)}

    # -- one person's records, every tenant (privacy export) -------------------------------

    def of_principal(self, subject: str) -> list[ReviewRecord]:
        r = tb.review_items
        stmt = select(r).where(r.c.principal == subject).order_by(r.c.created_at)
        with self.engine.connect() as conn:
            return [self._open(row) for row in conn.execute(stmt)]

    def corrections_of_principal(self, subject: str) -> list[CorrectionRecord]:
        c = tb.review_corrections
        stmt = select(c).where(c.c.principal == subject).order_by(c.c.id)
        with self.engine.connect() as conn:
            return [self._correction(row) for row in conn.execute(stmt)]


def _mine(item_id: str, tenant: str, reviewer: str, now: float) -> ColumnElement[bool]:
    """The item, still pending, and held by nobody else (no claim, an expired one, or ours)."""
    r = tb.review_items
    return and_(
        r.c.id == item_id,
        r.c.tenant == tenant,
        r.c.status == PENDING,
        or_(
            r.c.claimed_by.is_(None),
            r.c.claim_expires_at <= now,
            r.c.claimed_by == reviewer,
        ),
    )


def _status_is(status: str, now: float) -> ColumnElement[bool]:
    r = tb.review_items
    live = and_(r.c.claimed_by.is_not(None), r.c.claim_expires_at > now)
    if status == "open":
        return r.c.status == PENDING
    if status == "decided":
        return r.c.status.in_(DECIDED)
    if status == "claimed":
        return and_(r.c.status == PENDING, live)
    if status == PENDING:
        # Pending and free to claim: what a reviewer can pick up now.
        return and_(r.c.status == PENDING, or_(r.c.claimed_by.is_(None), ~live))
    return r.c.status == status


def _refusal(conn: Connection, item_id: str, tenant: str, now: float) -> None:
    """Why a conditional update changed nothing: raise ReviewConflict, or return when the
    item is not in the tenant at all (the caller answers not found)."""
    r = tb.review_items
    row = conn.execute(
        select(r.c.status, r.c.claimed_by, r.c.claim_expires_at, r.c.decided_by).where(
            r.c.id == item_id, r.c.tenant == tenant
        )
    ).first()
    if row is None:
        return
    if row.status != PENDING:
        raise ReviewConflict(f"review {item_id} is already {row.status} by {row.decided_by}")
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.claim_expires_at or now))
    raise ReviewConflict(f"review {item_id} is claimed by {row.claimed_by} until {until}")
