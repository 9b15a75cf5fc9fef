"""Human review through the live gateway (real loopback HTTP, the fake upstream, API keys):
a low-groundedness grounded answer is held (plain and streamed) until a reviewer approves,
edits or rejects it, and the caller learns the decision by polling or by a signed callback;
an escalation is delivered with a warning; only reviewers and admins of the item's tenant
see the queue; claims conflict with 409; bad input is a 400; every decision is in the audit
log, whose chain still verifies; an edit is exported as an evaluation case; review texts are
sealed at rest; the backlog is on /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.gateway.app import create_app
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import register
from lockgate.ingest.pipeline import Ingestor
from lockgate.review.callbacks import SIGNATURE_HEADER, verify
from lockgate.services import Services
from lockgate.store.access import Access
from tests.conftest import make_services, make_settings
from tests.support.receiver import Inbox, create_receiver
from tests.support.server import serve
from tests.support.store import stored_bytes

SECRET_ENV = "REVIEW_HOOK_TEST_SECRET"
SECRET = "whsec-test-0d5f"
PLANTED = "The otter keeps the brass key under the ninth stone"
REVIEW_ID_HEADER = "x-lockgate-review-id"


class _Lawsuit:
    name = "t_rv_lawsuit"

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        at = text.find("lawsuit")
        return [] if at < 0 else [Finding("TOPIC", at, at + 7, 0.99)]


class _Grounding:
    """Stands in for the grounding scanner: a question saying "shaky" gets a shaky answer."""

    name = "t_rv_grounding"

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        ctx.metrics["groundedness"] = 0.2 if "shaky" in ctx.user_text else 0.95
        return []


register("t_rv_lawsuit")(lambda p, d: _Lawsuit())
register("t_rv_grounding")(lambda p, d: _Grounding())


def _guardrails() -> GuardrailsConfig:
    policy = GuardPolicy(
        input=[ScannerRule(scanner="t_rv_lawsuit", action="escalate")],
        context=[],
        output=[ScannerRule(scanner="t_rv_grounding", action="flag")],
    )
    return GuardrailsConfig(policies={"default": policy})


def _review(receiver: str) -> dict[str, Any]:
    hook = {"url": receiver + "/hooks/review", "secret_env": SECRET_ENV}
    return {
        "groundedness_threshold": 0.5,
        "modes": {"groundedness": "hold", "guardrail": "deliver"},
        "apps": {
            # Loopback is where this receiver lives; the policy has to allow it by name.
            "held": {
                "modes": {"guardrail": "hold"},
                "callback": {**hook, "fetch": {"allow_hosts": ["127.0.0.1"]}},
            },
            # The same URL under the default policy: loopback is refused.
            "unsafe": {"modes": {"guardrail": "hold"}, "callback": hook},
        },
    }


class Gateway:
    def __init__(self, base: str, services: Services, home: Path, inbox: Inbox) -> None:
        self.base, self.services, self.home, self.inbox = base, services, home, inbox
        keys = services.api_keys
        self.caller = keys.create("carol", "acme", ["app"])[1]
        # A key runs as the apps it lists, and only those.
        self.app_caller = keys.create("carl", "acme", ["app"], apps=["held", "unsafe"])[1]
        self.dev = keys.create("dave", "acme", ["developer"])[1]
        self.alice = keys.create("alice", "acme", ["reviewer"])[1]
        self.bob = keys.create("bob", "acme", ["admin"])[1]
        self.olga = keys.create("olga", "globex", ["reviewer"])[1]

    def chat(
        self, key: str, content: str, model: str = "lockgate", app: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        if app:
            headers["x-lockgate-app"] = app
        body = {"model": model, "messages": [{"role": "user", "content": content}]}
        url = self.base + "/v1/chat/completions"
        return httpx.post(url, json=body, headers=headers, timeout=60)

    def stream(
        self, key: str, content: str, model: str = "lockgate"
    ) -> tuple[httpx.Headers, list[dict[str, Any]]]:
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": content}]}
        events = []
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.stream(
            "POST", self.base + "/v1/chat/completions", json=body, headers=headers, timeout=60
        ) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    events.append(json.loads(line[6:]))
            return resp.headers, events

    def get(self, key: str, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            self.base + path, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def post(self, key: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        if body is None and "content" not in kw:
            return httpx.post(self.base + path, headers=headers, timeout=30, **kw)
        return httpx.post(self.base + path, json=body, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def gw(tmp_path_factory, embedder, fake_upstream) -> Iterator[Gateway]:
    receiver_app, inbox = create_receiver()
    docs = tmp_path_factory.mktemp("review-docs")
    (docs / "refunds.md").write_text("# Refunds\n\nAnnual plans are refunded within 30 days.\n")
    with pytest.MonkeyPatch.context() as mp, serve(receiver_app) as receiver:
        mp.setenv(SECRET_ENV, SECRET)
        home = tmp_path_factory.mktemp("review-home")
        settings = make_settings(
            home,
            fake_upstream,
            # The review queue is tested on the model's own (echoed) answers; the answer
            # check would replace those with quotes from the documents.
            grounded={"model": "echo", "extractive": {"enabled": False}},
            guardrails=_guardrails(),
            review=_review(receiver),
            auth={"max_failures": 1000},
        )
        services = make_services(settings, embedder)
        Ingestor(
            services.documents,
            services.runs,
            services.embedder,
            settings.ingest,
            access=Access.of("acme"),
        ).run([str(docs)])
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield Gateway(base, services, home, inbox)


def shaky(note: str) -> str:
    """A question the documents answer (so it is not refused) whose answer is shaky."""
    return f"How long is the refund window for annual plans? (shaky: {note})"


def _held(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "review" in body["lockgate"], body
    review = body["lockgate"]["review"]
    assert review["status"] == "pending" and review["mode"] == "hold"
    assert resp.headers[REVIEW_ID_HEADER] == review["id"]
    return str(review["id"])


def test_a_low_groundedness_answer_is_held_until_approved(gw: Gateway) -> None:
    resp = gw.chat(gw.caller, "Is the refund window shaky for annual plans?")
    review_id = _held(resp)
    body = resp.json()
    content = body["choices"][0]["message"]["content"]
    assert content.startswith("This answer is awaiting human review.") and review_id in content
    assert "echo" not in content and body["lockgate"]["citations"] == []
    assert body["lockgate"]["groundedness"] == 0.2
    polled = gw.get(gw.caller, f"/v1/reviews/{review_id}").json()
    assert polled["status"] == "pending" and "answer" not in polled
    assert "original_answer" not in polled  # the caller never sees the held text early
    seen = gw.get(gw.alice, f"/v1/reviews/{review_id}").json()
    assert seen["kind"] == "groundedness" and seen["original_answer"].startswith("echo:")
    assert seen["question"] == "Is the refund window shaky for annual plans?"
    assert seen["reasons"] == [{"kind": "groundedness", "score": 0.2, "threshold": 0.5}]
    assert seen["context"] and seen["context"][0]["source"].endswith("refunds.md")
    assert gw.post(gw.alice, f"/v1/reviews/{review_id}/claim").status_code == 200
    approved = gw.post(gw.alice, f"/v1/reviews/{review_id}/approve", {"note": "fine"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    final = gw.get(gw.caller, f"/v1/reviews/{review_id}").json()
    assert final["status"] == "approved" and final["answer"] == seen["original_answer"]
    assert final["citations"] and final["refused"] is False
    # A well-grounded answer is not reviewed at all.
    fine = gw.chat(gw.caller, "How long is the refund window for annual plans?")
    assert "review" not in fine.json()["lockgate"] and REVIEW_ID_HEADER not in fine.headers


def test_a_streamed_answer_that_may_be_held_is_held_whole(gw: Gateway) -> None:
    headers, events = gw.stream(gw.caller, "A shaky question about refunds?")
    text = "".join(
        e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices")
    )
    review_id = headers[REVIEW_ID_HEADER]
    assert text == f"This answer is awaiting human review. Review id: {review_id}."
    assert events[-1]["lockgate"]["review"] == {
        "id": review_id,
        "status": "pending",
        "mode": "hold",
        "kind": "groundedness",
    }
    seen = gw.get(gw.bob, f"/v1/reviews/{review_id}").json()
    assert seen["original_answer"].startswith("echo:")  # the whole answer, kept for review
    headers, events = gw.stream(gw.caller, "How long is the refund window?")
    text = "".join(
        e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices")
    )
    assert text.startswith("echo:") and REVIEW_ID_HEADER not in headers


def test_an_escalation_is_delivered_with_a_warning_and_reviewed_after(gw: Gateway) -> None:
    resp = gw.chat(gw.caller, "we may file a lawsuit", model="echo")
    body = resp.json()
    assert body["choices"][0]["message"]["content"] == "echo: we may file a lawsuit"
    assert "review" in body["lockgate"], body
    review = body["lockgate"]["review"]
    assert review["mode"] == "deliver" and review["kind"] == "guardrail"
    assert "warning" in review and resp.headers["x-lockgate-review-warning"]
    assert resp.headers[REVIEW_ID_HEADER] == review["id"]
    item = gw.get(gw.alice, f"/v1/reviews/{review['id']}").json()
    assert item["excerpt"] == "we may file a lawsuit"
    assert item["reasons"][0]["scanners"] == ["t_rv_lawsuit"]
    listed = gw.get(gw.alice, "/v1/reviews", kind="guardrail").json()["data"]
    assert review["id"] in [r["id"] for r in listed]
    # Streamed and only ever delivered: it streams as usual, the warning in the last chunk.
    _, events = gw.stream(gw.caller, "a lawsuit again", model="echo")
    text = "".join(
        e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices")
    )
    assert text == "echo: a lawsuit again"
    assert events[-1]["lockgate"]["review"]["mode"] == "deliver"


def test_only_reviewers_of_the_tenant_see_and_decide(gw: Gateway) -> None:
    review_id = _held(gw.chat(gw.caller, shaky("who decides?")))
    for key in (gw.caller, gw.dev):
        resp = gw.get(key, "/v1/reviews")
        assert resp.status_code == 403 and resp.json()["error"]["type"] == "permission_error"
        assert gw.post(key, f"/v1/reviews/{review_id}/approve").status_code == 403
    ids = [r["id"] for r in gw.get(gw.olga, "/v1/reviews", status="all").json()["data"]]
    assert review_id not in ids
    assert gw.get(gw.olga, f"/v1/reviews/{review_id}").status_code == 404
    for action in ("claim", "approve", "reject"):
        resp = gw.post(gw.olga, f"/v1/reviews/{review_id}/{action}")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "review_not_found"
    assert gw.get(gw.dev, f"/v1/reviews/{review_id}").status_code == 404  # not the caller
    assert gw.post(gw.alice, f"/v1/reviews/{review_id}/claim").status_code == 200
    taken = gw.post(gw.bob, f"/v1/reviews/{review_id}/claim")
    assert taken.status_code == 409 and "claimed by alice" in taken.json()["error"]["message"]
    assert gw.post(gw.bob, f"/v1/reviews/{review_id}/approve").status_code == 409
    assert gw.post(gw.alice, f"/v1/reviews/{review_id}/reject").status_code == 200
    again = gw.post(gw.alice, f"/v1/reviews/{review_id}/approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "review_conflict"
    polled = gw.get(gw.caller, f"/v1/reviews/{review_id}").json()
    assert polled["status"] == "rejected" and polled["refused"] is True
    assert polled["answer"] == "This answer was withheld after human review."


def test_an_edit_is_given_to_the_caller_and_exported_as_an_eval_case(gw: Gateway) -> None:
    review_id = _held(gw.chat(gw.caller, shaky("how long are refunds?")))
    corrected = "Annual plans are refunded within 30 days [1]."
    resp = gw.post(gw.bob, f"/v1/reviews/{review_id}/edit", {"text": corrected})
    assert resp.status_code == 200 and resp.json()["status"] == "edited"
    polled = gw.get(gw.caller, f"/v1/reviews/{review_id}").json()
    assert polled["status"] == "edited" and polled["answer"] == corrected
    result = CliRunner().invoke(
        main,
        ["review", "corrections", "--tenant", "acme", "--json"],
        env={"LOCKGATE_HOME": str(gw.home)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    cases = [c for c in json.loads(result.stdout) if c["metadata"]["review_id"] == review_id]
    assert len(cases) == 1
    case = cases[0]
    assert case["question"] == shaky("how long are refunds?")
    assert case["expected"] == corrected and case["rejected"].startswith("echo:")
    assert case["metadata"]["reviewer"] == "bob"


def test_bad_input_is_a_400_and_unknown_ids_a_404(gw: Gateway) -> None:
    review_id = _held(gw.chat(gw.caller, shaky("bad input")))
    path = f"/v1/reviews/{review_id}"
    cases = [
        (gw.post(gw.alice, path + "/edit", {"text": "x", "arguments": {}}), "invalid_value"),
        (gw.post(gw.alice, path + "/edit", {}), "invalid_value"),
        (gw.post(gw.alice, path + "/edit", {"text": 5}), "invalid_value"),
        (gw.post(gw.alice, path + "/edit", {"arguments": {"a": 1}}), "invalid_value"),
        (gw.post(gw.alice, path + "/approve", {"note": "ok", "extra": 1}), "unknown_parameter"),
        (gw.post(gw.alice, path + "/approve", content=b"{nope"), "invalid_json"),
        (gw.post(gw.alice, path + "/reject", [1, 2]), "invalid_body"),
        (gw.get(gw.alice, "/v1/reviews", status="maybe"), "invalid_value"),
        (gw.get(gw.alice, "/v1/reviews", min_age="soon"), "invalid_value"),
        (gw.get(gw.alice, "/v1/reviews", limit="0"), "invalid_value"),
    ]
    for resp, code in cases:
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == code
    for bad in ("rev_nothere", "../etc", "rev_" + "0" * 24):
        assert gw.get(gw.alice, f"/v1/reviews/{bad}").status_code == 404
    assert gw.get(gw.alice, path).json()["status"] == "pending"  # nothing took effect


def test_the_callback_is_signed_and_sent_when_the_policy_allows(gw: Gateway) -> None:
    before = len(gw.inbox.items)
    resp = gw.chat(gw.app_caller, "a lawsuit is coming", model="echo", app="held")
    review_id = _held(resp)
    assert resp.json()["choices"][0]["message"]["content"].startswith("This answer is awaiting")
    assert gw.post(gw.alice, f"/v1/reviews/{review_id}/approve").status_code == 200
    got = gw.inbox.wait(before + 1)[before:]
    assert len(got) == 1
    hit = got[0]
    assert hit.path == "/hooks/review" and hit.headers["x-lockgate-review-id"] == review_id
    assert verify(SECRET.encode(), hit.headers[SIGNATURE_HEADER], hit.body)
    assert not verify(b"wrong-secret", hit.headers[SIGNATURE_HEADER], hit.body)
    assert not verify(SECRET.encode(), hit.headers[SIGNATURE_HEADER], hit.body + b" ")
    payload = json.loads(hit.body)
    assert payload["type"] == "review.decided"
    assert payload["review"]["status"] == "approved"
    assert payload["review"]["answer"] == "echo: a lawsuit is coming"
    item = _wait_callback(gw, review_id)
    assert item["callback"]["status"] == "delivered (HTTP 200)"


def test_a_callback_to_loopback_is_refused_unless_allowed(gw: Gateway) -> None:
    before = len(gw.inbox.items)
    review_id = _held(gw.chat(gw.app_caller, "another lawsuit", model="echo", app="unsafe"))
    assert gw.post(gw.alice, f"/v1/reviews/{review_id}/reject").status_code == 200
    item = _wait_callback(gw, review_id)
    assert item["callback"]["status"] == "failed: refused by the callback fetch policy"
    assert len(gw.inbox.items) == before
    entries = gw.services.audit.entries(kinds=["review.callback"])
    mine = [e for e in entries if e["data"]["review_id"] == review_id]
    assert mine and mine[0]["data"]["delivered"] is False


def _wait_callback(gw: Gateway, review_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        item = gw.get(gw.alice, f"/v1/reviews/{review_id}").json()
        if item["callback"]["status"] or time.monotonic() > deadline:
            return item  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_decisions_are_audited_and_the_chain_still_verifies(gw: Gateway) -> None:
    review_id = _held(gw.chat(gw.caller, shaky(f"{PLANTED}?")))
    gw.post(gw.alice, f"/v1/reviews/{review_id}/claim")
    gw.post(gw.alice, f"/v1/reviews/{review_id}/edit", {"text": f"Edited: {PLANTED}"})
    kinds = ["review.queued", "review.claimed", "review.decided"]
    entries = gw.services.audit.entries(kinds=kinds)
    mine = [e for e in entries if e["data"].get("review_id") == review_id]
    assert [e["kind"] for e in mine] == ["review.queued", "review.claimed", "review.decided"]
    decided = mine[-1]
    assert (decided["actor"], decided["tenant"]) == ("alice", "acme")
    assert decided["data"]["decision"] == "edited" and decided["data"]["caller"] == "carol"
    assert len(decided["data"]["final_sha256"]) == 64
    assert "otter" not in json.dumps(entries)  # no text of the item reaches the log
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--json"],
        env={"LOCKGATE_HOME": str(gw.home)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_review_texts_are_sealed_at_rest(gw: Gateway) -> None:
    review_id = _held(gw.chat(gw.caller, shaky(f"{PLANTED}")))
    gw.post(gw.bob, f"/v1/reviews/{review_id}/edit", {"text": f"Corrected: {PLANTED}"})
    assert PLANTED in gw.get(gw.bob, f"/v1/reviews/{review_id}").json()["question"]
    raw = stored_bytes(gw.home)
    assert raw and PLANTED.encode() not in raw and b"brass key" not in raw


def test_the_backlog_is_on_metrics(gw: Gateway) -> None:
    _held(gw.chat(gw.caller, shaky("metrics, open")))
    decided = _held(gw.chat(gw.caller, shaky("metrics, decided")))
    assert gw.post(gw.alice, f"/v1/reviews/{decided}/approve").status_code == 200
    text = gw.get(gw.bob, "/metrics").text
    pending = [
        line
        for line in text.splitlines()
        if line.startswith('lockgate_review_backlog{kind="groundedness",status="pending"}')
    ]
    assert pending and float(pending[0].split()[-1]) >= 1
    assert 'lockgate_review_backlog{kind="tool_call",status="pending"} 0' in text
    assert 'lockgate_review_oldest_open_age_seconds{kind="groundedness"}' in text
    assert 'lockgate_review_decisions_total{decision="approved",kind="groundedness"}' in text
    assert 'lockgate_review_items_total{kind="groundedness",mode="hold"}' in text
