"""A case from a trace: the question or conversation, the cited sources by file name, and a
reviewer's correction before a user's."""

from __future__ import annotations

from lockgate.eval.from_trace import case_from_trace, cited_sources
from lockgate.store.feedback import FeedbackRecord
from lockgate.store.reviews import CorrectionRecord

TRACE = {
    "id": "0123456789abcdef" * 2,
    "request": {"messages": [{"role": "user", "content": "How long is the refund window?"}]},
    "retrieved": [
        {"source": "/srv/docs/policies/refund-policy.md", "in_prompt": True},
        {"source": "/srv/docs/faq.txt", "in_prompt": True},
        {"source": "/srv/docs/other.md", "in_prompt": False},
    ],
    "output": "Thirty days [2].",
    "refused": 0,
}


def _correction(text: str, at: float) -> CorrectionRecord:
    return CorrectionRecord(
        1, at, "acme", "u", "rev_1", TRACE["id"], None, None, "r", "q", "orig", text
    )


def test_cited_sources_follow_the_markers() -> None:
    assert cited_sources(TRACE) == ["faq.txt"]
    assert cited_sources({**TRACE, "output": "Thirty days."}) == ["refund-policy.md", "faq.txt"]
    assert cited_sources({**TRACE, "output": "I don't know.", "refused": 1}) == []
    assert cited_sources({**TRACE, "output": "See [9]."}) == []


def test_a_plain_trace() -> None:
    line = case_from_trace(TRACE)
    assert line.id == "trace-0123456789ab" and line.input == "How long is the refund window?"
    assert line.expected is None and line.tags == ["from-trace"]


def test_corrections_and_feedback() -> None:
    fb = [
        FeedbackRecord("fb1", "acme", "u", TRACE["id"], 1, correction="user fix", created_at=5),
        FeedbackRecord("fb2", "acme", "u", "other", 1, correction="not mine", created_at=9),
    ]
    line = case_from_trace(TRACE, [], fb)
    assert line.expected == "user fix" and line.tags == [
        "from-trace",
        "corrected",
        "negative-feedback",
    ]
    reviewed = case_from_trace(TRACE, [_correction("old", 1), _correction("new", 2)], fb)
    assert reviewed.expected == "new"  # the reviewer's latest edit wins
    happy = case_from_trace(TRACE, [], [FeedbackRecord("fb3", "acme", "u", TRACE["id"], 5)])
    assert happy.tags == ["from-trace"]


def test_a_conversation_is_kept_whole() -> None:
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "refunds?"},
    ]
    line = case_from_trace({**TRACE, "request": {"messages": msgs}})
    assert line.input == msgs
