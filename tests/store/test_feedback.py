"""The feedback store on SQLite and PostgreSQL: rows of one tenant are never read for another,
comments and corrections are sealed at rest, reports group and score against the target,
and privacy export, erasure and retention cover feedback."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, text

from lockgate.crypto.envelope import Keyring
from lockgate.crypto.kms import LocalMasterKey
from lockgate.store import tables as tb
from lockgate.store.data_keys import SqlDataKeyStore
from lockgate.store.db import make_engine
from lockgate.store.feedback import FeedbackRecord, FeedbackStore, new_feedback_id
from lockgate.store.migrations import migrate
from lockgate.store.privacy import PrivacyStore, Retention
from lockgate.store.reviews import ReviewStore
from lockgate.store.traces import TraceStore
from tests.support.postgres import throwaway_database

DAY = 86400.0
NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fb.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("feedback") as engine:
        migrate(engine)
        yield engine


def _store(engine: Engine) -> FeedbackStore:
    cipher = Keyring(LocalMasterKey(secrets.token_bytes(32)), SqlDataKeyStore(engine))
    return FeedbackStore(engine, cipher)


def _rec(tenant: str, rating: int, **kw: object) -> FeedbackRecord:
    values: dict[str, object] = {
        "id": new_feedback_id(),
        "tenant": tenant,
        "principal": f"{tenant}_user",
        "trace_id": "t" * 32,
        "rating": rating,
        "created_at": NOW,
        **kw,
    }
    return FeedbackRecord(**values)  # type: ignore[arg-type]


def test_add_get_is_tenant_bound_and_sealed(db: Engine) -> None:
    store = _store(db)
    rec = store.add(_rec("a", 5, thumb="up", comment="planted comment sentence", correction="fix"))
    got = store.get(rec.id, "a")
    assert got is not None and got.comment == "planted comment sentence" and got.rating == 5
    assert got.correction == "fix" and got.thumb == "up"
    assert store.get(rec.id, "b") is None
    with db.connect() as conn:
        raw = conn.execute(text("SELECT comment, correction FROM feedback")).one()
    assert "planted" not in raw.comment and raw.correction != "fix"
    assert [r.id for r in store.find("a")] == [rec.id] and store.find("b") == []
    with pytest.raises(ValueError):
        store.add(_rec("a", 6))


def test_report_groups_and_target(db: Engine) -> None:
    store = _store(db)
    for rating in (5, 5, 4):
        store.add(_rec("a", rating, prompt_version=2, model="m1", app="web"))
    for rating in (1, 2, 5):
        store.add(_rec("a", rating, prompt_version=1, model="m1", app="web"))
    store.add(_rec("a", 1, prompt_version=3, created_at=NOW - 30 * DAY))  # outside the window
    store.add(_rec("b", 1, prompt_version=2))  # another tenant
    groups = {g.key: g for g in store.report("a", "prompt_version", since=NOW - 7 * DAY)}
    assert set(groups) == {"1", "2"}
    assert groups["2"].count == 3 and groups["2"].meets_target
    assert groups["2"].mean_rating == pytest.approx(14 / 3) and groups["2"].negative_share == 0
    assert groups["1"].negative_share == pytest.approx(2 / 3) and not groups["1"].meets_target
    by_model = store.report("a", "model", since=NOW - 7 * DAY, target=2.0)
    assert [(g.key, g.count, g.meets_target) for g in by_model] == [("m1", 6, True)]
    days = store.report(None, "day")
    assert sum(g.count for g in days) == 8 and len(days) == 2
    with pytest.raises(ValueError):
        store.report("a", "comment")


def test_report_by_release_reads_the_rated_traces(db: Engine) -> None:
    store = _store(db)
    for trace_id, release in (("t-r1", "r1"), ("t-r2", "r2"), ("t-none", None)):
        with db.begin() as conn:
            conn.execute(
                insert(tb.traces).values(
                    id=trace_id, created_at=NOW, principal="p", tenant="a", endpoint="chat",
                    stream=0, status="ok", degraded=0, release=release,
                )
            )
    for rating in (5, 4):
        store.add(_rec("a", rating, trace_id="t-r1"))
    for rating in (1, 2):
        store.add(_rec("a", rating, trace_id="t-r2"))
    store.add(_rec("a", 3, trace_id="t-none"))
    store.add(_rec("a", 5, trace_id="t-gone"))  # its trace was purged
    groups = {g.key: g for g in store.report("a", "release")}
    assert {k: (g.count, g.mean_rating) for k, g in groups.items()} == {
        "r1": (2, 4.5), "r2": (2, 1.5), "-": (2, 4.0)
    }
    assert groups["r2"].negative_share == 1.0 and groups["r1"].meets_target


def test_privacy_covers_feedback(db: Engine) -> None:
    store = _store(db)
    privacy = PrivacyStore(db, TraceStore(db), ReviewStore(db), store)
    store.add(_rec("a", 4, comment="alice's words"))
    store.add(_rec("b", 2, created_at=NOW - 400 * DAY))
    exported = privacy.export("a_user")
    assert [f["comment"] for f in exported["feedback"]] == ["alice's words"]
    keep = Retention.days(
        traces=30, reviews=90, corrections=None, cache=30, batches=30, files=30, feedback=365
    )
    assert privacy.purge(keep, now=NOW)["feedback"] == 1
    assert privacy.export("b_user")["feedback"] == []
    assert privacy.forget("a_user")["feedback"] == 1
    assert store.find(None) == []
