"""The proof: requests through the gateway to a dead upstream open its circuit breaker, one
webhook arrives at a receiver on loopback, and when the breaker opens again (a failed
half-open probe) no second one is sent inside the rule's cool-down."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from lockgate.config import ModelSpec, Settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.support.receiver import create_receiver
from tests.support.server import serve

DEAD = "http://127.0.0.1:9/v1"  # discard port: connection refused


def chat(base: str) -> httpx.Response:
    body = {"model": "dead", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=10)


def test_breaker_opens_one_webhook_none_inside_the_cooldown(tmp_path: Path) -> None:
    app, inbox = create_receiver()
    with serve(app) as hook_base:
        models = dict(Settings(home=tmp_path).models)
        models["dead"] = ModelSpec(
            backend="openai", base_url=DEAD, connect_timeout_s=0.5,
            resilience={"retries": 0, "breaker": {"failures": 2, "cooldown_s": 0.3}},  # type: ignore[arg-type]
        )
        settings = Settings(
            home=tmp_path / "home",
            models=models,  # type: ignore[arg-type]
            guardrails={"enabled": False},  # type: ignore[arg-type]
            cache={"enabled": False},  # type: ignore[arg-type]
            auth={"allow_anonymous": True},  # type: ignore[arg-type]
            alerts={  # type: ignore[arg-type]
                "rules": [{"name": "upstream-down", "kind": "breaker_open",
                           "cooldown_seconds": 3600, "severity": "critical"}],
                "webhooks": [{"name": "ops", "url": f"{hook_base}/slack"}],
            },
        )
        services = Services(settings)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            assert [chat(base).status_code for _ in range(2)] == [502, 502]
            assert services.models.breaker_states()["dead"] == "open"
            assert chat(base).status_code == 503  # open: refused without a call
            [first] = inbox.wait(1)
            time.sleep(0.4)  # half-open: the next request is a probe, which fails
            assert chat(base).status_code == 502
            assert services.models.breaker_states()["dead"] == "open"
            assert services.alerts.flush(10)
            time.sleep(0.3)  # a second webhook would have arrived by now
        breaker = services.models.pool("dead").deployments[0].breaker
        assert [t for t in breaker.transitions if t[1] == "open"] == [
            ("closed", "open"), ("half_open", "open")
        ]
    assert len(inbox.items) == 1
    body = json.loads(first.body)
    assert body["text"] == (
        "[CRITICAL] upstream-down: circuit breaker opened for deployment dead (was closed)"
    )
    assert body["lockgate"]["kind"] == "breaker_open" and body["lockgate"]["subject"] == "dead"
    [recorded] = services.alerts.recent()
    assert recorded.deliveries == [
        {"webhook": "ops", "delivered": True, "status": 200, "attempts": 1, "error": None}
    ]
