"""Webhook delivery to a real receiver on loopback: the Slack-compatible body, retries with
backoff on 5xx and 429 (Retry-After honoured), no retry on a 4xx refusal, and a dead URL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.alerts.webhooks import WebhookSender, payload
from lockgate.config import AlertWebhook
from lockgate.store.alerts import AlertRecord
from tests.support.server import serve

ALERT = AlertRecord(rule="errors", kind="error_rate", subject="", state="firing",
                    severity="critical", message="error_rate is 12.00%", value=0.12,
                    threshold=0.05, detail={"samples": 40})


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, dict[str, list[bytes]], dict[str, list[int]]]]:
    """POST /{name}: answers the next status of `plans[name]` (then 200), keeps the bodies."""
    bodies: dict[str, list[bytes]] = {}
    plans: dict[str, list[int]] = {}

    async def hook(request: Request) -> Response:
        name = request.path_params["name"]
        bodies.setdefault(name, []).append(await request.body())
        plan = plans.get(name) or []
        status = plan.pop(0) if plan else 200
        headers = {"retry-after": "0.25"} if status == 429 else {}
        return JSONResponse({"status": status}, status_code=status, headers=headers)

    app = Starlette(routes=[Route("/{name}", hook, methods=["POST"])])
    with serve(app) as base:
        yield base, bodies, plans


def test_slack_compatible_body_with_the_alert_as_data(receiver) -> None:
    base, bodies, _ = receiver
    d = WebhookSender().send(AlertWebhook(name="ops", url=f"{base}/plain"), payload(ALERT))
    assert d.delivered and d.status == 200 and d.attempts == 1
    body = json.loads(bodies["plain"][0])
    assert body["text"].startswith("[CRITICAL] errors: error_rate is 12.00%")
    section = body["blocks"][0]
    assert section["type"] == "section" and "*CRITICAL*" in section["text"]["text"]
    assert "value 0.12 / threshold 0.05" in body["blocks"][1]["elements"][0]["text"]
    assert body["lockgate"]["rule"] == "errors"
    assert body["lockgate"]["detail"] == {"samples": 40}


def test_retries_5xx_and_429_with_backoff(receiver) -> None:
    base, bodies, plans = receiver
    plans["flaky"] = [503, 500, 429]
    waits: list[float] = []
    hook = AlertWebhook(name="ops", url=f"{base}/flaky", attempts=5, backoff_s=0.1,
                        max_backoff_s=1.0)
    d = WebhookSender(sleep=waits.append).send(hook, payload(ALERT))
    assert d.delivered and d.attempts == 4 and len(bodies["flaky"]) == 4
    assert waits == [0.1, 0.2, 0.25]  # doubling, then the 429's Retry-After


def test_gives_up_after_the_attempts_and_never_retries_a_refusal(receiver) -> None:
    base, bodies, plans = receiver
    plans["down"] = [500] * 10
    d = WebhookSender(sleep=lambda s: None).send(
        AlertWebhook(name="ops", url=f"{base}/down", attempts=3), payload(ALERT)
    )
    assert not d.delivered and d.attempts == 3 and d.error == "HTTP 500"
    plans["gone"] = [404]
    d = WebhookSender(sleep=lambda s: None).send(
        AlertWebhook(name="ops", url=f"{base}/gone", attempts=3), payload(ALERT)
    )
    assert not d.delivered and d.attempts == 1 and d.status == 404
    assert len(bodies["gone"]) == 1


def test_unreachable_and_unset_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    sender = WebhookSender(sleep=lambda s: None)
    d = sender.send(AlertWebhook(name="x", url="http://127.0.0.1:9/h", attempts=2), payload(ALERT))
    assert not d.delivered and d.attempts == 2 and d.error == "ConnectError"
    monkeypatch.delenv("LG_TEST_HOOK", raising=False)
    d = sender.send(AlertWebhook(name="y", url_env="LG_TEST_HOOK"), payload(ALERT))
    assert not d.delivered and d.attempts == 0 and "LG_TEST_HOOK is not set" in (d.error or "")
