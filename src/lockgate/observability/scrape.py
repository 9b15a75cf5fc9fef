"""Gauges set when /metrics is scraped: document freshness, quarantine, the batch queue (from
the store, shared by every process) and the upstream queues (this process's). Each group is
read on its own, so a failing read leaves the others and the counters servable."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from lockgate.observability.metrics import METRICS, Metrics
from lockgate.store.gauges import GaugeReads
from lockgate.store.quality import QualityStore

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.metrics")


def publish_gauges(services: Services, metrics: Metrics = METRICS) -> None:
    reads = GaugeReads(services.engine)
    steps: dict[str, Callable[[], None]] = {
        "document freshness": lambda: _freshness(QualityStore(services.engine), metrics),
        "quarantine": lambda: metrics.set("lockgate_documents_quarantined", reads.quarantined()),
        "sources": lambda: _sources(reads, metrics),
        "batch queue": lambda: _batches(reads, metrics),
        "upstream queues": lambda: _upstreams(services, metrics),
    }
    for what, step in steps.items():
        try:
            step()
        except Exception:  # noqa: BLE001 - the other gauges are still worth serving
            log.exception("could not read %s for /metrics", what)


def _freshness(quality: QualityStore, metrics: Metrics, today: date | None = None) -> None:
    rows = quality.stale(today)
    overdue = [r["review_by"] for r in rows if any("overdue" in x for x in r["reasons"])]
    superseded = sum(1 for r in rows if r["superseded_by"])
    metrics.set("lockgate_documents_stale", len(overdue), reason="review_overdue")
    metrics.set("lockgate_documents_stale", superseded, reason="superseded")
    age = 0.0
    if overdue:
        since = datetime.combine(date.fromisoformat(min(overdue)[:10]), datetime.min.time())
        age = max(0.0, time.time() - since.replace(tzinfo=UTC).timestamp())
    metrics.set("lockgate_documents_stale_oldest_age_seconds", age)


def _sources(reads: GaugeReads, metrics: Metrics) -> None:
    health = reads.sources()
    metrics.set("lockgate_sources", health.total - health.failing, health="ok")
    metrics.set("lockgate_sources", health.failing, health="failing")
    metrics.set("lockgate_sources", health.never_indexed, health="never_indexed")
    oldest = health.oldest_indexed_at
    age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
    metrics.set("lockgate_sources_oldest_index_age_seconds", age)


def _batches(reads: GaugeReads, metrics: Metrics) -> None:
    items, batches = reads.batch_queue()
    for status, n in items.items():
        metrics.set("lockgate_batch_queue_items", n, status=status)
    for status, n in batches.items():
        metrics.set("lockgate_batch_queue_batches", n, status=status)


def _upstreams(services: Services, metrics: Metrics) -> None:
    for pool in services.models.pools():
        metrics.set("lockgate_upstream_queue_depth", pool.waiting, model=pool.name)
        for dep in pool.deployments:
            metrics.set("lockgate_upstream_in_flight", dep.in_flight, deployment=dep.key)
