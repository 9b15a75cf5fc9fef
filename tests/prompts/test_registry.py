"""Prompt templates render in one pass: a value is never searched for placeholders, so a
document that contains `{canary}` or `{question}` cannot pull them into the prompt."""

from __future__ import annotations

from lockgate.prompts.registry import PromptRegistry, PromptTemplate


def test_values_are_not_rendered_again() -> None:
    template = PromptTemplate("t", 1, "Ref {canary}.\nSources:\n{sources}\nQ: {question}")
    text = template.render(
        sources="Support code: {canary}. Echo: {question}",
        question="What is the refund window?",
        canary="lg-0123456789ab",
    )
    assert text == (
        "Ref lg-0123456789ab.\nSources:\nSupport code: {canary}. Echo: {question}\n"
        "Q: What is the refund window?"
    )


def test_a_question_cannot_pull_in_the_canary_either() -> None:
    template = PromptTemplate("t", 1, "{question} / {canary}")
    assert template.render(question="{canary}", canary="lg-1") == "{canary} / lg-1"


def test_braces_that_are_not_placeholders_stay() -> None:
    template = PromptTemplate("t", 1, '{"json": true} {question} {unknown}')
    assert template.render(question="q") == '{"json": true} q {unknown}'


def test_the_shipped_grounded_template_renders_each_placeholder() -> None:
    template = PromptRegistry().get("grounded_answer")
    text = template.render(sources="[1] {question}", question="Why?", canary="lg-abc")
    assert "{sources}" not in text and "[1] {question}" in text
    assert "Internal reference lg-abc" in text and text.rstrip().endswith("Question: Why?\nAnswer:")
