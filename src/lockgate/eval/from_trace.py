"""A candidate evaluation case from a recorded trace: its question (or conversation), the
sources its answer cited as `expected_sources`, and, where someone corrected the answer, the
correction as `expected`: a reviewer's edit (the review store) first, else a user's
feedback correction. Tags say where it came from: `from-trace`, plus `corrected` and/or
`negative-feedback` (a rating of 2 or less).

The trace's citations are read back from its answer: a marker [n] names the n-th chunk the
prompt was given, in retrieval order; an answer without markers expects every chunk it was
given. Sources are written as file names, which match the stored paths by suffix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from lockgate.eval.dataset import CaseLine
from lockgate.store.feedback import NEGATIVE_AT_MOST, FeedbackRecord
from lockgate.store.reviews import CorrectionRecord

__all__ = ["case_from_trace", "cited_sources"]

_MARKER = re.compile(r"\[(\d{1,3})\]")


def _name(source: str) -> str:
    parts = [p for p in source.replace("\\", "/").split("/") if p]
    return parts[-1] if parts else source


def cited_sources(trace: dict[str, Any]) -> list[str]:
    given = [r for r in trace.get("retrieved") or [] if r.get("in_prompt")]
    if not given:
        return []
    marks = [int(n) for n in _MARKER.findall(trace.get("output") or "")]
    picked = [given[n - 1] for n in marks if 1 <= n <= len(given)]
    if not marks and not trace.get("refused"):
        picked = given
    return list(dict.fromkeys(_name(str(r.get("source") or "")) for r in picked))


def _input(trace: dict[str, Any]) -> str | list[dict[str, str]] | None:
    request = trace.get("request") or {}
    messages = [
        {"role": str(m.get("role")), "content": str(m.get("content") or "")}
        for m in request.get("messages") or []
        if isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
    ]
    users = [m for m in messages if m["role"] == "user" and m["content"].strip()]
    if not users:
        return None
    if len(messages) == 1:
        return users[0]["content"]
    return messages


def case_from_trace(
    trace: dict[str, Any],
    corrections: Sequence[CorrectionRecord] = (),
    feedback: Sequence[FeedbackRecord] = (),
) -> CaseLine:
    """ValueError when the trace holds no question to ask again."""
    question = _input(trace)
    if question is None:
        raise ValueError(f"trace {trace['id']} has no user message to make a case of")
    tid = trace["id"]
    mine_c = [c for c in corrections if c.trace_id == tid]
    mine_f = [f for f in feedback if f.trace_id == tid]
    tags = ["from-trace"]
    expected = None
    if mine_c:
        expected = max(mine_c, key=lambda c: c.created_at).corrected
    else:
        fixed = [f for f in mine_f if f.correction]
        if fixed:
            expected = max(fixed, key=lambda f: f.created_at).correction
    if expected is not None:
        tags.append("corrected")
    if any(f.rating <= NEGATIVE_AT_MOST for f in mine_f):
        tags.append("negative-feedback")
    return CaseLine(
        id=f"trace-{tid[:12]}",
        input=question,
        expected=expected,
        expected_sources=cited_sources(trace),
        tags=tags,
    )
