"""POST /v1/feedback over real HTTP: a caller rates a trace of its own tenant (201, with the
trace's model copied), another tenant's trace is answered exactly like a missing one (404
`trace_not_found`), bad bodies are 400 naming the field, and the comment is sealed at rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve
from tests.support.store import stored_bytes

PLANTED = "The purple walrus recommends a refund in person."


class World:
    def __init__(self, base: str, services: Services, home: Path) -> None:
        self.base, self.services, self.home = base, services, home
        self.keys = {
            who: services.api_keys.create(who, tenant, roles)[1]
            for who, tenant, roles in (
                ("a_app", "a", ["app"]),
                ("b_app", "b", ["app"]),
                ("a_analyst", "a", ["analyst"]),
            )
        }

    def chat(self, who: str, text: str) -> str:
        body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
        resp = httpx.post(
            self.base + "/v1/chat/completions", json=body, headers=self._auth(who), timeout=30
        )
        assert resp.status_code == 200, resp.text
        return resp.headers["x-lockgate-trace-id"]

    def feedback(self, who: str, body: Any) -> httpx.Response:
        url = self.base + "/v1/feedback"
        return httpx.post(url, json=body, headers=self._auth(who), timeout=30)

    def _auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, fake_upstream) -> Iterator[World]:
    home = tmp_path_factory.mktemp("feedback-home")
    settings = make_settings(home, fake_upstream, auth={"max_failures": 1000})
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield World(base, services, home)


def test_own_trace_is_rated_and_the_comment_sealed(world: World) -> None:
    trace_id = world.chat("a_app", "how do refunds work?")
    resp = world.feedback("a_app", {"trace_id": trace_id, "thumb": "down", "comment": PLANTED})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["object"] == "feedback" and body["id"].startswith("fb_") and body["rating"] == 1
    rec = world.services.feedback.get(body["id"], "a")
    assert rec is not None and rec.comment == PLANTED and rec.thumb == "down"
    assert rec.model == "echo" and rec.principal == "a_app" and rec.trace_id == trace_id
    assert world.services.feedback.get(body["id"], "b") is None
    raw = stored_bytes(world.home)
    assert raw and PLANTED.encode() not in raw and b"purple walrus" not in raw
    rated = world.feedback("a_app", {"trace_id": trace_id, "rating": 4, "correction": "x"})
    assert rated.status_code == 201 and rated.json()["rating"] == 4


def test_another_tenants_trace_is_a_missing_one(world: World) -> None:
    theirs = world.chat("b_app", "tenant b question")
    other = world.feedback("a_app", {"trace_id": theirs, "thumb": "up"})
    missing = world.feedback("a_app", {"trace_id": "0" * 32, "thumb": "up"})
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "trace_not_found"
    assert world.services.feedback.find("b") == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"thumb": "up"}, "trace_id"),
        ({"trace_id": "t"}, "rating"),
        ({"trace_id": "t", "thumb": "up", "rating": 5}, "rating"),
        ({"trace_id": "t", "thumb": "sideways"}, "thumb"),
        ({"trace_id": "t", "rating": 6}, "rating"),
        ({"trace_id": "t", "rating": 0}, "rating"),
        ({"trace_id": "t", "rating": "5"}, "rating"),
        ({"trace_id": "t", "rating": 5, "comment": "x" * 10_001}, "comment"),
        ({"trace_id": "t", "rating": 5, "correction": "x" * 50_001}, "correction"),
        ({"trace_id": "t", "rating": 5, "stars": 3}, "stars"),
    ],
)
def test_bad_bodies_name_the_field(world: World, body: dict[str, Any], param: str) -> None:
    resp = world.feedback("a_app", body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param


def test_a_role_without_the_scope_is_refused(world: World) -> None:
    trace_id = world.chat("a_app", "a question for the analyst")
    resp = world.feedback("a_analyst", {"trace_id": trace_id, "thumb": "up"})
    assert resp.status_code == 403
