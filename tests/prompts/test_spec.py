"""Prompt files: what a valid one looks like, every way a bad one is refused (naming the
file and the field), rendering in the sandbox, and the content hash that makes a version."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from lockgate.prompts.spec import (
    PromptSpec,
    PromptSpecError,
    load_specs,
    parse_ref,
    parse_spec,
    spec_of,
)

GOOD = """\
name: support_answer
description: Short answers for the help desk.
variables: [sources, question]
model:
  temperature: 0.2
  max_tokens: 120
template: |
  Sources:
  {{ sources }}
  Question: {{ question }}
"""


def test_a_good_file_parses_with_its_model_params() -> None:
    spec = parse_spec(GOOD, "support.yaml")
    assert spec.name == "support_answer" and spec.variables == ["sources", "question"]
    assert spec.model is not None and spec.model.temperature == 0.2
    assert spec.model.max_tokens == 120 and spec.model.top_p is None
    assert spec.render(sources="[1] a", question="why?") == "Sources:\n[1] a\nQuestion: why?\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nvariables: [q]\ntemplate: '{{ q }} {{ extra }}'\n",
            "used but not declared: extra",
        ),
        ("name: x\nvariables: [q, unused]\ntemplate: '{{ q }}'\n", "declared but not used: unused"),
        ("name: x\nvariables: []\ntemplate: '{{ q '\n", "template:"),
        ("name: Bad@Name\ntemplate: hi\n", "name:"),
        ("name: x\ntemplate: hi\ncolour: red\n", "colour"),
        ("name: x\ntemplate: hi\nmodel: {temperature: 9}\n", "model.temperature"),
        ("name: x\n", "template"),
        ("- just\n- a list\n", "YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: x\nvariables: [q, q]\ntemplate: '{{ q }}'\n", "twice"),
    ],
)
def test_a_bad_file_is_refused_naming_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PromptSpecError, match="p.yaml: ") as caught:
        parse_spec(text, "p.yaml")
    assert message in str(caught.value)


def test_values_are_never_rendered_as_templates() -> None:
    spec = parse_spec(
        "name: g\nvariables: [sources, canary]\ntemplate: 'secret {{ canary }} / {{ sources }}'\n"
    )
    chunk = "a document quoting {{ canary }} and {% if true %}x{% endif %} and {sources}"
    out = spec.render(sources=chunk, canary="CANARY-7f3a")
    assert out == f"secret CANARY-7f3a / {chunk}"
    assert out.count("CANARY-7f3a") == 1  # the chunk did not pull the canary in


def test_the_sandbox_keeps_templates_away_from_python() -> None:
    spec = PromptSpec(name="evil", template="{{ q.__class__.__mro__ }}", variables=["q"])
    with pytest.raises(SecurityError):
        spec.render(q="x")
    with pytest.raises(PromptSpecError, match="needs values for q"):
        spec.render()
    strict = PromptSpec(name="s", template="{{ q.missing }}", variables=["q"])
    with pytest.raises(UndefinedError):  # never an empty string in the prompt
        strict.render(q="x")


def test_the_hash_ignores_form_but_not_content() -> None:
    a = parse_spec(GOOD)
    reordered = parse_spec(
        "template: |\n  Sources:\n  {{ sources }}\n  Question: {{ question }}\n"
        "model: {max_tokens: 120, temperature: 0.2}\nvariables: [question, sources]\n"
        "description: Short answers for the help desk.\nname: support_answer\n"
    )
    assert a.hash == reordered.hash and len(a.hash) == 64
    changed = parse_spec(GOOD.replace("Question:", "Q:"))
    assert changed.hash != a.hash
    # What `show` prints reads back as the same version; so does what the store keeps.
    assert parse_spec(a.to_yaml()).hash == a.hash
    assert spec_of(a.canonical()).hash == a.hash


def test_load_specs_reads_a_folder_and_refuses_a_name_twice(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.yml").write_text("name: other\ntemplate: plain text\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a prompt", encoding="utf-8")
    found = load_specs(tmp_path)
    assert [s.name for _, s in found] == ["support_answer", "other"]
    assert [s.name for _, s in load_specs(tmp_path / "a.yaml")] == ["support_answer"]
    (sub / "c.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(PromptSpecError, match="also defined in"):
        load_specs(tmp_path)
    with pytest.raises(PromptSpecError, match="no such file"):
        load_specs(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PromptSpecError, match="no .yaml"):
        load_specs(empty)


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("grounded_answer", ("grounded_answer", None, None)),
        ("grounded_answer@staging", ("grounded_answer", "staging", None)),
        ("grounded_answer@3", ("grounded_answer", None, 3)),
    ],
)
def test_parse_ref(ref: str, parsed: tuple) -> None:
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "@x", "a@", "a@0", "a@Staging", "A@1", "a@b@c"])
def test_parse_ref_refuses(ref: str) -> None:
    with pytest.raises(ValueError):
        parse_ref(ref)
