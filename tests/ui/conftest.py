"""A real gateway on loopback with a real store, the fake upstream, and seeded data for every
dashboard page: traces (one from a real chat call, one written with scanner findings, a route
and stage timings), feedback, a review item, documents and a quarantined file, a registry
prompt, a release, two evaluation runs; one key per role."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.auth.roles import ROLES
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.prompts.spec import PromptSpec
from lockgate.services import Services
from lockgate.store.reviews import ReviewRecord, new_review_id
from tests.conftest import make_services, make_settings
from tests.support.server import serve

TENANT = "acme"
PROMPT = PromptSpec(
    name="grounded_answer",
    template="DASHBOARD: answer from these.\n{{ sources }}\nQ: {{ question }}\n",
    variables=["sources", "question"],
)
FINDING_DETAIL = "planted-finding-detail"


@dataclass
class World:
    base: str
    services: Services
    keys: dict[str, str]
    trace_id: str  # the seeded trace with findings, a route and timings
    chat_trace: str  # the trace of a real chat call
    review_id: str
    experiments: tuple[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)

    def login(self, role: str, client: httpx.Client | None = None) -> httpx.Client:
        """A client holding a session of `role`'s key, logged in through the form."""
        c = client or self.client()
        form = c.get("/ui/login")
        assert form.status_code == 200, form.text
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        resp = c.post(
            "/ui/login",
            data={"credential": self.keys[role], "csrf": token.group(1), "next": "/ui"},
        )
        assert resp.status_code == 303, resp.text
        return c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def _seed_trace(services: Services) -> str:
    trace_id = uuid.uuid4().hex
    services.traces.record(
        {
            "id": trace_id,
            "created_at": time.time() - 60,
            "principal": "carol",
            "tenant": TENANT,
            "endpoint": "/v1/chat/completions",
            "model": "grounded",
            "backend": "openai:echo",
            "prompt_template": "grounded_answer",
            "prompt_version": 2,
            "prompt_label": "production",
            "stream": 0,
            "status": "ok",
            "http_status": 200,
            "request": {"messages": [{"role": "user", "content": "refund window?"}]},
            "retrieved": [
                {"chunk_id": 1, "document_id": 1, "source": "policy.md", "page": None,
                 "version": 1, "score": 0.9, "in_prompt": True, "groups": []}
            ],
            "prompt": "DASHBOARD prompt text",
            "raw_output": "RAW-OUTPUT refunds take 30 days [1]",
            "output": "FINAL-OUTPUT refunds take 30 days [1]",
            "tokens_in": 120,
            "tokens_out": 30,
            "cost": 0.0021,
            "latency_ms": 850.0,
            "ttft_ms": 210.0,
            "refused": 0,
            "grounded": 1,
            "groundedness": 0.75,
            "degraded": 0,
            "stages": [
                {"stage": "retrieve", "ms": 120.0, "note": ""},
                {"stage": "generate", "ms": 640.0, "note": "echo"},
                {"stage": "output_guard", "ms": 40.0, "note": ""},
            ],
            "guardrails": [
                {
                    "direction": "output",
                    "action": "flag",
                    "findings": [{"scanner": "pii", "type": "EMAIL", "start": 0, "end": 3,
                                  "score": 0.99, "detail": FINDING_DETAIL}],
                    "scanners": [
                        {"scanner": "pii", "action": "flag", "latency_ms": 3.2, "error": None,
                         "findings": [{"scanner": "pii", "type": "EMAIL", "start": 0, "end": 3,
                                       "score": 0.99, "detail": FINDING_DETAIL}]}
                    ],
                }
            ],
            "guard_action": "flag",
            "cache": {"status": "miss"},
            "route": {"model": "echo", "tier": "small", "reason": "short question",
                      "small": "echo", "large": "slow", "signals": {"prompt_tokens": 12},
                      "override": None, "reasons": []},
        }
    )
    return trace_id


def _seed_documents(services: Services, root: Path) -> None:
    root.mkdir(parents=True)
    (root / "policy.md").write_text(
        "# Refunds\n\nRefunds are accepted within 30 days of purchase for annual plans.\n"
    )
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a real pdf")
    ingestor = Ingestor(
        services.documents, services.runs, services.embedder, services.settings.ingest
    )
    ingestor.run([str(root)])
    services.vectors.refresh()


def _experiment(name: str, passed: bool, f1: float) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": "gold.jsonl",
        "pass_rate": 1.0 if passed else 0.5,
        "metrics": {"f1": f1},
        "cases": [
            {"id": "c1", "passed": True, "metrics": {"f1": f1}},
            {"id": "c2", "passed": passed, "metrics": {"f1": f1 / 2}},
        ],
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, fake_upstream) -> Iterator[World]:
    home = tmp_path_factory.mktemp("ui-home")
    settings = make_settings(home, fake_upstream, auth={"max_failures": 1000})
    services = make_services(settings, embedder)
    keys = {role: services.api_keys.create(f"{role}-key", TENANT, [role])[1] for role in ROLES}
    _seed_documents(services, tmp_path_factory.mktemp("ui-corpus") / "docs")
    trace_id = _seed_trace(services)
    pushed = services.prompt_store.push(PROMPT.name, PROMPT.hash, PROMPT.canonical(), "dev")
    services.prompt_store.set_label(PROMPT.name, "staging", pushed.seq, "dev")
    services.release_admin.create("spring", "ops", prompts={PROMPT.name: pushed.seq})
    experiments = (
        services.experiments.add(_experiment("baseline-run", False, 0.5), TENANT, "dev"),
        services.experiments.add(_experiment("candidate-run", True, 0.8), TENANT, "dev"),
    )
    review = services.reviews.submit(
        ReviewRecord(
            id=new_review_id(),
            tenant=TENANT,
            principal="carol",
            kind="groundedness",
            mode="hold",
            trace_id=trace_id,
            reasons=[{"kind": "groundedness"}],
            question="How long is the refund window?",
            answer="Refunds take 45 days.",
        )
    )
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        auth = {"Authorization": f"Bearer {keys['app']}"}
        chat = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hello there"}]},
            headers=auth,
            timeout=30,
        )
        assert chat.status_code == 200, chat.text
        chat_trace = chat.headers["x-lockgate-trace-id"]
        rated = httpx.post(
            base + "/v1/feedback",
            json={"trace_id": chat_trace, "thumb": "up"},
            headers=auth,
            timeout=30,
        )
        assert rated.status_code in (200, 201), rated.text
        yield World(base, services, keys, trace_id, chat_trace, review.id, experiments)
