"""The proof: a rollout rolls back by itself when its model starts failing (or its answers
are rated worse), and never when only the current release's model fails.

A real gateway on loopback runs its own monitor task (every 0.3 s here); callers are an app
key's end users (the `user` field), half of them in the rollout release's share. The fake
upstream fails for the model names it is told to, so one side breaks and the other does not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.config import ModelSpec, Settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import PASSTHROUGH_RESILIENCE
from tests.support.server import serve

USERS = [f"u{i}" for i in range(100)]


def _upstream(failing: set[str], seen: list[str]) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        model = body.get("model", "")
        seen.append(model)
        if model in failing:
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
        text = f"{model} says hi"
        return JSONResponse({
            "id": "up-1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        })

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


class World:
    def __init__(self, base: str, services: Services, failing: set[str], seen: list[str]):
        self.base, self.services, self.failing, self.seen = base, services, failing, seen
        _, self.key = services.api_keys.create("svc", "acme", ["app"])

    def ask(self, user: str) -> httpx.Response:
        body = {"model": "assistant", "user": user,
                "messages": [{"role": "user", "content": f"hello from {user}"}]}
        return httpx.post(self.base + "/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.key}"})

    def traffic(self, users: list[str]) -> dict[str, tuple[int, str | None]]:
        """user -> (HTTP status, the release its trace names)"""
        out = {}
        for user in users:
            resp = self.ask(user)
            trace = self.services.traces.get(resp.headers["x-lockgate-trace-id"])
            assert trace is not None
            out[user] = (resp.status_code, trace["release"])
        return out

    def stage(self, name: str) -> str:
        found = self.services.releases.get(name)
        assert found is not None
        return found.stage

    def wait_for(self, name: str, stage: str, within_s: float = 10.0) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.stage(name) == stage:
                return True
            time.sleep(0.1)
        return False


def _world(home: Path, **releases: Any) -> Iterator[World]:
    failing: set[str] = set()
    seen: list[str] = []
    with serve(_upstream(failing, seen)) as upstream:
        models = dict(Settings(home=home).models)
        for name, upstream_model in (("assistant", "stable"), ("m-current", "current"),
                                     ("m-new", "new")):
            models[name] = ModelSpec(
                backend="openai", base_url=upstream + "/v1", upstream_model=upstream_model,
                read_timeout_s=5.0, price_input_per_1k=0.5, price_output_per_1k=1.5,
                context_window=8192, resilience=PASSTHROUGH_RESILIENCE,
            )
        cfg = {"check_interval_s": 0.3, "min_requests": 20, "min_feedback": 10, **releases}
        settings = Settings(
            home=home, models=models, releases=cfg, auth={"max_failures": 1000},  # type: ignore[arg-type]
            guardrails={"enabled": False}, cache={"enabled": False},  # type: ignore[arg-type]
        )
        services = Services(settings)
        admin = services.release_admin
        admin.create("r1", "ops", models={"assistant": "m-current"})
        admin.promote("r1", "full", "ops")
        admin.create("r2", "ops", models={"assistant": "m-new"}, params={"temperature": 0.3})
        admin.promote("r2", "percentage", "ops", percent=50)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield World(base, services, failing, seen)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path / "home")


def test_the_rollout_rolls_back_by_itself_when_its_model_starts_failing(world: World) -> None:
    healthy = world.traffic(USERS[:40])
    assert all(status == 200 for status, _ in healthy.values())
    sides = {release for _, release in healthy.values()}
    assert sides == {"r1", "r2"}
    on_r2 = [u for u, (_, release) in healthy.items() if release == "r2"]
    assert 10 <= len(on_r2) <= 30
    assert {"current", "new"} <= set(world.seen)
    time.sleep(1.0)  # three monitor rounds on healthy traffic: nothing happens
    assert world.stage("r2") == "percentage"

    world.failing.add("new")
    broken = world.traffic(USERS[40:])
    assert any(s >= 500 for s, r in broken.values() if r == "r2")
    assert all(s == 200 for s, r in broken.values() if r == "r1")
    assert world.wait_for("r2", "rolled_back"), "the monitor did not roll r2 back"
    assert world.stage("r1") == "full"

    # The users who had r2 now get the current release, and its model answers them.
    world.seen.clear()
    after = world.traffic(on_r2)
    assert after == {u: (200, "r1") for u in on_r2}
    assert set(world.seen) == {"current"}

    entries = [e for e in world.services.audit.entries() if e["kind"] == "release.rolled_back"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == "monitor" and entry["data"]["release"] == "r2"
    assert entry["data"]["automatic"] is True and entry["data"]["against"] == "r1"
    assert "error_rate" in entry["data"]["reason"]
    assert entry["data"]["metrics"]["candidate"]["error_rate"] > 0.05
    assert entry["data"]["metrics"]["baseline"]["error_rate"] == 0.0
    history = world.services.releases.history("r2")
    assert history[-1].to_stage == "rolled_back" and history[-1].actor == "monitor"
    # Visible to a dashboard with `releases:read`; an app key may not read it.
    _, analyst = world.services.api_keys.create("ana", "acme", ["analyst"])
    listed = httpx.get(world.base + "/v1/releases", timeout=30,
                       headers={"Authorization": f"Bearer {analyst}"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert (body["current"], body["rollout"]) == ("r1", None)
    assert {r["name"]: r["stage"] for r in body["data"]} == {"r1": "full", "r2": "rolled_back"}
    refused = httpx.get(world.base + "/v1/releases", timeout=30,
                        headers={"Authorization": f"Bearer {world.key}"})
    assert refused.status_code == 403


def test_a_failing_current_release_is_never_rolled_back_nor_the_healthy_rollout(
    world: World,
) -> None:
    world.failing.add("current")
    seen = world.traffic(USERS)
    assert any(s >= 500 for s, r in seen.values() if r == "r1")
    assert all(s == 200 for s, r in seen.values() if r == "r2")
    time.sleep(1.5)  # five monitor rounds
    assert (world.stage("r1"), world.stage("r2")) == ("full", "percentage")
    verdict = world.services.release_monitor.check()
    assert verdict is not None and verdict.release == "r2" and not verdict.rolled_back
    assert "error_rate" in verdict.judged and verdict.breaches == []
    kinds = [e["kind"] for e in world.services.audit.entries()]
    assert "release.rolled_back" not in kinds


def test_the_rollout_rolls_back_when_its_answers_are_rated_worse(world: World) -> None:
    served = {}
    for user in USERS[:60]:
        resp = world.ask(user)
        assert resp.status_code == 200
        trace_id = resp.headers["x-lockgate-trace-id"]
        trace = world.services.traces.get(trace_id)
        assert trace is not None
        served[trace_id] = trace["release"]
    for trace_id, release in served.items():
        thumb = "down" if release == "r2" else "up"
        resp = httpx.post(world.base + "/v1/feedback", json={"trace_id": trace_id, "thumb": thumb},
                          headers={"Authorization": f"Bearer {world.key}"}, timeout=30)
        assert resp.status_code == 201, resp.text
    assert world.wait_for("r2", "rolled_back"), "the monitor did not roll r2 back"
    r2 = world.services.releases.get("r2")
    assert r2 is not None and r2.reason is not None
    assert "negative_feedback_rate" in r2.reason and "error_rate" not in r2.reason
