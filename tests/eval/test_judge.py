"""The judge prompt is a registry prompt (seeded from the package as version 1) and renders its
variables (sandboxed); the judge's reply is read as a share; a judge run through the
in-process mock model scores each case and its agreement with the deterministic metric is
reported, and the experiment names the judge prompt's version."""

from __future__ import annotations

import asyncio

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.turn import Principal
from lockgate.eval.dataset import parse_cases
from lockgate.eval.judge import parse_score, resolve_judge_prompt
from lockgate.eval.runner import EvalRunner, RunOptions
from lockgate.ingest.pipeline import Ingestor
from lockgate.prompts.spec import PromptSpec, PromptSpecError
from lockgate.store.prompts import PromptNotFound
from tests.conftest import make_services, make_settings


def test_the_judge_prompt_is_a_registry_prompt(tmp_path, embedder) -> None:
    services = make_services(make_settings(tmp_path / "home", None), embedder)
    resolved = resolve_judge_prompt(services.prompt_resolver)
    assert (resolved.name, resolved.version, resolved.label) == (
        "faithfulness_judge", 1, "production"
    )
    prompt = resolved.spec
    assert sorted(prompt.variables) == ["answer", "context", "question"]
    text = prompt.render(question="Q?", context=["first chunk", "second"], answer="A.")  # type: ignore[arg-type]
    assert "[1] first chunk" in text and "[2] second" in text and "Question: Q?" in text
    with pytest.raises(PromptSpecError, match="needs values for answer"):
        prompt.render(question="q", context=[])  # type: ignore[arg-type]
    # Document text is data: a template expression inside it is not evaluated.
    assert "{{ 7 * 7 }}" in prompt.render(question="q", context=["{{ 7 * 7 }}"], answer="a")  # type: ignore[arg-type]
    # A pushed version, labelled, is what the judge then uses; an unknown label is an error.
    store = services.prompt_store
    stricter = PromptSpec(
        name="faithfulness_judge",
        template="Strict. {{ question }} {{ context | join(' ') }} {{ answer }} Share:",
        variables=["question", "context", "answer"],
    )
    seq = store.push(stricter.name, stricter.hash, stricter.canonical(), "test").seq
    store.set_label("faithfulness_judge", "strict", seq, "test")
    assert resolve_judge_prompt(services.prompt_resolver, "faithfulness_judge@strict").version == 2
    with pytest.raises(PromptNotFound):
        resolve_judge_prompt(services.prompt_resolver, "faithfulness_judge@nope")
    # A prompt with other variables (the grounded answer's) cannot judge.
    with pytest.raises(ValueError, match="cannot judge"):
        resolve_judge_prompt(services.prompt_resolver, "grounded_answer@production")


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
    assert exp["options"]["judge_prompt"] == "faithfulness_judge@1"
