"""`lockgate.prompt` over real HTTP on loopback, the fake upstream's `echo` answering: a
developer's key may pin a label or a version and the trace (also through GET /v1/traces/{id})
names the version, its hash and the label; an app key is refused with 403
`insufficient_scope` naming the parameter; an unknown prompt, label or version is a 400."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.prompts.spec import PromptSpec
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve

QUESTION = "How long is the refund window for annual plans?"
STAGED = PromptSpec(
    name="grounded_answer",
    template="STAGED: answer from these.\n{{ sources }}\nQ: {{ question }}\n",
    variables=["sources", "question"],
)


class World:
    def __init__(self, base: str, services: Services) -> None:
        self.base, self.services = base, services
        self.keys = {
            role: services.api_keys.create(f"{role}-key", "default", [role])[1]
            for role in ("developer", "app")
        }
        pushed = services.prompt_store.push(STAGED.name, STAGED.hash, STAGED.canonical(), "dev")
        services.prompt_store.set_label(STAGED.name, "staging", pushed.seq, "dev")
        self.staged = pushed.seq

    def ask(self, role: str, **lockgate: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "model": "lockgate",
            "messages": [{"role": "user", "content": QUESTION}],
        }
        if lockgate:
            body["lockgate"] = lockgate
        return httpx.post(
            self.base + "/v1/chat/completions", json=body, headers=self.auth(role), timeout=30
        )

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, fake_upstream) -> Iterator[World]:
    home: Path = tmp_path_factory.mktemp("pins-home")
    docs: Path = tmp_path_factory.mktemp("pins-docs")
    (docs / "refunds.md").write_text(
        "# Refunds\n\nAnnual plans can be refunded in full within 30 days of purchase.\n"
    )
    settings = make_settings(
        home, fake_upstream, grounded={"model": "echo"}, auth={"max_failures": 1000}
    )
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run([str(docs)])
    with serve(create_app(services, preload_models=False), ready_path="/readyz") as base:
        yield World(base, services)


def test_a_developer_pins_a_label_and_the_trace_names_the_version(world: World) -> None:
    resp = world.ask("developer", prompt="grounded_answer@staging")
    assert resp.status_code == 200, resp.text
    trace_id = resp.headers["x-lockgate-trace-id"]
    got = httpx.get(f"{world.base}/v1/traces/{trace_id}", headers=world.auth("developer"))
    assert got.status_code == 200, got.text
    trace = got.json()
    assert trace["prompt_template"] == "grounded_answer"
    assert trace["prompt_version"] == world.staged and trace["prompt_label"] == "staging"
    assert trace["prompt_hash"] == STAGED.hash
    assert trace["prompt"].startswith("STAGED: answer from these.\n")
    by_number = world.ask("developer", prompt=f"grounded_answer@{world.staged}")
    assert by_number.status_code == 200
    row = world.services.traces.get(by_number.headers["x-lockgate-trace-id"])
    assert row is not None and row["prompt_label"] is None
    assert row["prompt_version"] == world.staged


def test_without_a_pin_production_answers(world: World) -> None:
    resp = world.ask("app")
    assert resp.status_code == 200, resp.text
    row = world.services.traces.get(resp.headers["x-lockgate-trace-id"])
    assert row is not None and (row["prompt_version"], row["prompt_label"]) == (1, "production")
    assert (row["prompt"] or "").startswith("Answer the question using only the numbered sources.")


def test_an_app_key_may_not_pin(world: World) -> None:
    resp = world.ask("app", prompt="grounded_answer@staging")
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["code"] == "insufficient_scope" and error["param"] == "lockgate.prompt"
    assert error["type"] == "permission_error" and "prompts:pin" in error["message"]


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("grounded_answer@nope", "has no label 'nope'"),
        ("grounded_answer@99", "has no version 99"),
        ("ghost@staging", "no prompt named 'ghost'"),
        ("grounded_answer@", "expected name@label or name@N"),
    ],
)
def test_an_unknown_prompt_is_a_400(world: World, ref: str, says: str) -> None:
    resp = world.ask("developer", prompt=ref)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_value" and error["param"] == "lockgate.prompt"
    assert says in error["message"]


def test_a_pin_on_a_pass_through_model_is_a_400(world: World) -> None:
    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "hi"}],
        "lockgate": {"prompt": "grounded_answer@staging"},
    }
    resp = httpx.post(
        world.base + "/v1/chat/completions", json=body, headers=world.auth("developer")
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "lockgate.prompt"
