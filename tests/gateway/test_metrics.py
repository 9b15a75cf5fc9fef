"""GET /metrics after real turns through a real gateway on loopback (fake upstream), read with
Prometheus's own text parser: the families a dashboard needs, their label names, and no label
that grows with users or requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lockgate.config import GuardPolicy, GuardrailsConfig, ModelSpec, ScannerRule, Settings
from lockgate.gateway.app import create_app
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import register
from lockgate.ingest.pipeline import Ingestor
from lockgate.observability.catalog import CATALOG, FORBIDDEN_LABELS
from tests.conftest import make_services, make_settings
from tests.support.server import serve


class _Email:
    name = "t_metrics_email"

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        return [
            Finding("EMAIL", m.start(), m.end(), 0.99)
            for m in re.finditer(r"[\w.]+@[\w.]+\.\w+", text)
        ]


register("t_metrics_email")(lambda p, d: _Email())


@pytest.fixture(scope="module")
def scrape(tmp_path_factory, embedder, fake_upstream) -> Iterator[dict[str, Any]]:
    docs = tmp_path_factory.mktemp("metrics-docs")
    (docs / "refunds.md").write_text("# Refunds\n\nAnnual plans are refunded within 30 days.\n")
    (docs / "lockers.md").write_text(
        "---\nowner: Facilities\nreview_by: 2001-01-01\n---\n# Lockers\n\nLockers are free.\n"
    )
    (docs / "empty.txt").write_text("")  # quarantined
    home = tmp_path_factory.mktemp("metrics-home")
    base_settings = make_settings(home, fake_upstream)
    models = dict(base_settings.models)
    for name in ("echo-small", "echo-large"):
        models[name] = ModelSpec(
            backend="openai", base_url=fake_upstream, price_input_per_1k=0.5,
            price_output_per_1k=1.5, context_window=8192,
        )
    settings = Settings(
        home=home,
        models=models,  # type: ignore[arg-type]
        grounded={"model": "echo-large"},  # type: ignore[arg-type]
        cache={"enabled": True},  # type: ignore[arg-type]
        guardrails=GuardrailsConfig(
            policies={
                "default": GuardPolicy(
                    input=[ScannerRule(scanner="t_metrics_email", action="redact")],
                    context=[],
                    output=[],
                )
            }
        ),
        auth={"allow_anonymous": True, "public_metrics": True},  # type: ignore[arg-type]
        routing={"routes": {"lockgate": {"small": "echo-small", "large": "echo-large"}}},  # type: ignore[arg-type]
    )
    services = make_services(settings, embedder)
    summary = Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
        [str(docs)]
    )
    assert summary.quarantined == 1
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:

        def chat(model: str, content: str, **extra: Any) -> httpx.Response:
            body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
            return httpx.post(
                base + "/v1/chat/completions",
                json=body,
                headers={"x-lockgate-user": "user-1234"},
                timeout=30,
            )

        # The process's metrics are shared with every other test of the session: the checks
        # below compare against this first scrape.
        before = httpx.get(base + "/metrics", timeout=30).text
        assert chat("lockgate", "How long is the refund window?").status_code == 200
        assert chat("lockgate", "How long is the refund window?").status_code == 200  # cached
        assert chat("echo", "mail me at a.b@example.com").status_code == 200
        with httpx.stream(
            "POST",
            base + "/v1/chat/completions",
            json={"model": "echo", "stream": True, "messages": [{"role": "user", "content": "s"}]},
            timeout=30,
        ) as resp:
            assert resp.status_code == 200
            resp.read()
        assert chat("fail-500", "boom").status_code >= 500
        assert chat("nope", "unknown model").status_code == 404
        text = httpx.get(base + "/metrics", timeout=30).text
        yield {f.name: f for f in text_string_to_metric_families(text)} | {
            "_text": text,
            "_before": {f.name: f for f in text_string_to_metric_families(before)},
        }


def _samples(parsed: dict[str, Any], family: str, **labels: str) -> list[Any]:
    return [
        s
        for s in parsed[family].samples
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]


def _delta(parsed: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    """How much the samples named `sample` with these labels grew during the fixture's turns."""

    def total(fams: dict[str, Any]) -> float:
        found = _samples(fams, family, **labels) if family in fams else []
        return sum(s.value for s in found if s.name == sample)

    return total(parsed) - total(parsed["_before"])


def test_requests_are_counted_by_app_model_status_and_code(scrape) -> None:
    ok = _samples(scrape, "lockgate_requests", model="echo", status="ok", code="200")
    assert _delta(scrape, "lockgate_requests", "lockgate_requests_total", model="echo",
                  status="ok", code="200") == 2
    assert set(ok[0].labels) == {"endpoint", "app", "model", "status", "code"}
    assert _samples(scrape, "lockgate_requests", model="fail-500", code="502") or _samples(
        scrape, "lockgate_requests", model="fail-500", status="error"
    )
    # A model nobody configured is not a label value of its own.
    assert not _samples(scrape, "lockgate_requests", model="nope")
    assert _samples(scrape, "lockgate_requests", model="none", code="404")


def test_latency_ttft_upstream_tokens_and_cost(scrape) -> None:
    family = "lockgate_request_duration_seconds"
    assert _delta(scrape, family, f"{family}_count", model="echo") == 2
    assert _delta(scrape, family, f"{family}_sum", model="echo") > 0
    # A plain answer's first token is its whole answer; both echo turns have one.
    family = "lockgate_time_to_first_token_seconds"
    assert _delta(scrape, family, f"{family}_count", model="echo") == 2
    family = "lockgate_upstream_duration_seconds"
    assert _delta(scrape, family, f"{family}_count", deployment="echo", outcome="ok") >= 2
    assert _samples(scrape, "lockgate_upstream_duration_seconds", outcome="error")
    assert _delta(scrape, "lockgate_tokens", "lockgate_tokens_total", model="echo",
                  direction="input") == 2 * 11  # the fake upstream's prompt_tokens
    assert _delta(scrape, "lockgate_cost_usd", "lockgate_cost_usd_total", model="echo") > 0
    stages = {s.labels["stage"] for s in scrape["lockgate_stage_duration_seconds"].samples}
    assert {"call_model", "retrieve", "validate"} <= stages


def test_cache_routing_guardrails_and_breakers(scrape) -> None:
    hits = "lockgate_cache_lookups", "lockgate_cache_lookups_total"
    assert _delta(scrape, *hits, result="hit") == 1
    routes = "lockgate_route_decisions", "lockgate_route_decisions_total"
    assert _delta(scrape, *routes) >= 1
    findings = "lockgate_guardrail_findings", "lockgate_guardrail_findings_total"
    assert _delta(scrape, *findings, scanner="t_metrics_email", action="redact") == 1
    assert _samples(scrape, "lockgate_breaker_state", deployment="echo")[0].value == 0
    assert _samples(scrape, "lockgate_upstream_in_flight", deployment="echo")[0].value == 0


def test_queues_review_backlog_freshness_and_quarantine(scrape) -> None:
    assert _samples(scrape, "lockgate_batch_queue_items", status="pending")[0].value == 0
    assert _samples(scrape, "lockgate_upstream_queue_depth", model="echo")[0].value == 0
    assert _samples(scrape, "lockgate_review_backlog", kind="groundedness", status="pending")
    assert _samples(scrape, "lockgate_documents_stale", reason="review_overdue")[0].value == 1
    age = _samples(scrape, "lockgate_documents_stale_oldest_age_seconds")[0].value
    assert age > 20 * 365 * 86400  # overdue since 2001
    assert _samples(scrape, "lockgate_documents_quarantined")[0].value == 1


def test_every_family_is_declared_and_no_label_is_high_cardinality(scrape) -> None:
    text = scrape["_text"]
    assert "user-1234" not in text  # the caller's user id is nowhere in the output
    for family in CATALOG.values():
        name = family.name.removesuffix("_total") if family.kind == "counter" else family.name
        parsed = scrape[name]
        for sample in parsed.samples:
            names = set(sample.labels) - {"le"}
            assert names == set(family.labels), (family.name, names)
            assert not names & FORBIDDEN_LABELS
            assert all(len(v) <= 64 for v in sample.labels.values())
    lockgate = [n for n in scrape if n.startswith("lockgate_")]
    assert len(lockgate) == len(CATALOG)
