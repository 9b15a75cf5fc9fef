"""The review store and queue on a real store, SQLite and PostgreSQL: items are found only
within their tenant (the tenant is in the query), one reviewer holds a claim at a time until
it expires, a decided item cannot be decided again, an edit leaves a correction, tool calls
are held and released with the reviewer's arguments, texts are sealed at rest, the old
escalations table is migrated into the queue, and privacy export, erasure and retention
cover review items."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from lockgate.config import ReviewConfig
from lockgate.crypto.envelope import Keyring
from lockgate.crypto.kms import LocalMasterKey
from lockgate.engine.turn import Principal
from lockgate.observability.events import Event, ReviewClaimed, ReviewDecided, ReviewQueued
from lockgate.observability.metrics import Metrics
from lockgate.review import (
    ReviewConflict,
    ReviewForbidden,
    ReviewInputError,
    ReviewNotFound,
    ReviewQueue,
    ToolCallRequest,
)
from lockgate.store.data_keys import SqlDataKeyStore
from lockgate.store.db import make_engine, transaction
from lockgate.store.migrations import available, migrate
from lockgate.store.privacy import PrivacyStore, Retention
from lockgate.store.reviews import ReviewRecord, ReviewStore, new_review_id
from lockgate.store.traces import TraceStore
from tests.support.postgres import throwaway_database

PLANTED = "The heron sleeps under the ninth lantern"

CALLER = Principal("carol", "acme", ("app",))
ALICE = Principal("alice", "acme", ("reviewer",))
BOB = Principal("bob", "acme", ("admin",))
OTHER = Principal("olga", "globex", ("reviewer",))
DEV = Principal("dave", "acme", ("developer",))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    with throwaway_database("reviews") as eng:
        migrate(eng)
        yield eng


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(engine: Engine) -> tuple[ReviewQueue, list[Event], Clock]:
    cipher = Keyring(LocalMasterKey(secrets.token_bytes(32)), SqlDataKeyStore(engine))
    events: list[Event] = []
    clock = Clock()
    queue = ReviewQueue(
        ReviewStore(engine, cipher),
        ReviewConfig(claim_ttl_s=60),
        emit=events.extend,
        clock=clock,
        metrics=Metrics(),
    )
    return queue, events, clock


def _answer(queue: ReviewQueue, who: Principal = CALLER, **kw: object) -> ReviewRecord:
    rec = ReviewRecord(
        id=new_review_id(),
        tenant=who.tenant,
        principal=who.id,
        kind=str(kw.pop("kind", "groundedness")),
        mode=str(kw.pop("mode", "hold")),
        created_at=queue.clock(),
        trace_id="t1",
        reasons=[{"kind": "groundedness", "score": 0.2, "threshold": 0.5}],
        question=str(kw.pop("question", "How long is the refund window?")),
        answer=str(kw.pop("answer", "Refunds take 45 days [1].")),
        citations=[{"index": 1, "source": "refunds.md"}],
    )
    return queue.submit(rec)


def test_items_are_found_only_in_their_tenant(world) -> None:
    queue, events, _ = world
    rec = _answer(queue)
    theirs = _answer(queue, Principal("gus", "globex", ("app",)))
    assert [r.id for r in queue.find(ALICE)] == [rec.id]
    assert [r.id for r in queue.find(OTHER)] == [theirs.id]
    for actor in (OTHER, Principal("carol", "globex", ("app",))):
        with pytest.raises(ReviewNotFound):
            queue.get(actor, rec.id)
    with pytest.raises(ReviewNotFound):
        queue.get(Principal("eve", "acme", ("app",)), rec.id)  # same tenant, not the caller
    assert queue.get(CALLER, rec.id).question == rec.question  # the caller may poll it
    with pytest.raises(ReviewForbidden):
        queue.find(DEV)
    with pytest.raises(ReviewForbidden):
        queue.claim(CALLER, rec.id)
    assert [e.review_id for e in events if isinstance(e, ReviewQueued)] == [rec.id, theirs.id]


def test_one_reviewer_holds_a_claim_until_it_expires(world) -> None:
    queue, events, clock = world
    rec = _answer(queue)
    claimed = queue.claim(ALICE, rec.id)
    assert claimed.claimed_by == "alice" and claimed.claimed(clock.now)
    assert [r.id for r in queue.find(ALICE, "claimed")] == [rec.id]
    assert queue.find(ALICE, "pending") == []  # nothing free to pick up
    with pytest.raises(ReviewConflict, match="claimed by alice"):
        queue.claim(BOB, rec.id)
    with pytest.raises(ReviewConflict, match="claimed by alice"):
        queue.approve(BOB, rec.id)
    queue.claim(ALICE, rec.id)  # extending one's own claim is fine
    clock.now += 61
    assert queue.claim(BOB, rec.id).claimed_by == "bob"  # an expired claim is up for grabs
    decided = queue.approve(BOB, rec.id, note="checked against the policy")
    assert decided.status == "approved" and decided.final_answer == rec.answer
    assert decided.decided_by == "bob" and decided.note == "checked against the policy"
    with pytest.raises(ReviewConflict, match="already approved by bob"):
        queue.reject(ALICE, rec.id)
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("ReviewClaimed") == 3 and kinds[-1] == "ReviewDecided"
    last = events[-1]
    assert isinstance(last, ReviewDecided) and last.principal == "bob" and last.caller == "carol"
    assert last.final_sha256 and len(last.final_sha256) == 64
    assert isinstance(events[1], ReviewClaimed)


def test_a_reviewer_cannot_decide_their_own_request(world) -> None:
    queue, _, _ = world
    rec = _answer(queue, ALICE)
    with pytest.raises(ReviewForbidden, match="own request"):
        queue.approve(ALICE, rec.id)
    assert queue.approve(BOB, rec.id).status == "approved"


def test_edit_replaces_the_answer_and_keeps_a_correction(world) -> None:
    queue, _, _ = world
    rec = _answer(queue)
    with pytest.raises(ReviewInputError):
        queue.edit(ALICE, rec.id, "   ")
    with pytest.raises(ReviewInputError):
        queue.edit(ALICE, rec.id, arguments={"x": 1})
    edited = queue.edit(ALICE, rec.id, "Refunds take 30 days [1].")
    assert edited.status == "edited" and edited.final_answer == "Refunds take 30 days [1]."
    view = queue.view(CALLER, edited)
    assert view["answer"] == "Refunds take 30 days [1]." and view["citations"] == []
    assert "original_answer" not in view  # the caller sees the decision, not the review
    [case] = queue.eval_cases(ALICE)
    assert case["question"] == "How long is the refund window?"
    assert case["expected"] == "Refunds take 30 days [1]."
    assert case["rejected"] == "Refunds take 45 days [1]."
    assert case["metadata"]["reviewer"] == "alice" and case["metadata"]["review_id"] == rec.id
    assert queue.eval_cases(OTHER) == []


def test_reject_gives_the_caller_the_refusal(world) -> None:
    queue, _, _ = world
    rec = _answer(queue)
    rejected = queue.reject(ALICE, rec.id, reason="wrong figure")
    view = queue.view(CALLER, rejected)
    assert view["status"] == "rejected" and view["refused"] is True
    assert view["answer"] == ReviewConfig().rejected_message


def test_tool_calls_are_held_then_released_with_the_reviewers_arguments(world) -> None:
    queue, _, _ = world
    calls = [
        ToolCallRequest("call_1", "send_refund", {"order": "A-17", "amount": 4500}),
        ToolCallRequest("call_2", "close_ticket", {"ticket": 9}),
    ]
    held = queue.hold_tool_calls(calls, principal=CALLER, trace_id="t9", app="support")
    assert [(h.mode, h.kind) for h in held] == [("hold", "tool_call")] * 2
    ids = [h.id for h in held]
    first = queue.tool_call_decisions(ids, "acme")
    assert [d.status for d in first] == ["pending", "pending"]
    assert not any(d.may_run for d in first) and first[0].arguments is None
    with pytest.raises(ReviewInputError):
        queue.edit(ALICE, ids[0], "not json")
    queue.edit(ALICE, ids[0], arguments={"order": "A-17", "amount": 450})
    queue.reject(ALICE, ids[1], reason="ticket is still open")
    decided = asyncio.run(queue.wait_for_tool_calls(ids, "acme", timeout_s=2, poll_s=0.01))
    assert [(d.call_id, d.status, d.may_run) for d in decided] == [
        ("call_1", "edited", True),
        ("call_2", "rejected", False),
    ]
    assert decided[0].arguments == {"order": "A-17", "amount": 450}
    assert decided[0].reviewer == "alice"
    with pytest.raises(ReviewNotFound):
        queue.tool_call_decisions(ids, "globex")
    assert queue.eval_cases(ALICE) == []  # edited arguments are not answer corrections


def test_tool_call_review_off_or_deliver(engine: Engine) -> None:
    store = ReviewStore(engine)
    off = ReviewQueue(store, ReviewConfig(modes={"tool_call": "off"}))
    assert off.hold_tool_calls([ToolCallRequest("c", "t")], principal=CALLER, trace_id="t") == []
    after = ReviewQueue(store, ReviewConfig(apps={"ops": {"modes": {"tool_call": "deliver"}}}))
    [item] = after.hold_tool_calls(
        [ToolCallRequest("c", "t", {"a": 1})], principal=CALLER, trace_id="t", app="ops"
    )
    [decision] = after.tool_call_decisions([item.id], "acme")
    assert item.mode == "deliver" and decision.may_run and decision.arguments == {"a": 1}


def test_backlog_and_oldest_open_metrics(world) -> None:
    queue, _, clock = world
    first = _answer(queue)
    clock.now += 100
    second = _answer(queue, kind="guardrail", mode="deliver")
    queue.claim(ALICE, second.id)
    clock.now += 20
    queue.publish_metrics()
    m = queue.metrics
    assert m.gauge("lockgate_review_backlog", kind="groundedness", status="pending") == 1
    assert m.gauge("lockgate_review_backlog", kind="guardrail", status="claimed") == 1
    assert m.gauge("lockgate_review_backlog", kind="tool_call", status="pending") == 0
    age = m.gauge("lockgate_review_oldest_open_age_seconds", kind="groundedness")
    assert age == pytest.approx(120)
    queue.approve(ALICE, first.id)
    queue.publish_metrics()
    assert m.gauge("lockgate_review_backlog", kind="groundedness", status="approved") == 1
    assert m.gauge("lockgate_review_oldest_open_age_seconds", kind="groundedness") == 0
    rendered = m.render()
    assert 'lockgate_review_backlog{kind="guardrail",status="claimed"} 1' in rendered


def test_listing_filters_by_status_kind_and_age(world) -> None:
    queue, _, clock = world
    old = _answer(queue)
    clock.now += 3600
    new = _answer(queue, kind="guardrail", mode="deliver")
    assert [r.id for r in queue.find(ALICE)] == [old.id, new.id]  # oldest first
    assert [r.id for r in queue.find(ALICE, kind="guardrail")] == [new.id]
    assert [r.id for r in queue.find(ALICE, min_age_s=1800)] == [old.id]
    assert [r.id for r in queue.find(ALICE, max_age_s=1800)] == [new.id]
    queue.approve(ALICE, old.id)
    assert [r.id for r in queue.find(ALICE, "decided")] == [old.id]
    assert [r.id for r in queue.find(ALICE, None)] == [old.id, new.id]


def test_texts_are_sealed_at_rest(engine: Engine, world) -> None:
    queue, _, _ = world
    rec = _answer(queue, question=f"Where? {PLANTED}", answer=f"It is: {PLANTED}")
    queue.edit(ALICE, rec.id, f"Corrected: {PLANTED}")
    with engine.connect() as conn:
        rows = [
            json.dumps([str(v) for v in row])
            for table in ("review_items", "review_corrections")
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
        ]
    assert rows and not any("heron" in r for r in rows)
    assert all("lgenc1:" in r for r in rows)
    assert PLANTED in queue.get(ALICE, rec.id).question  # type: ignore[operator]


def test_old_escalations_become_open_guardrail_items(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with transaction(eng) as conn:
        conn.execute(
            text(
                "CREATE TABLE schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
        )
    for mig in available():
        if mig.version >= 14:
            break
        with transaction(eng) as conn:
            mig.upgrade(conn, "sqlite")
            conn.execute(
                text("INSERT INTO schema_migrations VALUES (:v, :n, 0)"),
                {"v": mig.version, "n": mig.name},
            )
    with transaction(eng) as conn:
        conn.execute(
            text(
                "INSERT INTO guard_escalations (created_at, trace_id, principal, tenant, "
                "direction, scanners, excerpt, status) VALUES "
                "(1700000000.5, 'tr-1', 'carol', 'acme', 'in', '[\"topic\"]', 'a lawsuit', 'open')"
            )
        )
    assert 14 in migrate(eng)
    queue = ReviewQueue(ReviewStore(eng), ReviewConfig())
    [item] = queue.find(ALICE)
    assert (item.kind, item.mode, item.status, item.principal) == (
        "guardrail",
        "deliver",
        "pending",
        "carol",
    )
    assert item.excerpt == "a lawsuit" and item.trace_id == "tr-1"
    assert item.reasons == [
        {"kind": "guardrail", "direction": "in", "scanners": ["topic"], "target": ""}
    ]
    assert item.created_at == 1700000000.5
    with eng.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    assert "guard_escalations" not in names
    eng.dispose()


def test_privacy_export_forget_and_retention_cover_reviews(engine: Engine, world) -> None:
    queue, _, clock = world
    mine = _answer(queue)
    queue.edit(ALICE, mine.id, "Refunds take 30 days.")
    theirs = _answer(queue, Principal("dan", "acme", ("app",)))
    privacy = PrivacyStore(engine, TraceStore(engine), queue.store)
    exported = privacy.export("carol")
    assert [r["id"] for r in exported["reviews"]] == [mine.id]
    assert exported["reviews"][0]["question"] == "How long is the refund window?"
    assert [c["corrected"] for c in exported["corrections"]] == ["Refunds take 30 days."]
    counts = privacy.forget("carol")
    assert counts["reviews"] == 1 and counts["corrections"] == 1
    assert privacy.export("carol")["reviews"] == []
    keep = Retention.days(
        traces=None, reviews=90, corrections=None, cache=None, batches=None, files=None
    )
    assert privacy.purge(keep, now=clock.now)["reviews"] == 0
    assert privacy.purge(keep, now=clock.now + 91 * 86400)["reviews"] == 1
    with pytest.raises(ReviewNotFound):
        queue.get(ALICE, theirs.id)
