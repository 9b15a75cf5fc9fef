"""`GET /v1/alerts` over real HTTP with API keys: the history newest first with what is
firing now, `limit` and `state` filters, bad parameters as 400 with an OpenAI-style error,
and a role without `metrics:read` refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from lockgate.config import Settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from lockgate.store.alerts import AlertRecord
from tests.support.server import serve


def test_alert_list_for_the_dashboard(tmp_path: Path) -> None:
    services = Services(Settings(home=tmp_path, guardrails={"enabled": False}))  # type: ignore[arg-type]
    store = services.alerts.store
    for i, (rule, state) in enumerate(
        [("errors", "firing"), ("errors", "resolved"), ("breaker", "firing")]
    ):
        store.record(AlertRecord(rule=rule, kind="error_rate", subject="", state=state,
                                 severity="warning", message=f"{rule} {state}",
                                 created_at=1000.0 + i))
    dev = services.api_keys.create("dev", "t", ["developer"])[1]
    app_key = services.api_keys.create("app", "t", ["app"])[1]
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:

        def get(query: str, key: str = dev) -> httpx.Response:
            return httpx.get(f"{base}/v1/alerts{query}", timeout=10,
                             headers={"authorization": f"Bearer {key}"})

        body = get("").json()
        assert [a["message"] for a in body["data"]] == [
            "breaker firing", "errors resolved", "errors firing"
        ]
        assert [a["rule"] for a in body["firing"]] == ["breaker"]
        assert [a["message"] for a in get("?limit=1").json()["data"]] == ["breaker firing"]
        assert [a["message"] for a in get("?state=resolved").json()["data"]] == ["errors resolved"]
        bad = get("?limit=0")
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
        assert get("?limit=x").status_code == 400
        assert get("?state=nope").json()["error"]["param"] == "state"
        assert get("", app_key).status_code == 403
