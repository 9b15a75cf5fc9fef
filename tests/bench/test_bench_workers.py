"""The ceiling arithmetic of bench/bench_workers.py: two processes are bounded by the cores
(2000 ms/s over every component's CPU-ms per request) or by the load (the upstream alone
under the same wrk), whichever is lower, and the ratio limit is that over one process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_workers as bw  # noqa: E402


def _run(case: str, workers: int, conns: int, rps: float, **ms: float) -> dict[str, Any]:
    return {
        "case": case,
        "workers": workers,
        "conns": conns,
        "rps": rps,
        "cpu_ms_per_request": ms,
        "other_jobs_cores": 0.5,
    }


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bw, "CORES", 2)


def test_cores_bound_the_ratio_when_the_load_allows_more() -> None:
    results = [
        _run("upstream direct", 0, 128, 2400.0, upstream=0.05, wrk=0.02),
        _run("p", 1, 128, 500.0, **{"gateway w1": 1.2, "upstream": 0.1, "wrk": 0.05}),
        _run(
            "p",
            2,
            128,
            800.0,
            **{
                "gateway supervisor": 0.0,
                "gateway w1": 0.7,
                "gateway w2": 0.6,
                "upstream": 0.1,
                "wrk": 0.1,
            },
        ),
    ]
    (row,) = bw.ceilings(results, 1, 2)
    assert row["limited_by"] == "cores"
    assert row["cpu_ceiling_rps"] == pytest.approx(2000 / 1.5, abs=0.1)
    assert row["ratio_limit"] == pytest.approx(2000 / 1.5 / 500, abs=0.01)
    assert row["measured_ratio"] == 1.6
    assert row["share_of_limit"] == pytest.approx(1.6 / (2000 / 1.5 / 500), abs=0.01)
    # Other jobs took half a core: 1.5 cores left for this run.
    assert row["free_ratio_limit"] == pytest.approx(1500 / 1.5 / 500, abs=0.01)


def test_the_load_bounds_the_ratio_when_the_upstream_alone_is_lower() -> None:
    results = [
        _run("upstream direct", 0, 64, 1200.0, upstream=0.05, wrk=0.02),
        _run("p", 1, 64, 800.0, **{"gateway w1": 0.5, "upstream": 0.05, "wrk": 0.05}),
        _run(
            "p",
            2,
            64,
            1100.0,
            **{"gateway w1": 0.3, "gateway w2": 0.3, "upstream": 0.05, "wrk": 0.05},
        ),
    ]
    (row,) = bw.ceilings(results, 1, 2)
    assert row["limited_by"] == "load"
    assert row["ceiling_rps"] == 1200.0
    assert row["ratio_limit"] == 1.5  # 1.7x is impossible here by arithmetic


def test_database_servers_count_towards_the_cores() -> None:
    run = _run(
        "s",
        2,
        64,
        1.0,
        **{"gateway w1": 1.0, "upstream": 0.1, "wrk": 0.1, "postgres": 0.2, "redis": 0.1},
    )
    assert bw.component_ms(run) == pytest.approx(1.5)
    assert bw.gateway_ms(run) == pytest.approx(1.0)


def test_no_two_process_run_no_ceiling() -> None:
    results = [_run("p", 1, 64, 800.0, **{"gateway w1": 0.5, "upstream": 0.05, "wrk": 0.05})]
    assert bw.ceilings(results, 1, 2) == []
