"""Load test runs on SQLite and PostgreSQL: a run is kept whole and `latest()` is the newest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from lockgate.store.db import make_engine
from lockgate.store.loadtests import LoadtestRecord, LoadtestStore
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'lt.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("loadtests") as engine:
        migrate(engine)
        yield engine


def _report(rps: float, **kw: object) -> dict[str, object]:
    report: dict[str, object] = {
        "url": "http://10.0.0.5:8080",
        "scenario": "gold set questions",
        "rps_target": rps,
        "rps_achieved": rps * 0.99,
        "duration": 60.0,
        "requests": int(rps * 60),
        "latency_ms": {"p50": 120.5, "p95": 480.25, "p99": 910.0, "max": 1500.0},
        "ttft_ms": {"p50": 80.125, "p95": 300.0, "p99": 500.0},
        "error_rate": 0.0125,
        "errors": {"502": 3},
        "cost": 1.23456789,
        "generator_cpu": 0.21,
        "projected_peak_rps": 2.5,
        "projected_load_multiple": round(rps * 0.99 / 2.5, 3),
    }
    report.update(kw)
    return report


def test_runs_are_kept_and_the_latest_is_the_newest(db: Engine) -> None:
    store = LoadtestStore(db)
    assert store.latest() is None
    first = LoadtestRecord.of_report(_report(5.0))
    first.created_at = 1_800_000_000.0
    store.add(first)
    second = LoadtestRecord.of_report(_report(7.5, cost=None, projected_load_multiple=None))
    second.created_at = 1_800_000_100.0
    store.add(second)
    latest = store.latest()
    assert latest is not None and latest.id == second.id
    assert latest.rps_target == 7.5 and latest.rps_achieved == pytest.approx(7.425)
    assert latest.cost is None and latest.projected_load_multiple is None
    old = store.recent()[1]
    assert old.id == first.id and old.created_at == 1_800_000_000.0
    assert (old.p50, old.p95, old.p99, old.ttft_p50) == (120.5, 480.25, 910.0, 80.125)
    assert old.error_rate == 0.0125 and old.cost == pytest.approx(1.23456789)
    assert old.duration == 60.0 and old.requests == 300 and old.url == "http://10.0.0.5:8080"
    assert old.projected_load_multiple == pytest.approx(1.98)
    assert old.report["errors"] == {"502": 3} and old.report["latency_ms"]["max"] == 1500.0
