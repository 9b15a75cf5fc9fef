"""Staged releases: one row per release (its bundle, stage and share) and its stage history.

Every stage change is one transaction that re-reads the stage it was decided on, so the CLI
and a gateway's monitor changing the same release at once cannot both win; the unique `slot`
column (m0021) keeps the store to one current and one rollout release whoever writes. The
window reads (`window`, `feedback`) are the monitor's: aggregates over a release's traces."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Engine, and_, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lockgate.store import pending
from lockgate.store import tables as tb
from lockgate.store.db import transaction

Stage = Literal["draft", "pilot", "percentage", "full", "retired", "rolled_back"]
STAGES: tuple[str, ...] = ("draft", "pilot", "percentage", "full", "retired", "rolled_back")
ROLLOUT: tuple[str, ...] = ("pilot", "percentage")  # serving some callers, being judged
FINISHED: tuple[str, ...] = ("retired", "rolled_back")  # never serves again


class ReleaseError(ValueError):
    """A release that cannot be made, or a stage change the state machine refuses."""


@dataclass(frozen=True)
class Release:
    name: str
    # {prompt name: version number}: the grounded prompt's pin applies to grounded turns.
    prompts: dict[str, int] = field(default_factory=dict)
    # The registry model grounded turns are answered by (instead of `grounded.model`).
    model: str | None = None
    # {requested model: registry model} for pass-through turns.
    models: dict[str, str] = field(default_factory=dict)
    params: dict[str, float | int] = field(default_factory=dict)
    stage: str = "draft"
    percent: float | None = None
    pilot: tuple[str, ...] = ()
    created_by: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    # When it entered rollout: the monitor judges only turns from then on.
    rollout_since: float | None = None
    # The release it retired when it went full: a rollback of this one restores that one.
    previous: str | None = None
    reason: str | None = None  # why it was rolled back

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stage": self.stage,
            "percent": self.percent,
            "pilot": list(self.pilot),
            "prompts": dict(self.prompts),
            "model": self.model,
            "models": dict(self.models),
            "params": dict(self.params),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "rollout_since": self.rollout_since,
            "previous": self.previous,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class StageChange:
    release: str
    seq: int
    at: float
    from_stage: str | None
    to_stage: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "from": self.from_stage,
            "to": self.to_stage,
            "actor": self.actor,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Transition:
    """One decided stage change (releases/states.py decides, `ReleaseStore.apply` applies)."""

    release: str
    from_stage: str
    to_stage: str
    percent: float | None = None
    pilot: tuple[str, ...] = ()
    retire: str | None = None  # the current release a promotion to full replaces
    restore: str | None = None  # the release a rollback of the current makes current again
    reason: str | None = None


@dataclass(frozen=True)
class WindowStats:
    """A release's chat turns over a window (release None: the turns no release served)."""

    requests: int = 0
    errors: int = 0  # HTTP 5xx, or a degraded stand-in answer: the backends failed
    cost: float = 0.0
    grounded: int = 0  # turns with a groundedness score
    groundedness_sum: float = 0.0
    p95_latency_ms: float | None = None
    rated: int = 0  # ratings given to these turns
    negative: int = 0  # ... of which negative (rating <= 2; a thumb down is 1)


# Chat turns, HTTP and batch: embeddings and search never carry a release.
CHAT_ENDPOINTS = ("/v1/chat/completions", "/v1/batches")
NEGATIVE_AT_MOST = 2


def _slot(stage: str) -> str | None:
    return "current" if stage == "full" else "rollout" if stage in ROLLOUT else None


def _record(row: Any) -> Release:
    v = row._mapping
    return Release(
        name=v["name"],
        prompts=json.loads(v["prompts"]),
        model=v["model"],
        models=json.loads(v["models"]),
        params=json.loads(v["params"]),
        stage=v["stage"],
        percent=v["percent"],
        pilot=tuple(json.loads(v["pilot"])),
        created_by=v["created_by"],
        created_at=v["created_at"],
        updated_at=v["updated_at"],
        rollout_since=v["rollout_since"],
        previous=v["previous"],
        reason=v["reason"],
    )


class ReleaseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, release: Release) -> Release:
        r = tb.releases
        values = {
            "name": release.name,
            "stage": "draft",
            "percent": None,
            "pilot": json.dumps([]),
            "prompts": json.dumps(release.prompts, sort_keys=True),
            "model": release.model,
            "models": json.dumps(release.models, sort_keys=True),
            "params": json.dumps(release.params, sort_keys=True),
            "created_by": release.created_by,
            "created_at": release.created_at,
            "updated_at": release.created_at,
            "rollout_since": None,
            "previous": None,
            "reason": None,
            "slot": None,
        }
        try:
            with transaction(self.engine) as conn:
                conn.execute(insert(r).values(**values))
                self._history(conn, release.name, None, "draft", release.created_by, {},
                              release.created_at)
        except IntegrityError:
            raise ReleaseError(f"release '{release.name}' already exists") from None
        found = self.get(release.name)
        assert found is not None
        return found

    def get(self, name: str) -> Release | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tb.releases).where(tb.releases.c.name == name)).first()
        return None if row is None else _record(row)

    def all(self) -> list[Release]:
        r = tb.releases
        with self.engine.connect() as conn:
            rows = conn.execute(select(r).order_by(r.c.created_at.desc(), r.c.name))
            return [_record(row) for row in rows]

    def active(self) -> tuple[Release | None, Release | None]:
        """(current, rollout): the releases that serve anybody now."""
        r = tb.releases
        with self.engine.connect() as conn:
            rows = conn.execute(select(r).where(r.c.slot.is_not(None))).all()
        found = {row._mapping["slot"]: _record(row) for row in rows}
        return found.get("current"), found.get("rollout")

    def history(self, name: str) -> list[StageChange]:
        h = tb.release_history
        stmt = select(h).where(h.c.release == name).order_by(h.c.seq)
        with self.engine.connect() as conn:
            return [
                StageChange(
                    row.release, row.seq, row.at, row.from_stage, row.to_stage, row.actor,
                    json.loads(row.detail),
                )
                for row in conn.execute(stmt)
            ]

    def apply(
        self, move: Transition, actor: str, detail: dict[str, Any] | None = None
    ) -> list[StageChange]:
        """Apply a decided change; ReleaseError when the release moved meanwhile (or another
        took the slot). Returns the history entries written, the release's first."""
        now = time.time()
        r = tb.releases
        written: list[StageChange] = []
        info = dict(detail or {})
        if move.percent is not None:
            info["percent"] = move.percent
        if move.pilot:
            info["pilot"] = list(move.pilot)
        if move.reason:
            info["reason"] = move.reason
        try:
            with transaction(self.engine) as conn:
                # Locked to the end of the move: PostgreSQL runs two moves side by side, and
                # both would see the stage they expect (SQLite's writers take turns).
                row = conn.execute(
                    select(r.c.stage, r.c.rollout_since)
                    .where(r.c.name == move.release)
                    .with_for_update()
                ).first()
                if row is None:
                    raise ReleaseError(f"no release named '{move.release}'")
                if row.stage != move.from_stage:
                    raise ReleaseError(
                        f"release '{move.release}' changed meanwhile (now {row.stage}); "
                        "look again and retry"
                    )
                if move.retire:
                    # First: the slot 'current' must be free before this one takes it.
                    done = conn.execute(
                        update(r)
                        .where(r.c.name == move.retire, r.c.stage == "full")
                        .values(stage="retired", slot=None, updated_at=now)
                    )
                    if done.rowcount:
                        written.append(self._history(
                            conn, move.retire, "full", "retired", actor,
                            {"replaced_by": move.release}, now,
                        ))
                values: dict[str, Any] = {
                    "stage": move.to_stage, "slot": _slot(move.to_stage), "updated_at": now,
                }
                if move.to_stage in ROLLOUT:
                    values["percent"] = move.percent
                    values["pilot"] = json.dumps(list(move.pilot))
                    if row.rollout_since is None:
                        values["rollout_since"] = now
                if move.to_stage == "full":
                    values["previous"] = move.retire
                    if row.rollout_since is None:
                        values["rollout_since"] = now
                if move.reason:
                    values["reason"] = move.reason
                conn.execute(update(r).where(r.c.name == move.release).values(**values))
                written.insert(0, self._history(
                    conn, move.release, move.from_stage, move.to_stage, actor, info, now
                ))
                if move.restore:
                    done = conn.execute(
                        update(r)
                        .where(r.c.name == move.restore, r.c.stage == "retired")
                        .values(stage="full", slot="current", updated_at=now)
                    )
                    if done.rowcount:
                        written.append(self._history(
                            conn, move.restore, "retired", "full", actor,
                            {"restored_after": move.release}, now,
                        ))
        except IntegrityError:
            raise ReleaseError(
                "another release took its place meanwhile (one current and one in rollout at "
                "most); look again and retry"
            ) from None
        return written

    @staticmethod
    def _history(
        conn: Any, name: str, from_stage: str | None, to_stage: str, actor: str,
        detail: dict[str, Any], at: float,
    ) -> StageChange:
        h = tb.release_history
        seq = conn.execute(
            select(func.coalesce(func.max(h.c.seq), 0)).where(h.c.release == name)
        ).scalar_one() + 1
        conn.execute(insert(h).values(
            release=name, seq=seq, at=at, from_stage=from_stage, to_stage=to_stage,
            actor=actor, detail=json.dumps(detail, sort_keys=True, default=str),
        ))
        return StageChange(name, seq, at, from_stage, to_stage, actor, detail)

    # -- the monitor's reads --------------------------------------------------------------

    def window(self, release: str | None, since: float, until: float | None = None) -> WindowStats:
        pending.settle()
        t = tb.traces
        where = [
            t.c.release.is_(None) if release is None else t.c.release == release,
            t.c.created_at >= since,
            t.c.endpoint.in_(CHAT_ENDPOINTS),
        ]
        if until is not None:
            where.append(t.c.created_at < until)
        cond = and_(*where)
        failed = case(
            (func.coalesce(t.c.http_status, 0) >= 500, 1), (t.c.degraded == 1, 1), else_=0
        )
        scored = case((t.c.groundedness.is_not(None), 1), else_=0)
        with self.engine.connect() as conn:
            agg = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(failed), 0),
                    func.coalesce(func.sum(t.c.cost), 0.0),
                    func.coalesce(func.sum(scored), 0),
                    func.coalesce(func.sum(t.c.groundedness), 0.0),
                ).where(cond)
            ).one()
            n = int(agg[0])
            p95 = None
            timed = conn.execute(
                select(func.count()).where(cond, t.c.latency_ms.is_not(None))
            ).scalar_one()
            if timed:
                # Nearest rank: the smallest latency at or above 95% of the turns.
                rank = max(0, math.ceil(0.95 * int(timed)) - 1)
                p95 = conn.execute(
                    select(t.c.latency_ms)
                    .where(cond, t.c.latency_ms.is_not(None))
                    .order_by(t.c.latency_ms)
                    .offset(rank)
                    .limit(1)
                ).scalar_one()
            f = tb.feedback
            fb = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((f.c.rating <= NEGATIVE_AT_MOST, 1), else_=0)), 0),
                )
                .select_from(f.join(t, f.c.trace_id == t.c.id))
                .where(cond)
            ).one()
        return WindowStats(
            requests=n,
            errors=int(agg[1]),
            cost=float(agg[2]),
            grounded=int(agg[3]),
            groundedness_sum=float(agg[4]),
            p95_latency_ms=None if p95 is None else float(p95),
            rated=int(fb[0]),
            negative=int(fb[1]),
        )

