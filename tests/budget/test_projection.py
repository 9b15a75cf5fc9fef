"""The cost projection's arithmetic on seeded traces, checked against numbers worked out by
hand (docs/costs.md), on SQLite and PostgreSQL; and `lockgate cost project` in text, JSON
and on bad input."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from lockgate.budget.projection import (
    CACHE_LINE,
    NoTraffic,
    parse_growth,
    project_from,
    projected_peak_rps,
)
from lockgate.cli import main
from lockgate.config import Settings
from lockgate.services import Services
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from lockgate.store.traces import TraceStore
from tests.support.postgres import throwaway_database

DAY1 = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
DAY2 = DAY1 + 86400
H = 3600.0

MODELS = {
    "small": {"backend": "mock", "price_input_per_1k": 0.1, "price_output_per_1k": 0.2},
    "big": {"backend": "mock", "price_input_per_1k": 1.0, "price_output_per_1k": 2.0},
}
COSTS = {"human_cost_per_task_usd": 5.0, "minutes_saved_per_task": 6, "tasks_per_request": 0.5}


def _route(model: str) -> dict[str, object]:
    return {
        "model": model,
        "tier": "small" if model == "small" else "large",
        "small": "small",
        "large": "big",
        "reasons": [],
    }


# (when, principal, billed model, tokens in, tokens out, cost, routed, cache hit)
SEED = [
    (DAY1 + 10 * H, "u1", "small", 1000, 500, 0.2, True, False),
    (DAY1 + 10 * H + 60, "u1", "small", 1000, 500, 0.2, True, False),
    (DAY1 + 10 * H + 120, "u1", "big", 1000, 500, 2.0, True, False),
    (DAY1 + 10 * H + 180, "u2", None, 0, 0, 0.0, False, True),
    (DAY1 + 11 * H, "u2", None, 0, 0, 0.0, False, True),
    (DAY2 + 9 * H, "u1", "small", 2000, 1000, 0.4, True, False),
    (DAY2 + 10 * H, "u1", "big", 500, 250, 1.0, False, False),
    (DAY2 + 11 * H, "u2", "small", 1000, 500, 0.2, True, False),
]


def _settings(home: Path) -> Settings:
    return Settings(home=home, models=MODELS, costs=COSTS)  # type: ignore[arg-type]


def seed(engine: Engine) -> None:
    traces = TraceStore(engine)
    for when, who, model, tin, tout, cost, routed, hit in SEED:
        traces.record(
            {
                "id": uuid.uuid4().hex,
                "created_at": when,
                "principal": who,
                "tenant": "acme",
                "endpoint": "/v1/chat/completions",
                "model": "lockgate",
                "backend": f"mock:{model}" if model else None,
                "stream": 0,
                "status": "ok",
                "degraded": 0,
                "tokens_in": tin,
                "tokens_out": tout,
                "cost": cost,
                "cache": {"status": "hit" if hit else "miss"},
                "route": _route(model) if routed else None,
            }
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
        migrate(engine)
        seed(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("projection") as engine:
        migrate(engine)
        seed(engine)
        yield engine


def test_the_observed_traffic(db: Engine, tmp_path: Path) -> None:
    p = project_from(db, _settings(tmp_path), users=100)
    o = p.observed
    assert (o.requests, o.users, o.days) == (8, 2, 2)
    assert o.requests_per_user_per_day == 2.0  # 8 / 2 users / 2 days
    assert o.cost == pytest.approx(4.0)
    assert o.cache_hit_rate == 0.25
    assert o.routed_share_small == 0.8  # 4 of the 5 routed requests
    assert o.busiest_hour_requests == 4
    assert o.model_share == {CACHE_LINE: 0.25, "big": 0.25, "small": 0.5}


def test_the_monthly_cost_with_and_without_cache_and_router(db: Engine, tmp_path: Path) -> None:
    p = project_from(db, _settings(tmp_path), users=100)
    [s] = p.scenarios
    # 100 users x 2 requests a day x 30 days; every observed sum x 6000 / 8 = 750.
    assert s.monthly_requests == 6000
    main = s.variant("cache+router")
    lines = {m.model: m for m in main.by_model}
    assert lines["small"].requests == 3000 and lines["small"].cost == pytest.approx(750)
    assert lines["small"].tokens_in == 5000 * 750 and lines["small"].tokens_out == 2500 * 750
    assert lines["big"].requests == 1500 and lines["big"].cost == pytest.approx(2250)
    assert lines[CACHE_LINE].requests == 1500 and lines[CACHE_LINE].cost == 0
    assert main.total == pytest.approx(3000)
    # No cache: the 2 hits are paid like the 6 calls, so the paid sums x 8/6 (x 1000).
    assert s.variant("router only").total == pytest.approx(4000)
    # No router: the 4 small requests at the big model's prices (2 + 2 + 4 + 2), plus 3.
    no_router = s.variant("cache only")
    assert no_router.total == pytest.approx(13 * 750)
    assert {m.model for m in no_router.by_model} == {"big", CACHE_LINE}
    assert s.variant("neither").total == pytest.approx(13 * 1000)
    assert s.cache_saving == pytest.approx(1000) and s.router_saving == pytest.approx(6750)
    assert s.average_rps == pytest.approx(200 / 86400, abs=1e-6)
    assert s.peak_rps == pytest.approx(4 / 3600 * 50, abs=1e-6)  # busiest hour x 100/2 users


def test_roi_and_growth(db: Engine, tmp_path: Path) -> None:
    p = project_from(db, _settings(tmp_path), users=100, growth=10)
    base, grown = p.scenarios
    assert base.roi is not None
    # 6000 requests x 0.5 tasks each, at 5.00 a task and 6 minutes saved per task.
    assert base.roi.tasks == 3000 and base.roi.human_cost == 15000
    assert base.roi.model_cost == pytest.approx(3000) and base.roi.net_saving == pytest.approx(
        12000
    )
    assert base.roi.roi == pytest.approx(4.0) and base.roi.hours_saved == 300
    assert grown.users == 1000 and grown.monthly_requests == 60000
    assert grown.variant("cache+router").total == pytest.approx(30000)
    unpriced = project_from(db, Settings(home=tmp_path, models=MODELS), users=100)  # type: ignore[arg-type]
    assert unpriced.scenarios[0].roi is None
    assert any("human_cost_per_task_usd" in n for n in unpriced.notes)


def test_the_window_and_bad_input(db: Engine, tmp_path: Path) -> None:
    # Only the second day: 3 requests, 2 users, 1 day.
    p = project_from(db, _settings(tmp_path), users=2, since=DAY2)
    assert p.observed.requests == 3 and p.observed.requests_per_user_per_day == 1.5
    with pytest.raises(NoTraffic):
        project_from(db, _settings(tmp_path), users=2, since=DAY2 + 86400)
    for users, growth in ((0, 1.0), (5, 0.0), (5, float("nan"))):
        with pytest.raises(ValueError):
            project_from(db, _settings(tmp_path), users=users, growth=growth)


def test_parse_growth() -> None:
    assert parse_growth("10x") == 10 and parse_growth("1.5X") == 1.5 and parse_growth("3") == 3
    for bad in ("", "x", "ten", "-2x", "0", "inf"):
        with pytest.raises(ValueError):
            parse_growth(bad)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    config = {"home": str(home), "models": MODELS, "costs": COSTS}
    (tmp_path / "lockgate.yaml").write_text(yaml.safe_dump(config))
    seed(Services(_settings(home)).engine)
    return home


def run(tmp_path: Path, *args: str) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    config = str(tmp_path / "lockgate.yaml")
    return CliRunner().invoke(main, ["--config", config, *args], env=env, catch_exceptions=False)


def test_the_command(home: Path, tmp_path: Path) -> None:
    res = run(tmp_path, "cost", "project", "--users", "100", "--growth", "10x", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["users"] == 100 and data["growth"] == 10
    assert [s["users"] for s in data["scenarios"]] == [100, 1000]
    totals = {v["name"]: v["total"] for v in data["scenarios"][0]["variants"]}
    assert totals == pytest.approx(
        {"cache+router": 3000, "router only": 4000, "cache only": 9750, "neither": 13000}
    )
    text = run(tmp_path, "cost", "project", "--users", "100")
    assert text.exit_code == 0, text.output
    assert "at 100 users: 6,000 requests/month" in text.output
    assert "cache+router 3,000.00" in text.output and "neither 13,000.00" in text.output
    assert "the cache saves 1,000.00, the router 6,750.00" in text.output
    assert "net 12,000.00 (return 4.0x), 300 hours saved" in text.output


@pytest.mark.parametrize(
    "args",
    [
        ["--users", "0"],
        ["--users", "ten"],
        ["--users", "5", "--growth", "lots"],
        ["--users", "5", "--growth", "-1x"],
        ["--users", "5", "--days", "0"],
        [],
    ],
)
def test_bad_input_is_exit_2(home: Path, tmp_path: Path, args: list[str]) -> None:
    res = run(tmp_path, "cost", "project", *args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "Error" in res.output


def test_no_traffic_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "lockgate.yaml").write_text(yaml.safe_dump({"home": str(tmp_path / "h")}))
    res = run(tmp_path, "cost", "project", "--users", "5")
    assert res.exit_code == 1 and "no traces" in res.output


def test_the_peak_a_load_test_is_measured_against(tmp_path: Path) -> None:
    services = Services(_settings(tmp_path / "home"))
    assert projected_peak_rps(services) is None  # nothing seen yet
    seed(services.engine)
    assert projected_peak_rps(services) == pytest.approx(4 / 3600)  # the users seen: 2
    sized = Settings(home=tmp_path / "home", models=MODELS, costs={**COSTS, "expected_users": 20})  # type: ignore[arg-type]
    assert projected_peak_rps(Services(sized)) == pytest.approx(4 / 3600 * 10)
