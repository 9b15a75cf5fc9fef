"""The counts /metrics reads from the store (batch queue, quarantine, sources), on SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert

from lockgate.batch.batches import BatchStore
from lockgate.store import tables as tb
from lockgate.store.db import make_engine, transaction
from lockgate.store.gauges import GaugeReads
from lockgate.store.migrations import migrate
from lockgate.store.sources import SourceStore
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'gauges.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("gauges") as engine:
        migrate(engine)
        yield engine


def test_an_empty_store_reports_zeros(db: Engine) -> None:
    reads = GaugeReads(db)
    items, batches = reads.batch_queue()
    assert items == {"pending": 0, "running": 0}
    assert set(batches) == {"validating", "in_progress", "cancelling", "finalizing"}
    assert sum(batches.values()) == 0
    assert reads.quarantined() == 0
    health = reads.sources()
    assert (health.total, health.failing, health.never_indexed) == (0, 0, 0)
    assert health.oldest_indexed_at is None


def test_queued_items_quarantine_and_source_health(db: Engine) -> None:
    store = BatchStore(db)
    body = {"model": "echo", "messages": []}
    store.create("f1", "/v1/chat/completions", "24h", None, "p", "t",
                 [("a", body), ("b", body), ("c", body)], None)
    store.create("f2", "/v1/chat/completions", "24h", None, "p", "t", None,
                 [{"code": "bad"}])  # failed at once: not queued work
    now = time.time()
    with transaction(db) as conn:
        conn.execute(insert(tb.quarantine).values(
            source="x.pdf", reason="corrupted", detail="", attempts=1, first_seen_at=now,
            last_attempt_at=now,
        ))
    sources = SourceStore(db)
    ok = sources.ensure("docs", "folder", "/docs", {})
    broken = sources.ensure("wiki", "web", "http://wiki", {})
    sources.ensure("new", "folder", "/new", {})
    sources.record_sync(ok, changed=True, indexed=True)
    sources.record_sync(broken, changed=False, indexed=False, error="down")
    reads = GaugeReads(db)
    items, batches = reads.batch_queue()
    assert items == {"pending": 3, "running": 0}
    assert batches["validating"] == 1 and sum(batches.values()) == 1
    assert reads.quarantined() == 1
    health = reads.sources()
    assert (health.total, health.failing, health.never_indexed) == (3, 1, 2)
    assert health.oldest_indexed_at is not None and abs(health.oldest_indexed_at - now) < 60
