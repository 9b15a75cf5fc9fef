"""The monitor's judgement on window statistics (each bound, the minimum data), and the
active-release cache seeing another process's change within its TTL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from lockgate.config import ReleasesConfig
from lockgate.releases.active import ActiveReleases
from lockgate.releases.model import Release
from lockgate.releases.monitor import compare
from lockgate.store.db import make_engine
from lockgate.store.releases import ReleaseStore, Transition, WindowStats
from tests.support.store import migrated_engine

CFG = ReleasesConfig(min_requests=20, min_feedback=10, min_grounded=10)


def _s(
    n: int = 100,
    errors: int = 0,
    cost: float = 1.0,
    p95: float = 100.0,
    rated: int = 0,
    negative: int = 0,
    grounded: int = 0,
    g: float = 0.0,
) -> WindowStats:
    return WindowStats(n, errors, cost, grounded, g * grounded, p95, rated, negative)


@pytest.mark.parametrize(
    ("cand", "breached"),
    [
        (_s(errors=6), []),  # 6% against 1%: exactly +5 points is allowed
        (_s(errors=7), ["error_rate"]),
        (_s(cost=1.5), []),
        (_s(cost=1.6), ["cost_per_request"]),
        (_s(p95=150.0), []),
        (_s(p95=160.0), ["p95_latency_ms"]),
        (_s(rated=20, negative=6), []),  # 30% against 20%
        (_s(rated=20, negative=7), ["negative_feedback_rate"]),
        (_s(grounded=20, g=0.7), []),
        (_s(grounded=20, g=0.69), ["groundedness"]),
        (_s(errors=50, cost=3.0), ["error_rate", "cost_per_request"]),
    ],
)
def test_each_bound_relative_to_the_baseline(cand: WindowStats, breached: list[str]) -> None:
    base = _s(errors=1, rated=20, negative=4, grounded=20, g=0.8)
    judged, waiting, breaches = compare(cand, base, CFG)
    assert [b.metric for b in breaches] == breached
    assert all(b.candidate > b.limit or b.metric == "groundedness" for b in breaches)


def test_nothing_is_judged_without_enough_data_on_both_sides() -> None:
    judged, waiting, breaches = compare(_s(n=19, errors=19), _s(n=100), CFG)
    assert breaches == [] and "error_rate" in waiting and "error_rate" not in judged
    judged, waiting, breaches = compare(_s(n=100, errors=100), _s(n=5), CFG)
    assert breaches == []
    # Feedback and groundedness wait for their own minimum.
    judged, waiting, _ = compare(_s(rated=9, negative=9), _s(rated=50), CFG)
    assert "negative_feedback_rate" in waiting and "error_rate" in judged


def test_slow_but_fast_answers_do_not_flap() -> None:
    # Twice as slow, but only by 4 ms: under the absolute slack, not a breach.
    _, _, breaches = compare(_s(p95=8.0), _s(p95=4.0), CFG)
    assert breaches == []
    _, _, breaches = compare(_s(p95=80.0), _s(p95=4.0), CFG)
    assert [b.metric for b in breaches] == ["p95_latency_ms"]


def test_a_free_baseline_leaves_cost_unjudged() -> None:
    judged, _, breaches = compare(_s(cost=5.0), _s(cost=0.0), CFG)
    assert "cost_per_request" not in judged and breaches == []


def test_another_process_change_is_seen_within_the_ttl(tmp_path: Path) -> None:
    with migrated_engine(tmp_path, "a.db") as gateway:
        # Another process: an engine of its own on the same store.
        cli = make_engine(gateway.url.render_as_string(hide_password=False))
        try:
            # A TTL well above the two writes below, which take ~0.3 s on a loaded PostgreSQL.
            active = ActiveReleases(ReleaseStore(gateway), ttl_s=2.0)
            assert asyncio.run(active.get()).current is None
            other = ReleaseStore(cli)
            other.create(Release("r1", model="m", created_by="ops"))
            other.apply(Transition("r1", "draft", "full"), "ops")
            assert asyncio.run(active.get()).current is None  # still the cached read
            time.sleep(2.05)
            found = asyncio.run(active.get()).current
            assert found is not None and found.name == "r1"
        finally:
            cli.dispose()
