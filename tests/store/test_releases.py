"""The release store on SQLite and PostgreSQL: stage changes with their history, the one
current / one rollout rule held by the database itself, and the monitor's window reads over
real trace and feedback rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from lockgate.releases import states
from lockgate.releases.model import Release, ReleaseError
from lockgate.store.db import make_engine
from lockgate.store.feedback import FeedbackRecord, FeedbackStore, new_feedback_id
from lockgate.store.migrations import migrate
from lockgate.store.releases import ReleaseStore, Transition
from lockgate.store.traces import TraceStore
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'rel.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("releases") as engine:
        migrate(engine)
        yield engine


def _promote(store: ReleaseStore, name: str, target: str, **kw: Any) -> None:
    release = store.get(name)
    assert release is not None
    current, rollout = store.active()
    store.apply(states.promote(release, target, current, rollout, **kw), "ops")


def test_stages_history_and_the_active_pair(db: Engine) -> None:
    store = ReleaseStore(db)
    made = store.create(Release("r1", prompts={"grounded_answer": 2}, model="m1",
                                models={"assistant": "m1"}, params={"temperature": 0.1},
                                created_by="alice"))
    assert made.stage == "draft" and made.prompts == {"grounded_answer": 2}
    with pytest.raises(ReleaseError, match="already exists"):
        store.create(Release("r1", created_by="bob"))
    _promote(store, "r1", "full")
    store.create(Release("r2", model="m2", created_by="alice"))
    _promote(store, "r2", "pilot", pilot=["carol"])
    _promote(store, "r2", "percentage", percent=12.5)
    current, rollout = store.active()
    assert current is not None and current.name == "r1"
    assert rollout is not None and rollout.name == "r2" and rollout.percent == 12.5
    assert rollout.pilot == ("carol",) and rollout.rollout_since is not None
    _promote(store, "r2", "full")
    current, rollout = store.active()
    assert current is not None and current.name == "r2" and current.previous == "r1"
    assert rollout is None
    r1 = store.get("r1")
    assert r1 is not None and r1.stage == "retired"
    steps = [(c.from_stage, c.to_stage, c.actor) for c in store.history("r2")]
    assert steps == [
        (None, "draft", "alice"), ("draft", "pilot", "ops"),
        ("pilot", "percentage", "ops"), ("percentage", "full", "ops"),
    ]
    assert store.history("r2")[2].detail["percent"] == 12.5
    assert [c.to_stage for c in store.history("r1")] == ["draft", "full", "retired"]
    # Rolling the current back restores the one it replaced.
    release = store.get("r2")
    assert release is not None
    written = store.apply(states.rollback(release, "regression"), "ops")
    assert [(c.release, c.to_stage) for c in written] == [("r2", "rolled_back"), ("r1", "full")]
    current, _ = store.active()
    assert current is not None and current.name == "r1"
    r2 = store.get("r2")
    assert r2 is not None and r2.reason == "regression"


def test_a_stale_decision_and_a_second_rollout_are_refused(db: Engine) -> None:
    store = ReleaseStore(db)
    for name in ("a", "b"):
        store.create(Release(name, model="m", created_by="x"))
    # Both decided while nothing was in rollout; the database lets only one take the slot.
    store.apply(Transition("a", "draft", "pilot", pilot=("u",)), "x")
    with pytest.raises(ReleaseError, match="took its place"):
        store.apply(Transition("b", "draft", "pilot", pilot=("u",)), "x")
    with pytest.raises(ReleaseError, match="changed meanwhile"):
        store.apply(Transition("a", "draft", "percentage", percent=5.0), "x")
    b = store.get("b")
    assert b is not None and b.stage == "draft"
    assert [c.to_stage for c in store.history("b")] == ["draft"]


def _trace(traces: TraceStore, release: str | None, status: int, latency: float,
           cost: float = 0.01, groundedness: float | None = None) -> str:
    trace_id = uuid.uuid4().hex
    traces.record({
        "id": trace_id, "created_at": time.time(), "principal": "p", "tenant": "acme",
        "endpoint": "/v1/chat/completions", "stream": 0, "status": "ok" if status < 400
        else "error", "http_status": status, "degraded": 0, "cost": cost,
        "latency_ms": latency, "groundedness": groundedness, "release": release,
    })
    return trace_id


def test_window_aggregates_one_releases_chat_turns(db: Engine) -> None:
    store, traces, feedback = ReleaseStore(db), TraceStore(db), FeedbackStore(db)
    since = time.time() - 1
    ids = [_trace(traces, "r2", 502 if i < 3 else 200, float(i + 1), groundedness=0.5)
           for i in range(20)]
    for _ in range(5):
        _trace(traces, None, 200, 1000.0)  # another side: not counted
    for i, trace_id in enumerate(ids[:4]):
        feedback.add(FeedbackRecord(new_feedback_id(), "acme", "p", trace_id, 1 if i else 5))
    stats = store.window("r2", since)
    assert stats.requests == 20 and stats.errors == 3
    assert stats.cost == pytest.approx(0.2)
    assert stats.grounded == 20 and stats.groundedness_sum == pytest.approx(10.0)
    assert stats.p95_latency_ms == 19.0  # nearest rank of 1..20
    assert (stats.rated, stats.negative) == (4, 3)
    base = store.window(None, since)
    assert base.requests == 5 and base.p95_latency_ms == 1000.0 and base.rated == 0
    assert store.window("r2", time.time() + 10).requests == 0
