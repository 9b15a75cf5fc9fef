"""Budgets: the reservation ledger (reserve the maximum, settle to the actual cost, release on
failure), soft alerts, hard refusals before the upstream, and no overspend under 200
concurrent requests against a real fake upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from lockgate.budget.ledger import BudgetExceeded, Budgets, SqlBudgetStore, caps_for
from lockgate.cli import main
from lockgate.config import BudgetsConfig
from lockgate.gateway.app import create_app
from lockgate.observability.metrics import METRICS
from lockgate.services import Services
from tests.budget.test_limits import gateway_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve
from tests.support.store import migrated_engine


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Budgets]:
    rules = [
        {"scope": "key", "period": "day", "hard": 1.0, "soft": 0.5},
        {"scope": "project", "id": "p1", "period": "month", "hard": 10.0},
    ]
    with migrated_engine(tmp_path, "b.db") as engine:
        yield Budgets(BudgetsConfig(rules=rules, reservation_ttl_s=60), SqlBudgetStore(engine))


def usage(b: Budgets, scope: str) -> dict[str, Any]:
    return next(u for u in b.store.usage() if u["scope"] == scope and u["period"].startswith("day"))


def test_reserve_settle_release(ledger: Budgets) -> None:
    now = 1_750_000_000.0
    held = ledger.reserve("alice", "t", "p1", 0.6, now=now)
    assert held is not None and len(held.caps) == 2
    with pytest.raises(BudgetExceeded) as exc:
        ledger.reserve("alice", "t", "p1", 0.6, now=now)  # 0.6 held + 0.6 > 1.0
    assert "not sent to the model" in str(exc.value)
    assert ledger.reserve("bob", "t", "p1", 0.6, now=now) is not None  # per key
    ledger.settle(held, 0.1, now=now)  # actual cost far below the maximum
    row = usage(ledger, "key:alice")
    assert row["spent"] == pytest.approx(0.1) and row["reserved"] == pytest.approx(0.0)
    released = ledger.reserve("alice", "t", "p1", 0.6, now=now)
    assert released is not None
    ledger.settle(released, 0.0, now=now)  # failure before the upstream billed anything
    assert usage(ledger, "key:alice")["spent"] == pytest.approx(0.1)


def test_soft_threshold_alerts_once(ledger: Budgets) -> None:
    now = 1_750_000_000.0
    before = METRICS.counter("lockgate_budget_alerts_total", kind="soft", scope="key")
    alerts = []
    for _ in range(4):
        held = ledger.reserve("carol", "t", "x", 0.2, now=now)
        assert held is not None
        alerts += ledger.settle(held, 0.2, now=now).alerts
    assert [a.scope for a in alerts] == ["key:carol"]  # crossed 0.5 at 0.6, alerted once
    events = ledger.store.events()
    assert events[0]["kind"] == "soft" and events[0]["scope"] == "key:carol"
    assert METRICS.counter("lockgate_budget_alerts_total", kind="soft", scope="key") == before + 1


def test_unsettled_reservation_expires(ledger: Budgets) -> None:
    now = 1_750_000_000.0
    assert ledger.reserve("dave", "t", "x", 0.9, now=now) is not None  # process "dies"
    with pytest.raises(BudgetExceeded):
        ledger.reserve("dave", "t", "x", 0.9, now=now + 30)
    assert ledger.reserve("dave", "t", "x", 0.9, now=now + 61) is not None  # TTL passed


def test_periods_roll_over() -> None:
    rules = BudgetsConfig(rules=[{"scope": "tenant", "period": "month", "hard": 1}]).rules
    jan = caps_for(rules, "k", "acme", "p", 1_735_700_000.0)  # 2025-01-01
    feb = caps_for(rules, "k", "acme", "p", 1_738_400_000.0)  # 2025-02-01
    assert jan[0].scope == "tenant:acme" and jan[0].period == "month:2025-01"
    assert feb[0].period == "month:2025-02"


@pytest.fixture
def upstream() -> Iterator[tuple[str, Any]]:
    app = create_fake_upstream()
    with serve(app) as base:
        yield base + "/v1", app


HARD = 0.5


def budget_services(tmp_path: Path, base: str, **budget: Any) -> Services:
    rules = [{"scope": "key", "period": "day", "hard": HARD, "soft": HARD / 2, **budget}]
    return Services(gateway_settings(tmp_path, base, budgets={"rules": rules}))


def test_hard_ceiling_refuses_before_upstream(tmp_path: Path, upstream: Any) -> None:
    base, app = upstream
    services = budget_services(tmp_path, base)
    body = {"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 500}
    with (
        serve(create_app(services, preload_models=False)) as url,
        httpx.Client(base_url=url, timeout=10, headers={"x-lockgate-caller": "eve"}) as client,
    ):
        # max cost = 500 output tokens * 1.5 / 1000 = 0.75 > 0.5: refused outright
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 429
        err = r.json()["error"]
        assert err["code"] == "budget_exceeded" and err["type"] == "insufficient_quota"
        assert "key:eve" in err["message"] and "daily" in err["message"]
        assert r.headers["x-should-retry"] == "false" and int(r.headers["retry-after"]) >= 1
        assert app.state.calls == []
        ok = client.post("/v1/chat/completions", json={**body, "max_tokens": 50})
        assert ok.status_code == 200 and len(app.state.calls) == 1
        # A failing upstream releases the hold: the budget is untouched afterwards.
        bad = client.post(
            "/v1/chat/completions", json={**body, "model": "fail-500", "max_tokens": 50}
        )
        assert bad.status_code == 502
        # A stream settles when it ends (the finalizer runs after the last event).
        with client.stream(
            "POST",
            "/v1/chat/completions",
            json={
                **body,
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": "stream me"}],
            },
        ) as streamed:
            assert streamed.status_code == 200
            assert "[DONE]" in "".join(streamed.iter_text())
    row = next(u for u in services.budgets.store.usage() if u["scope"] == "key:eve")
    assert row["reserved"] == pytest.approx(0.0)
    costs = [services.traces.get(r.headers["x-lockgate-trace-id"])["cost"] for r in (ok, streamed)]
    assert all(c > 0 for c in costs)
    assert row["spent"] == pytest.approx(sum(costs)) and row["requests"] == 3


def test_200_concurrent_requests_never_overspend(tmp_path: Path, upstream: Any) -> None:
    base, app = upstream
    services = budget_services(tmp_path, base)
    # All 200 must reach the budget check: admission would shed most of them with 503s.
    services.settings.server = services.settings.server.model_copy(
        update={"max_inflight": 1000, "queue_wait_s": 30.0}
    )
    max_tokens = 64

    async def run(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

            async def one(i: int) -> httpx.Response:
                return await client.post(
                    "/v1/chat/completions",
                    json={
                        "model": "echo",
                        "messages": [{"role": "user", "content": f"question number {i} " * 3}],
                        "max_tokens": max_tokens,
                    },
                    headers={"x-lockgate-caller": "load"},
                )

            return await asyncio.gather(*(one(i) for i in range(200)))

    with serve(create_app(services, preload_models=False)) as url:
        responses = asyncio.run(run(url))
    codes = [r.status_code for r in responses]
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(ok) + len(refused) == 200, set(codes)
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in refused)
    assert ok and refused  # the ceiling was reached under load
    row = next(u for u in services.budgets.store.usage() if u["scope"] == "key:load")
    spec = services.settings.models["echo"]
    one_max = (64 * spec.price_input_per_1k + max_tokens * spec.price_output_per_1k) / 1000
    traced = sum(services.traces.get(r.headers["x-lockgate-trace-id"])["cost"] for r in ok)
    overspend = row["spent"] - HARD
    print(
        json.dumps(
            {
                "ok": len(ok),
                "refused": len(refused),
                "spent": row["spent"],
                "hard": HARD,
                "overspend": overspend,
                "one_request_max": one_max,
            }
        )
    )
    assert row["spent"] == pytest.approx(traced)  # the ledger matches the traces
    assert row["reserved"] == pytest.approx(0.0, abs=1e-9)  # every hold settled
    assert row["spent"] <= HARD + 1e-9  # in fact never above the ceiling at all
    assert len(app.state.calls) == len(ok)  # refused requests never reached the upstream
    # A soft alert was raised exactly once for this key and day.
    assert [e["scope"] for e in services.budgets.store.events()].count("key:load") == 1

    result = CliRunner().invoke(
        main,
        ["cost", "report", "--json"],
        env={"LOCKGATE_HOME": str(services.settings.home)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_key = {r["name"]: r for r in report["by_key"]}
    assert by_key["load"]["cost"] == pytest.approx(row["spent"])
    assert {r["name"] for r in report["by_model"]} >= {"echo"}
    assert report["total"]["cost_per_1k_requests"] == pytest.approx(
        report["total"]["cost_per_request"] * 1000, rel=1e-6
    )
