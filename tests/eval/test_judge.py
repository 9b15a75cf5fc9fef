"""The judge prompt loads from the package and renders its variables (sandboxed); the judge's
reply is read as a share; a judge run through the in-process mock model scores each case and
its agreement with the deterministic metric is reported."""

from __future__ import annotations

import asyncio

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.turn import Principal
from lockgate.eval.dataset import parse_cases
from lockgate.eval.judge import load_prompt, parse_score
from lockgate.eval.runner import EvalRunner, RunOptions
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import make_services, make_settings


def test_the_packaged_prompt() -> None:
    prompt = load_prompt()
    assert prompt.name == "faithfulness_judge"
    assert prompt.variables == ("question", "context", "answer")
    text = prompt.render(question="Q?", context=["first chunk", "second"], answer="A.")
    assert "[1] first chunk" in text and "[2] second" in text and "Question: Q?" in text
    with pytest.raises(ValueError, match="needs answer"):
        prompt.render(question="q", context=[])
    # Document text is data: a template expression inside it is not evaluated.
    assert "{{ 7 * 7 }}" in prompt.render(question="q", context=["{{ 7 * 7 }}"], answer="a")


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("0.75", 0.75),
        (" .5\n", 0.5),
        ("1", 1.0),
        ("Share: 0", 0.0),
        ("80%", 0.8),
        ("about 2.5", None),
        ("no idea", None),
        ("1.0 (all supported)", 1.0),
    ],
)
def test_parse_score(reply: str, score: float | None) -> None:
    assert parse_score(reply) == score


def test_a_judged_run(tmp_path, embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("Annual plans can be refunded within 30 days.\n")
    base = make_settings(tmp_path / "home", None)
    mock = {"backend": "mock", "price_input_per_1k": 1.0, "price_output_per_1k": 1.0}
    models = {
        **base.models,
        "answer": ModelSpec.model_validate(
            {**mock, "params": {"reply": "Annual plans can be refunded within 30 days."}}
        ),
        "judge": ModelSpec.model_validate({**mock, "params": {"reply": "0.9"}}),
    }
    grounded = base.grounded.model_copy(update={"model": "answer"})
    settings = base.model_copy(update={"models": models, "grounded": grounded})
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(docs)]
    )
    cases = parse_cases(
        '{"id": "a", "input": "Within how many days can annual plans be refunded?", '
        '"expected": "Within 30 days.", "assert": ["grounded >= 0.9", "contains: 30 days"]}\n'
    )
    runner = EvalRunner(services, Principal(), RunOptions(judge="judge", stream=False))
    records = asyncio.run(runner.run(cases))
    (case,) = records
    assert case["error"] is None and case["passed"], case["assertions"]
    assert case["metrics"]["judge_faithfulness"] == 0.9
    assert case["metrics"]["faithfulness"] == 1.0
    exp = runner.experiment(cases, records, docs / "x.jsonl", "h")
    assert exp["metrics"]["judge_agreement"] == 1.0 and exp["metrics"]["judge_pairs"] == 1
    assert exp["options"]["judge"] == "judge" and exp["options"]["model"] == "answer"
