"""The review queue approves side-effect tool calls for the gateway, end to end over real HTTP:
a call is held (409 with the review id), the caller polls the item, a reviewer of the same
tenant decides, and the same call sent again is returned (approved), refused (rejected), or
refused with a pointer to the edited arguments; every step is in the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lockgate.config import ModelSpec
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import PASSTHROUGH_RESILIENCE, make_services, make_settings
from tests.support.fake_upstream import TOOL_MODELS, create_fake_upstream
from tests.support.server import serve

EMAIL = {
    "type": "function",
    "function": {"name": "send_email", "parameters": {"type": "object", "properties": {}}},
}
DECLARED = {"declared": [{"name": "send_email", "side_effects": True}]}


class Gateway:
    def __init__(self, base: str, services: Services) -> None:
        self.base, self.services = base, services
        keys = services.api_keys
        self.app = keys.create("shop", "acme", ["app"])[1]
        self.reviewer = keys.create("rita", "acme", ["reviewer"])[1]
        self.other = keys.create("omar", "globex", ["reviewer"])[1]

    def chat(self, content: str) -> httpx.Response:
        body = {
            "model": "tools",
            "messages": [{"role": "user", "content": content}],
            "tools": [EMAIL],
        }
        return self.post(self.app, "/v1/chat/completions", body)

    def get(self, key: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.get(self.base + path, headers=headers, timeout=30)

    def post(self, key: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.post(self.base + path, json=body, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def gw(tmp_path_factory, embedder) -> Iterator[Gateway]:
    with serve(create_fake_upstream()) as upstream:
        home = tmp_path_factory.mktemp("tool-review-home")
        base = make_settings(home, upstream + "/v1", tools=DECLARED, auth={"max_failures": 1000})
        specs = {
            name: ModelSpec(
                backend="openai",
                base_url=upstream + "/v1",
                read_timeout_s=5.0,
                context_window=8192,
                resilience=PASSTHROUGH_RESILIENCE,
            )
            for name in TOOL_MODELS
        }
        settings = base.model_copy(update={"models": {**base.models, **specs}})
        services = make_services(settings, embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as url:
            yield Gateway(url, services)


def _held(resp: httpx.Response) -> str:
    assert resp.status_code == 409, resp.text
    err = resp.json()["error"]
    assert err["code"] == "tool_approval_required"
    assert resp.headers["x-lockgate-review-id"] == err["review_id"]
    assert "tool_calls" not in resp.text
    return str(err["review_id"])


def test_a_held_call_is_returned_once_a_reviewer_approves_it(gw: Gateway) -> None:
    review_id = _held(gw.chat("mail the invoice to ann"))
    # The caller polls its own item; another tenant's reviewer cannot see it.
    polled = gw.get(gw.app, f"/v1/reviews/{review_id}")
    assert polled.status_code == 200 and polled.json()["status"] == "pending"
    assert gw.get(gw.other, f"/v1/reviews/{review_id}").status_code == 404
    # Sent again before a decision: the same item, still waiting, not a second one.
    assert _held(gw.chat("mail the invoice to ann")) == review_id
    assert gw.post(gw.reviewer, f"/v1/reviews/{review_id}/claim").status_code == 200
    assert gw.post(gw.reviewer, f"/v1/reviews/{review_id}/approve", {}).status_code == 200
    assert gw.get(gw.app, f"/v1/reviews/{review_id}").json()["status"] == "approved"
    again = gw.chat("mail the invoice to ann")
    assert again.status_code == 200, again.text
    call = again.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "send_email"
    assert json.loads(call["function"]["arguments"]) == {"q": "mail the invoice to ann"}
    # The approval is for those arguments only: another call waits for its own review.
    assert _held(gw.chat("mail the payroll to everyone")) != review_id


def test_a_rejected_call_is_refused(gw: Gateway) -> None:
    review_id = _held(gw.chat("delete every customer"))
    gw.post(gw.reviewer, f"/v1/reviews/{review_id}/claim")
    rejected = gw.post(gw.reviewer, f"/v1/reviews/{review_id}/reject", {"reason": "no way"})
    assert rejected.status_code == 200, rejected.text
    again = gw.chat("delete every customer")
    assert again.status_code == 403, again.text
    err = again.json()["error"]
    assert err["code"] == "tool_call_denied" and review_id in err["message"]


def test_edited_arguments_approve_the_edited_call_only(gw: Gateway) -> None:
    review_id = _held(gw.chat("mail everyone"))
    gw.post(gw.reviewer, f"/v1/reviews/{review_id}/claim")
    edited = gw.post(
        gw.reviewer, f"/v1/reviews/{review_id}/edit", {"arguments": {"q": "mail the team"}}
    )
    assert edited.status_code == 200, edited.text
    # The model's original call is not what was approved.
    again = gw.chat("mail everyone")
    assert again.status_code == 403
    assert f"/v1/reviews/{review_id}" in again.json()["error"]["message"]
    # What the reviewer approved is there for the caller to read.
    polled = gw.get(gw.app, f"/v1/reviews/{review_id}").json()
    assert polled["status"] == "edited"
    assert "mail the team" in json.dumps(polled)
    # A call with the reviewer's arguments is approved.
    assert gw.chat("mail the team").status_code == 200


def test_every_step_is_audited_and_the_chain_verifies(gw: Gateway) -> None:
    review_id = _held(gw.chat("mail the auditors"))
    gw.post(gw.reviewer, f"/v1/reviews/{review_id}/claim")
    gw.post(gw.reviewer, f"/v1/reviews/{review_id}/approve", {})
    assert gw.chat("mail the auditors").status_code == 200
    audit = gw.services.audit
    names = [e["kind"] for e in audit.entries()]
    for name in ("tools.gated", "review.queued", "review.claimed", "review.decided"):
        assert name in names
    gated = audit.entries(kinds=["tools.gated"])
    assert {e["data"]["outcome"] for e in gated} >= {"pending", "approved"}
    assert audit.verify().ok
