"""The small/large router: signals, thresholds, override, trace, and the cost report, in the
live gateway against the fake upstream (two priced models that both echo)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lockgate.config import ModelSpec, RoutingConfig, Settings
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.routing.report import routing_report
from lockgate.routing.router import Router, Signals, question_type
from tests.conftest import make_services, make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("What is the refund window?", "lookup"),
        ("How do I reset my password?", "procedural"),
        ("Why did my invoice go up?", "reasoning"),
        ("Compare the pro and basic plans", "comparison"),
        ("Write a short email to a customer", "creative"),
        ("Fix this python function", "code"),
    ],
)
def test_question_types(text: str, kind: str) -> None:
    assert question_type(text) == kind


def _router() -> Router:
    return Router(RoutingConfig(routes={"auto": {"small": "s", "large": "l"}}))  # type: ignore[dict-item]


def test_each_signal_can_send_a_request_large() -> None:
    r = _router()
    easy = Signals(prompt_tokens=10, question_type="lookup", turns=1, retrieval=0.8)
    d = r.decide("auto", easy)
    assert d is not None and d.model == "s" and d.tier == "small"
    for change, word in (
        ({"prompt_tokens": 5000}, "prompt"),
        ({"question_type": "reasoning"}, "question type"),
        ({"turns": 9}, "conversation depth"),
        ({"retrieval": 0.2}, "retrieval confidence"),
        ({"guard_action": "flag"}, "guardrail action"),
    ):
        sig = Signals(**{**easy.__dict__, **change})
        d = r.decide("auto", sig)
        assert d is not None and d.model == "l" and word in d.reason, change
    assert r.decide("other", easy) is None  # not a routed model name
    forced = r.decide("auto", Signals(5000, "code", 9), override="small")
    assert forced is not None and forced.model == "s" and forced.reason == "override: small"


def test_routes_must_name_known_models(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        Settings(home=tmp_path, routing={"routes": {"lockgate": {"small": "nope", "large": "x"}}})


@pytest.fixture(scope="module")
def gw(tmp_path_factory, embedder) -> Iterator[tuple[str, Any, Any]]:
    upstream = create_fake_upstream()
    docs = tmp_path_factory.mktemp("route-docs")
    (docs / "refunds.md").write_text("# Refunds\n\nAnnual plans are refunded within 30 days.\n")
    with serve(upstream) as up:
        home = tmp_path_factory.mktemp("route-home")
        base_settings = make_settings(home, up + "/v1")
        models = dict(base_settings.models)
        for name, (pin, pout) in {"echo-small": (0.05, 0.15), "echo-large": (0.5, 1.5)}.items():
            models[name] = ModelSpec(
                backend="openai",
                base_url=up + "/v1",
                price_input_per_1k=pin,
                price_output_per_1k=pout,
                context_window=8192,
            )
        settings = Settings(
            home=home,
            models=models,  # type: ignore[arg-type]
            grounded={"model": "echo-large"},  # type: ignore[arg-type]
            guardrails={"enabled": False},  # type: ignore[arg-type]
            cache={"enabled": False},  # type: ignore[arg-type]
            auth={"allow_anonymous": True},  # type: ignore[arg-type]  # as make_settings
            routing={  # type: ignore[arg-type]
                "routes": {
                    "lockgate": {"small": "echo-small", "large": "echo-large"},
                    "echo-large": {"small": "echo-small", "large": "echo-large"},
                },
                "min_small_retrieval": 0.3,
            },
        )
        services = make_services(settings, embedder)
        Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
            [str(docs)]
        )
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, services, upstream


def ask(base: str, messages: list[dict[str, str]], model: str = "echo-large", **extra: Any):
    body = {"model": model, "messages": messages, **extra}
    resp = httpx.post(base + "/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_gateway_routes_and_traces_the_decision(gw) -> None:
    base, services, upstream = gw
    easy = ask(base, [{"role": "user", "content": "What is the capital of France?"}])
    assert upstream.state.calls[-1]["model"] == "echo-small"
    trace = services.traces.get(easy["lockgate"]["trace_id"])
    assert trace["route"]["model"] == "echo-small" and trace["route"]["tier"] == "small"
    assert trace["backend"] == "openai:echo-small"
    assert any(s["stage"] == "route.decision" for s in trace["stages"])

    hard = ask(base, [{"role": "user", "content": "Why would a refund be denied? Explain."}])
    assert upstream.state.calls[-1]["model"] == "echo-large"
    trace = services.traces.get(hard["lockgate"]["trace_id"])
    assert "question type 'reasoning'" in trace["route"]["reason"]

    deep = [{"role": "user", "content": f"What is item {i}?"} for i in range(5)]
    ask(base, deep)
    assert upstream.state.calls[-1]["model"] == "echo-large"

    forced = ask(
        base,
        [{"role": "user", "content": "What is the capital of France?"}],
        lockgate={"route": "large"},
    )
    assert upstream.state.calls[-1]["model"] == "echo-large"
    assert services.traces.get(forced["lockgate"]["trace_id"])["route"]["override"] == "large"

    grounded = ask(
        base,
        [{"role": "user", "content": "What is the refund window for annual plans?"}],
        model="lockgate",
    )
    trace = services.traces.get(grounded["lockgate"]["trace_id"])
    assert trace["route"]["signals"]["retrieval"] is not None


def test_report_shares_and_savings(gw) -> None:
    base, services, _ = gw
    report = routing_report(services.engine, services.settings)
    assert report["routed_requests"] >= 5
    assert abs(sum(report["share"].values()) - 1) < 1e-3
    assert set(report["share"]) == {"echo-small", "echo-large"}
    assert report["saved"] > 0 and report["always_large_cost"] > report["cost"]
    assert report["large_reasons"]["question type"] >= 1
