"""The alerting service over a real store and a real webhook receiver: metric rules judged
from trace rows with hysteresis and a cool-down that holds across service instances (as
across gateway processes), event rules per subject, deliveries recorded in the history."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from lockgate.alerts.service import AlertService
from lockgate.alerts.webhooks import WebhookSender
from lockgate.config import AlertingConfig
from lockgate.observability.events import BreakerOpened, BudgetAlert, EvalGateFailed
from lockgate.store import tables as tb
from lockgate.store.alerts import AlertStore
from lockgate.store.db import transaction
from lockgate.store.signals import AlertSignals
from tests.support.receiver import Inbox, create_receiver
from tests.support.server import serve
from tests.support.store import migrated_engine


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, Inbox]]:
    app, inbox = create_receiver()
    with serve(app) as base:
        yield base, inbox


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(tmp_path, "svc.db") as e:
        yield e


def service(engine: Engine, url: str, rules: list[dict[str, object]]) -> AlertService:
    cfg = AlertingConfig(rules=rules, webhooks=[{"name": "ops", "url": url}])  # type: ignore[arg-type]
    return AlertService(cfg, AlertStore(engine), AlertSignals(engine), WebhookSender())


def add_traces(engine: Engine, at: float, ok: int, failed: int) -> None:
    with transaction(engine) as conn:
        for i in range(ok + failed):
            conn.execute(
                insert(tb.traces).values(
                    id=uuid.uuid4().hex,
                    created_at=at,
                    principal="p",
                    tenant="t",
                    endpoint="/v1/chat/completions",
                    stream=0,
                    status="ok",
                    http_status=502 if i < failed else 200,
                    latency_ms=50.0,
                    degraded=0,
                )
            )


ERRORS = {
    "name": "errors",
    "kind": "error_rate",
    "threshold": 0.2,
    "window_seconds": 60,
    "cooldown_seconds": 600,
    "min_samples": 10,
    "clear_ratio": 0.5,
    "severity": "critical",
}


def test_a_flapping_error_rate_sends_one_webhook(engine: Engine, hook) -> None:
    base, inbox = hook
    inbox.items.clear()
    url = f"{base}/flap"
    t0 = time.time()
    svc = service(engine, url, [ERRORS])
    assert svc.check(t0) == []  # no traffic: nothing to judge
    add_traces(engine, t0 - 1, ok=5, failed=5)  # 50% of 10
    [fired] = svc.check(t0)
    assert fired.state == "firing" and fired.value == pytest.approx(0.5)
    # The signal now flaps: each minute's window alternates between bad and clean. A fresh
    # service each time stands for another process (or a restart): the state is the store's.
    states = []
    for minute in range(1, 9):
        at = t0 + 60 * minute
        add_traces(engine, at - 1, ok=10, failed=10 if minute % 2 == 0 else 0)
        states += [a.state for a in service(engine, url, [ERRORS]).check(at)]
    assert states == ["resolved"]  # it cleared once and stayed quiet inside the cool-down
    # Past the cool-down from the first firing, a bad window fires again.
    at = t0 + 660
    add_traces(engine, at - 1, ok=0, failed=10)
    assert [a.state for a in svc.check(at)] == ["firing"]
    assert svc.flush(10)
    posted = [json.loads(i.body) for i in inbox.items if i.path == "/flap"]
    # Resolved is recorded but not posted (alerts.notify_resolved is false).
    assert [p["lockgate"]["state"] for p in posted] == ["firing", "firing"]
    history = svc.recent()
    assert [a.state for a in history] == ["firing", "resolved", "firing"]
    assert history[0].deliveries[0]["delivered"] is True


def test_event_rules_cool_down_per_subject(engine: Engine, hook) -> None:
    base, inbox = hook
    inbox.items.clear()
    svc = service(
        engine,
        f"{base}/events",
        [
            {"name": "breaker", "kind": "breaker_open", "cooldown_seconds": 300},
            {"name": "budget", "kind": "budget_soft", "threshold": 2, "window_seconds": 60},
            {"name": "gate", "kind": "eval_gate", "severity": "critical"},
        ],
    )
    opened = BreakerOpened("", deployment="m#0", from_state="closed")
    assert len(svc.on_event(opened, now=1000)) == 1
    assert svc.on_event(opened, now=1100) == []  # same deployment inside the cool-down
    assert len(svc.on_event(BreakerOpened("", deployment="m#1", from_state="closed"), 1100)) == 1
    assert len(svc.on_event(opened, now=1301)) == 1  # the cool-down has passed
    spend = BudgetAlert("", kind="project", scope="acme", period="month", spent=81, threshold=80)
    assert svc.on_event(spend, now=1000) == []  # one of the two it takes
    [budget] = svc.on_event(spend, now=1030)
    assert budget.subject == "project:acme" and budget.value == 2
    failed = EvalGateFailed("", "ci", "t1", "base", "cand", 0.01, ("pass rate dropped 5.00%",))
    svc.submit(failed)  # as the subscriber hands it over: judged on the worker thread
    assert svc.flush(10)
    [gate] = svc.recent(state="firing", limit=1)
    assert gate.rule == "gate" and "pass rate dropped 5.00%" in gate.message
    assert len(inbox.wait(5)) == 5
