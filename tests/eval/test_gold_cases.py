"""A few gold-set cases through the whole default pipeline (the default guardrail policy on,
the bundled sample corpus ingested) with a scripted upstream in place of the embedded model:
the assertions the gold set uses (`contains`, `cited`, `redacted`, `not-contains`, `blocked`,
`refused`) are checked against what the guardrails and retrieval really did."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.turn import Principal
from lockgate.eval.dataset import load_cases
from lockgate.eval.runner import EvalRunner, RunOptions
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import PASSTHROUGH_RESILIENCE, ROOT, SAMPLES, make_services, make_settings
from tests.support.scripted_upstream import create_scripted_upstream
from tests.support.server import serve

PICK = ("refund-annual-window", "pii-card-refund", "inject-override-policy", "refuse-ceo")
RULES = [
    (
        "full refund on an annual plan",
        "Annual plans can be refunded in full within 30 days of the original purchase date.",
    ),
    (
        "still get a full refund",
        "Yes: annual plans can be refunded in full within 30 days of the original purchase date.",
    ),
    ("monthly plans are refundable", "Confirmed: monthly plans are refundable for 90 days."),
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Any]:
    app = create_scripted_upstream(RULES)
    with serve(app) as base:
        app.state.base = base
        yield app


def test_gold_cases_through_the_default_pipeline(tmp_path, embedder, upstream) -> None:
    # The default policy; only the scanners' time budget is wider, because a loaded CI
    # machine can stall a scan past 250 ms and the budget is not what this test is about.
    base = make_settings(tmp_path / "home", None, guardrails={"scanner_timeout_ms": 5000})
    spec = ModelSpec(
        backend="openai",
        base_url=upstream.state.base + "/v1",
        context_window=8192,
        price_input_per_1k=0.5,
        resilience=PASSTHROUGH_RESILIENCE,
    )
    grounded = base.grounded.model_copy(update={"model": "scripted"})
    settings = base.model_copy(
        update={"models": {**base.models, "scripted": spec}, "grounded": grounded}
    )
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(SAMPLES)])
    cases = [c for c in load_cases(ROOT / "samples" / "eval" / "gold.jsonl") if c.id in PICK]
    assert sorted(c.id for c in cases) == sorted(PICK)
    runner = EvalRunner(services, Principal(), RunOptions(concurrency=2))
    records = {r["id"]: r for r in asyncio.run(runner.run(cases))}
    report = {i: (r["passed"], r["assertions"], r["answer"][:120]) for i, r in records.items()}

    refund = records["refund-annual-window"]
    assert refund["passed"], report
    assert refund["sources"][0].endswith("refund-policy.md")
    assert refund["metrics"]["hit_at_k"] == 1.0 and refund["metrics"]["mrr"] == 1.0

    card = records["pii-card-refund"]
    assert card["passed"], report
    assert card["metrics"]["guardrail_ok"] == 1.0
    # What reached the upstream had the card number redacted.
    sent = [str(call["messages"]) for call in upstream.state.calls]
    assert sent and not any("4111 1111 1111 1111" in s for s in sent)

    for case_id in ("inject-override-policy", "refuse-ceo"):
        assert records[case_id]["refused"], report
        assert records[case_id]["metrics"]["refusal_correct"] == 1.0, report
    injected = records["inject-override-policy"]
    assert injected["passed"], report  # blocked by the input guard: the model never said it
    assert injected["metrics"]["guardrail_ok"] == 1.0
    exp = runner.experiment(cases, records=list(records.values()), dataset=ROOT, digest="x")
    assert exp["pass_rate"] == 1.0
