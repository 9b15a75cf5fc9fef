"""What a drift window reads, on SQLite and PostgreSQL: only the tenant's (and app's) completed
turns of the grounded assistant inside [start, end), the best vector score and the
no-relevant-document flag of each turn that retrieved, the feedback given in the window, and
the questions decrypted from the sealed requests."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lockgate.crypto.envelope import Keyring
from lockgate.crypto.kms import LocalMasterKey
from lockgate.drift.windows import Window, WindowLoader, question_of, top_vector_score
from lockgate.store import tables as tb
from lockgate.store.data_keys import SqlDataKeyStore
from lockgate.store.db import make_engine
from lockgate.store.feedback import FeedbackRecord, FeedbackStore, new_feedback_id
from lockgate.store.migrations import migrate
from lockgate.store.traces import TraceStore
from tests.support.postgres import throwaway_database

WINDOW = Window(1000.0, 2000.0)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'windows.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("drift_windows") as engine:
        migrate(engine)
        yield engine


def _trace(at: float, question: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "created_at": at,
        "principal": "p",
        "tenant": "acme",
        "endpoint": "/v1/chat/completions",
        "model": "lockgate",
        "stream": 0,
        "status": "ok",
        "degraded": 0,
        "request": {"messages": [{"role": "user", "content": question}]},
        "retrieved": [{"chunk_id": "c1", "vector_score": 0.7}, {"chunk_id": "c2"}],
        "stages": [{"stage": "retrieve.embed", "ms": 1.0, "note": ""}],
        "refused": 0,
        "grounded": 1,
    }
    row.update(kw)
    return row


@pytest.fixture
def stores(db: Engine) -> tuple[TraceStore, FeedbackStore, WindowLoader]:
    cipher = Keyring(LocalMasterKey(secrets.token_bytes(32)), SqlDataKeyStore(db))
    return TraceStore(db, cipher), FeedbackStore(db, cipher), WindowLoader(db, cipher, 0.3, 500)


def test_a_window_holds_only_its_tenants_grounded_turns(
    stores: tuple[TraceStore, FeedbackStore, WindowLoader],
) -> None:
    traces, feedback, loader = stores
    traces.record(_trace(1000.0, "refund window?", app="shop"))  # start: inside
    traces.record(_trace(1500.0, "low score", retrieved=[{"chunk_id": "c", "vector_score": 0.1}]))
    traces.record(
        _trace(
            1600.0,
            "refused",
            refused=1,
            grounded=0,
            retrieved=[],
            stages=[
                {"stage": "retrieve.embed", "ms": 1.0, "note": ""},
                {"stage": "retrieve.refuse", "ms": 0.0, "note": "best similarity 0.250"},
            ],
        )
    )
    traces.record(_trace(1700.0, "cache hit, no retrieval", stages=[], grounded=0))
    # Outside: another tenant, another model, an error, before and at the end.
    traces.record(_trace(1500.0, "other tenant", tenant="globex"))
    traces.record(_trace(1500.0, "pass-through", model="gpt-large"))
    traces.record(_trace(1500.0, "failed", status="error"))
    traces.record(_trace(999.0, "too early"))
    traces.record(_trace(2000.0, "at the end: next window"))
    for tenant, rating, at in (("acme", 4, 1200.0), ("acme", 2, 1900.0), ("globex", 1, 1500.0)):
        feedback.add(
            FeedbackRecord(new_feedback_id(), tenant, "u", "t" * 32, rating, created_at=at)
        )
    feedback.add(FeedbackRecord(new_feedback_id(), "acme", "u", "t" * 32, 5, created_at=2500.0))

    data = loader.load("acme", WINDOW)
    assert data.turns == 4
    assert sorted(data.questions) == sorted(
        ["refund window?", "low score", "refused", "cache hit, no retrieval"]
    )
    assert data.refused.count(True) == 1 and len(data.refused) == 4
    assert sorted(data.grounded) == [False, True, True]  # the refused turn is not counted
    # Three turns retrieved; the cache hit did not.
    assert sorted(data.top_scores) == [-1.0, 0.1, 0.7]
    assert sorted(data.no_relevant) == [False, True, True]
    assert sorted(data.feedback) == [2, 4]

    shop = loader.load("acme", WINDOW, app="shop")
    assert shop.questions == ["refund window?"] and shop.feedback == []
    assert loader.load("nobody", WINDOW).turns == 0
    assert loader.tenants(WINDOW) == ["acme", "globex"]
    assert loader.apps("acme", WINDOW) == ["shop"]


def test_questions_are_read_from_the_sealed_request(
    db: Engine, stores: tuple[TraceStore, FeedbackStore, WindowLoader]
) -> None:
    traces, _, loader = stores
    traces.record(_trace(1500.0, "what is the refund window for annual plans?"))
    with db.connect() as conn:
        stored = conn.execute(select(tb.traces.c.request)).scalar_one()
    assert "refund window" not in stored  # sealed at rest
    assert loader.load("acme", WINDOW).questions == ["what is the refund window for annual plans?"]
    assert loader.load("acme", WINDOW, questions=False).questions == []


def test_question_of_takes_the_last_user_message() -> None:
    convo = {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "x"}]},
            {"role": "user", "content": "   "},
        ]
    }
    assert question_of(convo) == "second"
    assert question_of({"messages": [{"role": "system", "content": "x"}]}) is None
    assert question_of("not a request") is None


def test_top_vector_score_ignores_chunks_found_by_bm25_only() -> None:
    assert top_vector_score([{"vector_score": 0.2}, {"vector_score": None}, {"x": 1}]) == 0.2
    assert top_vector_score([{"bm25_score": 3.0}]) is None
    assert top_vector_score(None) is None


def test_a_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after"):
        Window(5.0, 5.0)
