"""Evaluation datasets: JSON Lines, one case per line (blank lines are skipped).

    {"id": "refund-window", "input": "How long ...?" | [{"role": "user", "content": ...}],
     "expected": "...", "expected_sources": ["policies/refund-policy.md"],
     "should_refuse": false, "assert": ["contains: 30 days"], "tags": ["factual"]}

Only `id` and `input` are required. Every problem is a `DatasetError` naming the line, found
before any case runs. Unknown fields are kept out of the case but allowed (the gold set has
`paraphrase_of`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.eval.assertions import Assertion, InvalidAssertion, parse_assertion

__all__ = ["Case", "DatasetError", "dataset_hash", "load_cases", "parse_cases"]

_ROLES = ("system", "user", "assistant")


class DatasetError(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class Case:
    id: str
    input: str | list[dict[str, str]]
    expected: str | None = None
    expected_sources: tuple[str, ...] = ()
    should_refuse: bool | None = None
    asserts: tuple[Assertion, ...] = ()
    tags: tuple[str, ...] = ()
    line: int = 0

    def messages(self) -> list[dict[str, str]]:
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        return [dict(m) for m in self.input]

    @property
    def question(self) -> str:
        """The last user message: what the answer is judged against."""
        users = [m["content"] for m in self.messages() if m["role"] == "user"]
        return users[-1] if users else ""


def _strings(value: Any, name: str, line: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DatasetError(line, f"'{name}' must be a list of non-empty strings")
    return tuple(value)


def _input(value: Any, line: int) -> str | list[dict[str, str]]:
    if isinstance(value, str):
        if not value.strip():
            raise DatasetError(line, "'input' is empty")
        return value
    if not isinstance(value, list) or not value:
        raise DatasetError(line, "'input' must be a question or a non-empty list of messages")
    messages = []
    for i, m in enumerate(value):
        if (
            not isinstance(m, dict)
            or m.get("role") not in _ROLES
            or not isinstance(m.get("content"), str)
        ):
            raise DatasetError(
                line,
                f"'input' message {i + 1} must be {{\"role\": system|user|assistant, "
                '"content": text}}',
            )
        messages.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "user" and m["content"].strip() for m in messages):
        raise DatasetError(line, "'input' has no user message with a question")
    return messages


def parse_case(obj: Any, line: int) -> Case:
    if not isinstance(obj, dict):
        raise DatasetError(line, "a case must be a JSON object")
    case_id = obj.get("id")
    if not isinstance(case_id, str | int) or isinstance(case_id, bool) or not str(case_id).strip():
        raise DatasetError(line, "'id' is missing or not a string")
    if "input" not in obj:
        raise DatasetError(line, "'input' is missing")
    expected = obj.get("expected")
    if expected is not None and not isinstance(expected, str):
        raise DatasetError(line, "'expected' must be a string")
    should_refuse = obj.get("should_refuse")
    if should_refuse is not None and not isinstance(should_refuse, bool):
        raise DatasetError(line, "'should_refuse' must be true or false")
    raw_asserts = obj.get("assert")
    if raw_asserts is not None and not isinstance(raw_asserts, list):
        raise DatasetError(line, "'assert' must be a list of strings")
    asserts = []
    for text in raw_asserts or []:
        try:
            asserts.append(parse_assertion(text, has_expected=bool(expected)))
        except InvalidAssertion as exc:
            raise DatasetError(line, str(exc)) from None
    return Case(
        id=str(case_id),
        input=_input(obj["input"], line),
        expected=expected,
        expected_sources=_strings(obj.get("expected_sources"), "expected_sources", line),
        should_refuse=should_refuse,
        asserts=tuple(asserts),
        tags=_strings(obj.get("tags"), "tags", line),
        line=line,
    )


def parse_cases(text: str) -> list[Case]:
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DatasetError(number, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        case = parse_case(obj, number)
        if case.id in seen:
            raise DatasetError(number, f"duplicate id '{case.id}' (first on line {seen[case.id]})")
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise DatasetError(None, "the dataset has no cases")
    return cases


def load_cases(path: Path) -> list[Case]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(None, f"no such dataset: {path}") from None
    except UnicodeDecodeError:
        raise DatasetError(None, f"{path} is not UTF-8 text") from None
    return parse_cases(text)


def dataset_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: two runs of the same hash ran the same cases."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class CaseLine:
    """A candidate case as written to a dataset file (`lockgate eval add`)."""

    id: str
    input: str | list[dict[str, str]]
    expected: str | None = None
    expected_sources: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        body: dict[str, Any] = {"id": self.id, "input": self.input}
        if self.expected is not None:
            body["expected"] = self.expected
        body["expected_sources"] = self.expected_sources
        body["tags"] = self.tags
        return json.dumps(body, ensure_ascii=False)
