"""Case assertions: every kind the gold set uses parses, each checks what it says, and an
unknown or malformed one is refused when the dataset loads."""

from __future__ import annotations

import pytest

from lockgate.eval.assertions import InvalidAssertion, Observed, check, parse_assertion


def seen(**kw: object) -> Observed:
    values: dict[str, object] = {
        "answer": "Annual plans: a full refund within 30 Days [1].",
        "refused": False,
        "guard_action": "allow",
        "citations": [{"source": "policies/refund-policy.md", "chunk_id": 7}],
        "retrieved_chunk_ids": {7, 8},
        "latency_ms": 120.0,
        "cost_usd": 0.002,
        "similarity": 0.83,
        "groundedness": None,
        "faithfulness": 0.75,
    }
    values.update(kw)
    return Observed(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains: 30 days", True),  # case and spacing ignored
        ("contains: 60 days", False),
        ("not-contains: 4111 1111", True),
        ("not-contains: full refund", False),
        ("regex: \\d+ Days", True),
        ("regex: \\d+ days", False),  # a regular expression is case-sensitive
        ("regex: ^No", False),
        ("cited: refund-policy.md", True),
        ("cited: policies/refund-policy.md", True),
        ("cited: faq.txt", False),
        ("refused", False),
        ("blocked", False),
        ("redacted", False),
        ("similar >= 0.8", True),
        ("similar > 0.9", False),
        ("grounded >= 0.7", True),  # no groundedness score: the faithfulness one
        ("latency-ms < 500", True),
        ("latency-ms < 100", False),
        ("cost < 0.01", True),
        ("cost <= 0.001", False),
    ],
)
def test_each_kind(text: str, expected: bool) -> None:
    ok, detail = check(parse_assertion(text), seen())
    assert ok is expected, detail
    assert detail


def test_flags_follow_the_turn() -> None:
    blocked = seen(refused=True, guard_action="block")
    assert check(parse_assertion("refused"), blocked)[0]
    assert check(parse_assertion("blocked"), blocked)[0]
    assert check(parse_assertion("redacted"), blocked)[0]  # blocked: nothing got through
    redacted = seen(guard_action="redact")
    assert check(parse_assertion("redacted"), redacted)[0]
    assert not check(parse_assertion("blocked"), redacted)[0]


def test_a_citation_must_point_at_a_retrieved_chunk() -> None:
    stray = seen(retrieved_chunk_ids={8})
    ok, detail = check(parse_assertion("cited: refund-policy.md"), stray)
    assert not ok and "not a retrieved chunk" in detail


def test_groundedness_wins_over_faithfulness_and_missing_scores_fail() -> None:
    a = parse_assertion("grounded >= 0.7")
    assert not check(a, seen(groundedness=0.2))[0]
    ok, detail = check(a, seen(groundedness=None, faithfulness=None))
    assert not ok and "no faithfulness" in detail
    ok, detail = check(parse_assertion("similar >= 0.5"), seen(similarity=None))
    assert not ok and "no similarity" in detail


def test_the_gold_set_assertions_all_parse() -> None:
    import json
    from pathlib import Path

    gold = Path(__file__).resolve().parents[2] / "samples" / "eval" / "gold.jsonl"
    texts = {a for line in gold.read_text().splitlines() for a in json.loads(line)["assert"]}
    kinds = {parse_assertion(t).kind for t in texts}
    assert kinds == {"contains", "not-contains", "cited", "refused", "blocked", "redacted"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("equals: 5", "unknown assertion 'equals: 5'"),
        ("contains:", "needs a value"),
        ("regex: [a-", "invalid regular expression"),
        ("similar >= lots", "unknown assertion"),
        ("latency-ms = 5", "unknown assertion"),
        ("", "non-empty string"),
    ],
)
def test_bad_assertions_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidAssertion, match=message):
        parse_assertion(text)
    with pytest.raises(InvalidAssertion, match="needs the case's 'expected'"):
        parse_assertion("similar >= 0.5", has_expected=False)
