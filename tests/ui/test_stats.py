"""The overview's numbers from a real SQLite traces table, bucket by bucket."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from lockgate.store.traces import TraceStore
from lockgate.ui.charts import line_chart
from lockgate.ui.stats import overview, percentile
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        found = make_engine(f"sqlite:///{tmp_path / 'stats.db'}")
        migrate(found)
        yield found
        found.dispose()
        return
    with throwaway_database("uistats") as found:
        migrate(found)
        yield found


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile(values, 99) == 99 and percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def _row(at: float, tenant: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": uuid.uuid4().hex, "created_at": at, "principal": "p", "tenant": tenant,
        "endpoint": "/v1/chat/completions", "stream": 0, "status": "ok", "http_status": 200,
        "degraded": 0, "latency_ms": 100.0, "tokens_in": 10, "tokens_out": 5, "cost": 0.01,
    }
    row.update(extra)
    return row


def test_buckets_totals_and_tenant_filter(engine: Engine) -> None:
    now = time.time()
    since = now - 3600
    traces = TraceStore(engine)
    traces.record(_row(since + 10, "acme", cache={"status": "hit"}, ttft_ms=40.0))
    traces.record(_row(since + 20, "acme", latency_ms=300.0, cache={"status": "miss"},
                       groundedness=0.5, route={"tier": "small"}))
    traces.record(_row(since + 1900, "acme", status="error", http_status=502,
                       guardrails=[{"findings": [{"scanner": "pii"}, {"scanner": "pii"}]}]))
    traces.record(_row(since + 1950, "globex"))  # another tenant
    data = overview(engine, since, now, 2, "acme")
    first, second = data["buckets"]
    assert (first["requests"], second["requests"]) == (2, 1)
    assert first["p50_ms"] == 100.0 and first["p99_ms"] == 300.0
    assert first["cache_hit_rate"] == 0.5 and first["ttft_p50_ms"] == 40.0
    assert first["unsupported_rate"] == 0.5 and first["error_rate"] == 0
    assert second["error_rate"] == 1.0 and second["findings"] == 2
    total = data["total"]
    assert total["requests"] == 3 and abs(total["cost_per_1k"] - 10.0) < 1e-9
    assert total["tokens"] == 45 and abs(total["rps"] - 3 / 3600) < 1e-12
    assert data["tiers"] == {"small": 1} and data["scanners"] == {"pii": 2}
    assert overview(engine, since, now, 2, None)["total"]["requests"] == 4


def test_line_chart_draws_gaps_and_a_target_without_style_attributes() -> None:
    svg = line_chart([0.0, 60.0, 120.0], {"a": [1.0, None, 3.0]}, target=2.0)
    assert svg.startswith("<svg") and "style=" not in svg and "<script" not in svg
    assert svg.count("<circle") == 2 and "<polyline" not in svg  # the gap splits the line
    assert "stroke-dasharray" in svg and "target 2" in svg
    assert "&lt;b&gt;" in line_chart([0.0, 1.0], {"<b>": [1.0, 2.0]})
