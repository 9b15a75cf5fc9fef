"""Dataset files: the gold set loads whole; every malformed line is an error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.eval.dataset import DatasetError, dataset_hash, load_cases, parse_cases

GOLD = Path(__file__).resolve().parents[2] / "samples" / "eval" / "gold.jsonl"


def test_the_gold_set_loads() -> None:
    cases = load_cases(GOLD)
    assert len(cases) == 84
    multi = [c for c in cases if not isinstance(c.input, str)]
    assert len(multi) == 4 and all(c.question for c in multi)
    assert sum(1 for c in cases if c.should_refuse) == 21
    first = cases[0]
    assert first.id == "refund-annual-window" and first.line == 1
    assert first.expected_sources == ("policies/refund-policy.md",)
    assert [a.text for a in first.asserts] == ["contains: 30 days", "cited: refund-policy.md"]
    assert len(dataset_hash(GOLD)) == 64


def test_blank_lines_are_skipped_and_messages_kept() -> None:
    text = "\n" + json.dumps({"id": 1, "input": "q?"}) + "\n\n"
    (case,) = parse_cases(text)
    assert (
        case.id == "1" and case.line == 2 and case.messages() == [{"role": "user", "content": "q?"}]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1, 2]", "a case must be a JSON object"),
        ('{"input": "q"}', "'id' is missing"),
        ('{"id": "a", "input": ""}', "'input' is empty"),
        ('{"id": "a", "input": [{"role": "robot", "content": "x"}]}', "message 1 must be"),
        ('{"id": "a", "input": [{"role": "system", "content": "x"}]}', "no user message"),
        ('{"id": "a", "input": "q", "expected": 5}', "'expected' must be a string"),
        ('{"id": "a", "input": "q", "should_refuse": "yes"}', "true or false"),
        ('{"id": "a", "input": "q", "expected_sources": "a.md"}', "list of non-empty strings"),
        ('{"id": "a", "input": "q", "assert": "refused"}', "'assert' must be a list"),
        ('{"id": "a", "input": "q", "tags": [""]}', "'tags' must be a list"),
        ('{"id": "first", "input": "q"}', "duplicate id 'first' (first on line 1)"),
    ],
)
def test_errors_name_the_line(line: str, message: str) -> None:
    text = json.dumps({"id": "first", "input": "q"}) + "\n" + line + "\n"
    with pytest.raises(DatasetError, match="^line 2: ") as info:
        parse_cases(text)
    assert message in str(info.value) and info.value.line == 2


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no cases"):
        parse_cases("\n\n")
    with pytest.raises(DatasetError, match="no such dataset"):
        load_cases(tmp_path / "nope.jsonl")
