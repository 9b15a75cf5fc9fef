"""The cache in the live gateway against the fake upstream: exact and semantic hits skip the
model, a hit streams like a normal answer and is marked in the trace, changed documents
invalidate their answers, and refused or guarded answers are never stored."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.gateway.app import create_app
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import register
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import make_services, make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve


class _Email:
    name = "t_cache_email"
    pattern = re.compile(r"[\w.]+@[\w.]+\.\w+")

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        return [Finding("EMAIL", m.start(), m.end(), 0.99) for m in self.pattern.finditer(text)]


register("t_cache_email")(lambda p, d: _Email())


@pytest.fixture(scope="module")
def gw(tmp_path_factory, embedder) -> Iterator[tuple[str, Any, Any, Path]]:
    upstream = create_fake_upstream()
    docs = tmp_path_factory.mktemp("cache-docs")
    (docs / "refunds.md").write_text(
        "# Refunds\n\nAnnual plans are refunded within 30 days of purchase.\n"
    )
    (docs / "support.md").write_text("# Support\n\nSupport is available by email on weekdays.\n")
    guard = GuardrailsConfig(
        policies={
            "default": GuardPolicy(
                input=[ScannerRule(scanner="t_cache_email", action="redact")],
                context=[],
                output=[],
            )
        }
    )
    with serve(upstream) as up:
        home = tmp_path_factory.mktemp("cache-home")
        settings = make_settings(
            home, up + "/v1", grounded={"model": "echo"}, guardrails=guard, cache={"enabled": True}
        )
        services = make_services(settings, embedder)
        Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
            [str(docs)]
        )
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, services, upstream, docs


def ask(base: str, content: str, model: str = "lockgate", **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    resp = httpx.post(base + "/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def stream(base: str, content: str, model: str = "lockgate") -> list[dict[str, Any]]:
    body = {"model": model, "messages": [{"role": "user", "content": content}], "stream": True}
    events = []
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=30) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events


def _text(events: list[dict[str, Any]]) -> str:
    return "".join(e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices"))


def test_exact_hit_skips_the_model_and_is_marked(gw) -> None:
    base, services, upstream, _ = gw
    first = ask(base, "How long do refunds for annual plans take?")
    calls = len(upstream.state.calls)
    assert "cache" not in first["lockgate"]
    second = ask(base, "  how long do refunds for annual plans take  ")
    assert len(upstream.state.calls) == calls  # answered without the model
    assert second["lockgate"]["cache"] == {"hit": True, "kind": "exact"}
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert second["lockgate"]["citations"] == first["lockgate"]["citations"]
    trace = services.traces.get(second["lockgate"]["trace_id"])
    assert trace["cache"]["status"] == "hit" and trace["cache"]["kind"] == "exact"
    assert trace["cache"]["source_trace"] == first["lockgate"]["trace_id"]
    assert trace["cost"] == 0.0
    stages = [s["stage"] for s in trace["stages"]]
    assert "call_model" not in stages and "retrieve" not in stages
    original = services.traces.get(first["lockgate"]["trace_id"])
    assert original["cache"]["stored"] is True


def test_semantic_hit_and_near_miss(gw) -> None:
    base, _, upstream, _ = gw
    ask(base, "Is support available by email on weekdays?")
    calls = len(upstream.state.calls)
    para = ask(base, "Can you tell me if support is available by email on weekdays")
    assert para["lockgate"]["cache"] == {"hit": True, "kind": "semantic"}
    assert len(upstream.state.calls) == calls
    near = ask(base, "Is support available by phone on weekdays?")
    assert "cache" not in near["lockgate"]
    assert len(upstream.state.calls) == calls + 1


def test_hit_streams_like_a_normal_answer(gw) -> None:
    base, services, upstream, _ = gw
    plain = ask(base, "What is the refund window for annual plans?")
    calls = len(upstream.state.calls)
    events = stream(base, "What is the refund window for annual plans?")
    assert len(upstream.state.calls) == calls
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [e for e in events if e.get("choices") and e["choices"][0]["delta"].get("content")]
    assert len(pieces) > 1  # replayed in pieces, not one blob
    assert _text(events) == plain["choices"][0]["message"]["content"]
    finishes = [e["choices"][0]["finish_reason"] for e in events if e.get("choices")]
    assert finishes[-1] == "stop"
    assert events[-1]["lockgate"]["cache"]["hit"] is True
    trace = services.traces.get(events[-1]["lockgate"]["trace_id"])
    assert trace["stream"] is True and trace["cache"]["status"] == "hit"


def test_streamed_answer_is_stored_and_served_to_non_stream(gw) -> None:
    base, _, upstream, _ = gw
    events = stream(base, "Are annual plans refunded within thirty days?")
    calls = len(upstream.state.calls)
    again = ask(base, "Are annual plans refunded within thirty days?")
    assert again["lockgate"].get("cache", {}).get("hit") is True
    assert again["choices"][0]["message"]["content"] == _text(events)
    assert len(upstream.state.calls) == calls


def test_changed_document_invalidates_its_answers(gw) -> None:
    base, services, upstream, docs = gw
    q = "When are annual plans refunded after purchase?"
    ask(base, q)
    assert ask(base, q)["lockgate"]["cache"]["hit"] is True
    (docs / "refunds.md").write_text(
        "# Refunds\n\nAnnual plans are refunded within 14 days of purchase.\n"
    )
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(docs)]
    )
    services.vectors.refresh()
    calls = len(upstream.state.calls)
    after = ask(base, q)
    assert "cache" not in after["lockgate"]
    assert len(upstream.state.calls) == calls + 1
    assert "14 days" in upstream.state.calls[-1]["messages"][-1]["content"]
    trace = services.traces.get(after["lockgate"]["trace_id"])
    assert trace["cache"]["invalidated"] >= 1
    assert ask(base, q)["lockgate"]["cache"]["hit"] is True  # the fresh answer is cached


def test_passthrough_exact_cache_and_opt_out(gw) -> None:
    base, _, upstream, _ = gw
    first = ask(base, "Say hello", model="echo")
    calls = len(upstream.state.calls)
    second = ask(base, "Say hello", model="echo")
    assert second["lockgate"]["cache"]["hit"] is True
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert ask(base, "say hello", model="echo").get("lockgate", {}).get("cache") is None
    assert len(upstream.state.calls) == calls + 1  # pass-through text keeps its case
    ask(base, "Say hello", model="echo", lockgate={"cache": False})
    assert len(upstream.state.calls) == calls + 2
    # Other parameters are another scope.
    ask(base, "Say hello", model="echo", max_tokens=7)
    assert len(upstream.state.calls) == calls + 3


def test_redacted_input_and_refusals_are_not_cached(gw) -> None:
    base, services, upstream, _ = gw
    for _ in range(2):
        body = ask(base, "Refunds for bob@example.com annual plan?")
        assert "cache" not in body["lockgate"]
    trace = services.traces.get(body["lockgate"]["trace_id"])
    assert trace["cache"]["status"] == "bypass"
    refused = ask(base, "Quantum chromodynamics of neutron stars")
    assert refused["lockgate"]["refused"] is True
    again = ask(base, "Quantum chromodynamics of neutron stars")
    assert "cache" not in again["lockgate"]


def test_ttl_expiry(gw) -> None:
    base, services, _, _ = gw
    q = "Is support offered on weekdays by email?"
    ask(base, q)
    from sqlalchemy import update

    from lockgate.store import tables as tb

    with services.engine.begin() as conn:
        conn.execute(update(tb.cache_entries).values(expires_at=0))
    services.response_cache.index.clear()
    assert "cache" not in ask(base, q)["lockgate"]


def test_metrics_count_lookups(gw) -> None:
    text = httpx.get(gw[0] + "/metrics").text
    assert 'lockgate_cache_lookups_total{kind="exact",result="hit"}' in text
    assert "lockgate_cache_stores_total" in text
