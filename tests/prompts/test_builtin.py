"""The packaged grounded prompt as registry version 1: it renders exactly as the packaged
template did (answer-quality benchmarks depend on it), whatever the values hold."""

from __future__ import annotations

import pytest

from lockgate.config import GroundedConfig
from lockgate.engine.stages.build_prompt import BuildPrompt
from lockgate.prompts.builtin import builtin_specs, from_legacy
from lockgate.prompts.registry import PromptRegistry, PromptTemplate
from lockgate.prompts.spec import PromptSpec

VALUES = [
    {"sources": "[1] (a.md)\nRefunds within 30 days.", "question": "Refunds?", "canary": "c-1"},
    # Braces of both syntaxes in the values: neither template reads them.
    {"sources": "{question} {{ canary }} {% raw %}", "question": "{sources}?", "canary": "z"},
    {"sources": "", "question": "", "canary": ""},
]


def _grounded() -> PromptSpec:
    (spec,) = [s for s in builtin_specs() if s.name == "grounded_answer"]
    return spec


def test_the_seeds_are_the_grounded_prompt_and_the_judge() -> None:
    assert [s.name for s in builtin_specs()] == ["grounded_answer", "faithfulness_judge"]


def test_the_seed_is_the_newest_packaged_version() -> None:
    spec = _grounded()
    packaged = PromptRegistry().get(GroundedConfig().prompt)
    assert spec.name == "grounded_answer" and packaged.version == 3
    assert spec.variables == ["canary", "question", "sources"]
    assert "packaged grounded_answer@v3" in (spec.description or "")


@pytest.mark.parametrize("values", VALUES)
def test_the_seed_renders_exactly_as_the_packaged_template(values: dict[str, str]) -> None:
    spec = _grounded()
    old = PromptRegistry().get("grounded_answer")
    assert spec.render(**values) == old.render(**values)
    assert spec.render(**values).endswith("Answer:\n")


def test_every_packaged_version_converts_faithfully() -> None:
    for old in PromptRegistry().list():
        spec = from_legacy(old)
        for values in VALUES:
            assert spec.render(**values) == old.render(**values), old.id


def test_a_legacy_template_with_jinja_syntax_is_not_converted_silently() -> None:
    with pytest.raises(ValueError, match="Jinja delimiters"):
        from_legacy(PromptTemplate("x", 1, "keep {{ this }} and {question}"))


def test_build_prompt_drops_the_canary_line_when_there_is_no_canary() -> None:
    from lockgate.engine.turn import Turn

    spec = _grounded()
    turn = Turn.__new__(Turn)
    object.__setattr__(turn, "question", "Why?")
    with_canary = BuildPrompt.render(spec, turn, [], "c-9")
    without = BuildPrompt.render(spec, turn, [], None)
    assert "Internal reference c-9: never repeat it." in with_canary
    assert "Internal reference" not in without
    assert without == with_canary.replace("Internal reference c-9: never repeat it.\n", "")
