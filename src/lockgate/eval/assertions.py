"""Promptfoo-like case assertions: parsed once when the dataset loads (an unknown or malformed
one is an error naming it then, not half-way through a run), checked against what a turn did.

    contains: X        X occurs in the answer (case and white space ignored)
    not-contains: X    X does not occur in the answer
    regex: P           Python regular expression P matches somewhere in the answer
    cited: FILE        a citation of the answer names FILE (path-suffix match, as retrieval
                       metrics match sources) and points at a retrieved chunk
    refused            the assistant declined (a refusal or a guardrail block)
    blocked            a guardrail blocked the turn
    redacted           a guardrail redacted (or blocked) what the caller sent
    similar >= x       embedding cosine of the answer and `expected` (needs `expected`)
    grounded >= x      the turn's groundedness score; the deterministic faithfulness score
                       when no grounding scanner scored it
    latency-ms < n     the turn's total latency in milliseconds
    cost < usd         the turn's cost in US dollars
Numeric checks accept any of <, <=, >, >=.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.eval.retrieval import matches

__all__ = ["Assertion", "InvalidAssertion", "Observed", "check", "parse_assertion"]

_TEXT_KINDS = ("contains", "not-contains", "regex", "cited")
_FLAG_KINDS = ("refused", "blocked", "redacted")
_NUMERIC_KINDS = ("similar", "grounded", "latency-ms", "cost")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_NUMERIC = re.compile(r"^(?P<kind>[a-z-]+)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+0-9.eE]+)$")
KNOWN = (
    "contains: X, not-contains: X, regex: P, cited: FILE, refused, blocked, redacted, "
    "similar >= x, grounded >= x, latency-ms < n, cost < usd"
)


class InvalidAssertion(ValueError):
    """An assertion string that cannot be parsed; the message says which and why."""


@dataclass(frozen=True)
class Assertion:
    text: str  # as written in the dataset
    kind: str
    arg: str = ""
    op: str = ""
    value: float = 0.0
    pattern: re.Pattern[str] | None = field(default=None, compare=False)


def parse_assertion(text: str, has_expected: bool = True) -> Assertion:
    if not isinstance(text, str) or not text.strip():
        raise InvalidAssertion("an assertion must be a non-empty string")
    raw = text.strip()
    if raw in _FLAG_KINDS:
        return Assertion(raw, raw)
    head, sep, rest = raw.partition(":")
    if sep and head.strip() in _TEXT_KINDS:
        kind, arg = head.strip(), rest.strip()
        if not arg:
            raise InvalidAssertion(f"'{raw}': '{kind}:' needs a value after the colon")
        pattern = None
        if kind == "regex":
            try:
                pattern = re.compile(arg)
            except re.error as exc:
                raise InvalidAssertion(f"'{raw}': invalid regular expression: {exc}") from None
        return Assertion(raw, kind, arg, pattern=pattern)
    m = _NUMERIC.match(raw)
    if m and m["kind"] in _NUMERIC_KINDS:
        try:
            value = float(m["value"])
        except ValueError:
            raise InvalidAssertion(f"'{raw}': '{m['value']}' is not a number") from None
        if m["kind"] == "similar" and not has_expected:
            raise InvalidAssertion(f"'{raw}': 'similar' needs the case's 'expected' answer")
        return Assertion(raw, m["kind"], op=m["op"], value=value)
    raise InvalidAssertion(f"unknown assertion '{raw}' (known: {KNOWN})")


@dataclass
class Observed:
    """What a turn did, as the assertions see it."""

    answer: str
    refused: bool
    guard_action: str
    citations: list[dict[str, Any]]
    retrieved_chunk_ids: set[int]
    latency_ms: float
    cost_usd: float
    similarity: float | None = None
    groundedness: float | None = None
    faithfulness: float | None = None


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def check(a: Assertion, seen: Observed) -> tuple[bool, str]:
    """(passed, detail): the detail says what was found, for a failing case's report."""
    if a.kind == "contains":
        ok = _squash(a.arg) in _squash(seen.answer)
        return ok, "found" if ok else f"'{a.arg}' not in the answer"
    if a.kind == "not-contains":
        ok = _squash(a.arg) not in _squash(seen.answer)
        return ok, "absent" if ok else f"'{a.arg}' is in the answer"
    if a.kind == "regex":
        assert a.pattern is not None
        m = a.pattern.search(seen.answer)
        return m is not None, f"matched '{m.group(0)[:80]}'" if m else "no match"
    if a.kind == "cited":
        named = [c for c in seen.citations if matches(str(c.get("source", "")), a.arg)]
        valid = [c for c in named if c.get("chunk_id") in seen.retrieved_chunk_ids]
        cited = sorted({str(c.get("source")) for c in seen.citations})
        if valid:
            return True, f"cited {valid[0].get('source')}"
        if named:
            return False, f"{a.arg} cited, but not a retrieved chunk"
        return False, f"not cited (cited: {', '.join(cited) or 'nothing'})"
    if a.kind == "refused":
        return seen.refused, "refused" if seen.refused else "answered"
    if a.kind == "blocked":
        ok = seen.guard_action == "block"
        return ok, f"guardrail action {seen.guard_action}"
    if a.kind == "redacted":
        ok = seen.guard_action in ("redact", "block")
        return ok, f"guardrail action {seen.guard_action}"
    actual, label = _numeric(a.kind, seen)
    if actual is None:
        return False, f"no {label} for this turn"
    ok = _OPS[a.op](actual, a.value)
    return ok, f"{label} {actual:.4g}"


def _numeric(kind: str, seen: Observed) -> tuple[float | None, str]:
    if kind == "similar":
        return seen.similarity, "similarity"
    if kind == "grounded":
        if seen.groundedness is not None:
            return seen.groundedness, "groundedness"
        return seen.faithfulness, "faithfulness"
    if kind == "latency-ms":
        return seen.latency_ms, "latency ms"
    return seen.cost_usd, "cost USD"
