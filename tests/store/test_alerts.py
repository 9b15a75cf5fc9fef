"""The alert history and the metric reads behind the alert rules, on SQLite and PostgreSQL:
latest state per rule and subject, the last firing, newest-first lists, and error rate / p95
/ staleness / quarantine / backlog over real rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, insert

from lockgate.store import tables as tb
from lockgate.store.alerts import AlertRecord, AlertStore
from lockgate.store.db import make_engine, transaction
from lockgate.store.migrations import migrate
from lockgate.store.signals import AlertSignals
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("alerts") as engine:
        migrate(engine)
        yield engine


def alert(rule: str, subject: str, state: str, at: float) -> AlertRecord:
    return AlertRecord(rule=rule, kind="error_rate", subject=subject, state=state,
                       severity="warning", message=f"{rule} {state}", value=0.2,
                       threshold=0.1, detail={"samples": 30}, created_at=at)


def test_history_state_and_lists(db: Engine) -> None:
    store = AlertStore(db)
    assert store.last("errors", "") is None and store.recent() == []
    first = store.record(alert("errors", "", "firing", 100.0))
    store.record(alert("errors", "", "resolved", 200.0))
    store.record(alert("breaker", "m#0", "firing", 150.0))
    last = store.last("errors", "")
    assert last is not None and last.state == "resolved"
    fired = store.last_fired("errors", "")
    assert fired is not None and fired.id == first.id and fired.created_at == 100.0
    assert fired.detail == {"samples": 30}
    assert [a.created_at for a in store.recent()] == [200.0, 150.0, 100.0]
    assert [a.rule for a in store.recent(state="firing", limit=1)] == ["breaker"]
    assert [(a.rule, a.subject) for a in store.firing()] == [("breaker", "m#0")]
    store.set_deliveries(first.id, [{"webhook": "ops", "delivered": True}])
    again = store.last_fired("errors", "")
    assert again is not None and again.deliveries == [{"webhook": "ops", "delivered": True}]


def _trace(conn, at: float, latency: float, http_status: int = 200, degraded: int = 0) -> None:
    conn.execute(insert(tb.traces).values(
        id=uuid.uuid4().hex, created_at=at, principal="p", tenant="t",
        endpoint="/v1/chat/completions", stream=0, status="ok" if http_status < 400 else "error",
        http_status=http_status, latency_ms=latency, degraded=degraded,
    ))


def test_window_reads(db: Engine) -> None:
    now = time.time()
    with transaction(db) as conn:
        for i in range(18):
            _trace(conn, now - 10, latency=100.0 + i)
        _trace(conn, now - 10, latency=900.0, http_status=502)
        _trace(conn, now - 10, latency=950.0, degraded=1)
        _trace(conn, now - 3600, latency=5000.0, http_status=500)  # outside the window
        conn.execute(insert(tb.quarantine).values(
            source="/a.pdf", reason="parse_error", detail="x", attempts=1,
            first_seen_at=now - 10, last_attempt_at=now - 10))
        conn.execute(insert(tb.quarantine).values(
            source="/b.pdf", reason="parse_error", detail="x", attempts=1,
            first_seen_at=now - 7200, last_attempt_at=now - 10))
    signals = AlertSignals(db)
    rate = signals.error_rate(now - 60, now)
    assert rate.samples == 20 and rate.value == pytest.approx(0.1)
    p95 = signals.p95_latency_ms(now - 60, now)
    assert p95.samples == 20 and p95.value == 900.0  # nearest rank 19 of 20
    assert signals.error_rate(now - 5, now).value is None
    assert signals.quarantined_since(now - 60) == 1 and signals.quarantined() == 2
    assert signals.review_backlog() == 0
    assert signals.stale_documents(date(2030, 1, 1)) == 0


def _document(conn, source: str, review_by: str | None, status: str = "active") -> None:
    now = time.time()
    doc_id = conn.execute(insert(tb.documents).values(
        source=source, tenant="t", acl="[]", owner="o", status=status, created_at=now,
        updated_at=now, last_seen_at=now)).inserted_primary_key[0]
    version_id = conn.execute(insert(tb.document_versions).values(
        document_id=doc_id, version=1, content_hash=source, size=1, mtime=now,
        format="markdown", parser="md", parser_version="1", chunk_count=1, status="active",
        created_at=now, dates="[]", review_by=review_by)).inserted_primary_key[0]
    conn.execute(tb.documents.update().where(tb.documents.c.id == doc_id)
                 .values(current_version_id=version_id))


def test_stale_documents_are_active_ones_past_their_review_date(db: Engine) -> None:
    with transaction(db) as conn:
        _document(conn, "/old.md", "2026-01-31")
        _document(conn, "/current.md", "2026-12-31")
        _document(conn, "/undated.md", None)
        _document(conn, "/retired.md", "2020-01-01", status="retired")
    signals = AlertSignals(db)
    assert signals.stale_documents(date(2026, 6, 1)) == 1
    assert signals.stale_documents(date(2027, 1, 1)) == 2
    assert signals.stale_documents(date(2025, 1, 1)) == 0
