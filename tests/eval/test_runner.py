"""The runner through the real pipeline with the in-process mock model: no more cases in
flight than `concurrency`, every case bypasses the response cache (an earlier run's answer
would be measured again), a failing turn fails its case and not the run, and a streamed turn
has a time to first token."""

from __future__ import annotations

import asyncio
from typing import Any

from lockgate.config import ModelSpec
from lockgate.engine.run import Engine, Reply
from lockgate.engine.turn import Call, Principal
from lockgate.eval.dataset import parse_cases
from lockgate.eval.runner import EvalRunner, RunOptions
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import make_services, make_settings

MOCK = {"backend": "mock", "price_input_per_1k": 1.0, "price_output_per_1k": 1.0}
ANSWER = "Annual plans can be refunded within 30 days."


class CountingEngine(Engine):
    in_flight = 0
    most = 0

    async def run_turn(self, call: Call) -> Reply:
        CountingEngine.in_flight += 1
        CountingEngine.most = max(CountingEngine.most, CountingEngine.in_flight)
        try:
            return await super().run_turn(call)
        finally:
            CountingEngine.in_flight -= 1


def services_for(tmp_path, embedder, model: dict[str, Any]) -> Any:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "refunds.md").write_text(ANSWER + " Monthly plans are not refundable.\n")
    base = make_settings(tmp_path / "home", None, cache={"enabled": True})
    models = {**base.models, "answer": ModelSpec.model_validate({**MOCK, **model})}
    grounded = base.grounded.model_copy(update={"model": "answer"})
    services = make_services(
        base.model_copy(update={"models": models, "grounded": grounded}), embedder
    )
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(docs)]
    )
    return services


CASES = "".join(
    f'{{"id": "c{i}", "input": "Within how many days can annual plans be refunded? ({i})", '
    f'"expected": "{ANSWER}", "expected_sources": ["refunds.md"], '
    '"assert": ["contains: 30 days", "cited: refunds.md"]}\n'
    for i in range(6)
)


def test_concurrency_cache_bypass_and_ttft(tmp_path, embedder) -> None:
    services = services_for(
        tmp_path, embedder, {"params": {"reply": ANSWER, "latency_ms": 30, "word_latency_ms": 5}}
    )
    cases = parse_cases(CASES)
    engine = CountingEngine(services)
    runner = EvalRunner(services, Principal(), RunOptions(concurrency=2), engine)
    seen: list[str] = []
    first = asyncio.run(runner.run(cases, lambda r: seen.append(r["id"])))
    assert CountingEngine.most == 2
    assert sorted(seen) == [c.id for c in cases] and [r["id"] for r in first] == sorted(seen)
    assert all(r["passed"] for r in first), first[0]["assertions"]
    for r in first:
        assert r["ttft_ms"] is not None and 30 <= r["ttft_ms"] < r["latency_ms"]
        assert r["cost_usd"] > 0 and r["metrics"]["hit_at_k"] == 1.0
    second = asyncio.run(runner.run(cases))
    for r in second:
        trace = services.traces.get(r["trace_id"])
        assert trace["cache"]["status"] == "bypass", trace["cache"]
        assert trace["output"] == r["answer"]


def test_a_failing_turn_fails_its_case_only(tmp_path, embedder) -> None:
    services = services_for(
        tmp_path, embedder, {"params": {"fail_status": 503}, "resilience": {"retries": 0}}
    )
    cases = parse_cases(CASES)[:2]
    runner = EvalRunner(services, Principal(), RunOptions(stream=False))
    # With the extractive stand-in on, the cases pass on the documents' words: the run says so.
    stand_in = asyncio.run(runner.run(cases))
    assert all(r["metrics"]["degraded"] == 1.0 and r["error"] is None for r in stand_in)
    grounded = services.settings.grounded
    off = grounded.model_copy(
        update={"degrade": grounded.degrade.model_copy(update={"enabled": False})}
    )
    services.settings = services.settings.model_copy(update={"grounded": off})
    runner = EvalRunner(services, Principal(), RunOptions(stream=False))
    records = asyncio.run(runner.run(cases))
    for r in records:
        assert r["passed"] is False and r["error"] and r["error"].startswith("5")
        assert r["trace_id"] and services.traces.get(r["trace_id"])["status"] == "error"
    exp = runner.experiment(cases, records, tmp_path / "d.jsonl", "h")
    assert exp["pass_rate"] == 0.0 and exp["metrics"]["errors"] == 2


class SheddingEngine(Engine):
    """The real pipeline, behind a gate that sheds the first `shed` turns as a busy
    gateway's CPU gate does (503 server_busy with Retry-After)."""

    shed = 2
    calls = 0

    async def run_turn(self, call: Call) -> Reply:
        SheddingEngine.calls += 1
        if SheddingEngine.calls <= SheddingEngine.shed:
            from lockgate.engine.cpu import busy

            raise busy(retry_after_s=0)
        return await super().run_turn(call)


def test_a_turn_the_pipeline_sheds_is_asked_again_not_failed(tmp_path, embedder) -> None:
    services = services_for(tmp_path, embedder, {"params": {"reply": ANSWER}})
    (case,) = parse_cases(CASES.splitlines()[0] + "\n")
    runner = EvalRunner(services, Principal(), RunOptions(), SheddingEngine(services))
    (record,) = asyncio.run(runner.run([case]))
    assert SheddingEngine.calls == 3
    assert record["passed"] and record["error"] is None, record
    # A pipeline that stays busy fails the case, naming why, after a bounded number of tries.
    SheddingEngine.calls, SheddingEngine.shed = 0, 100
    (record,) = asyncio.run(runner.run([case]))
    assert not record["passed"] and "server_busy" in record["error"]
    from lockgate.eval.runner import SHED_RETRIES

    assert SheddingEngine.calls == SHED_RETRIES + 1
