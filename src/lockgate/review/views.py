"""What each party sees of a review item: the caller its status and, once decided, what it is
given; a reviewer everything needed to decide. Plain dicts, shared by HTTP, the CLI and the
callback."""

from __future__ import annotations

import json
from typing import Any

from lockgate.store.reviews import ReviewRecord


def outcome(rec: ReviewRecord, rejected_message: str) -> dict[str, Any]:
    """What the caller is given now: nothing while pending, the final answer (or the tool
    call's arguments) once approved or edited, the refusal once rejected."""
    out: dict[str, Any] = {}
    if rec.status == "pending":
        return out
    if rec.kind == "tool_call":
        approved = rec.status in ("approved", "edited") and rec.final_answer is not None
        out["arguments"] = json.loads(rec.final_answer or "{}") if approved else None
        return out
    if rec.status == "rejected":
        out["answer"] = rejected_message
        out["refused"] = True
        return out
    out["answer"] = rec.final_answer if rec.final_answer is not None else rec.answer
    out["refused"] = False
    # An edit replaces the text, so the original's citation markers no longer apply.
    out["citations"] = rec.citations if rec.status == "approved" else []
    return out


def for_caller(rec: ReviewRecord, rejected_message: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rec.id,
        "object": "review",
        "kind": rec.kind,
        "mode": rec.mode,
        "status": rec.status,
        "created_at": rec.created_at,
        "decided_at": rec.decided_at,
        "trace_id": rec.trace_id,
    }
    if rec.kind == "tool_call" and rec.payload is not None:
        body["tool_call"] = {"call_id": rec.payload.get("call_id"), "name": rec.payload.get("name")}
    body.update(outcome(rec, rejected_message))
    return body


def for_reviewer(rec: ReviewRecord, rejected_message: str) -> dict[str, Any]:
    body = for_caller(rec, rejected_message)
    body.update(
        {
            "tenant": rec.tenant,
            "principal": rec.principal,
            "app": rec.app,
            "model": rec.model,
            "reasons": rec.reasons,
            "groundedness": rec.groundedness,
            "question": rec.question,
            "original_answer": rec.answer,
            "excerpt": rec.excerpt,
            "context": rec.context,
            "citations": rec.citations,
            "tool_call": rec.payload,
            "claimed_by": rec.claimed_by if rec.claimed() else None,
            "claim_expires_at": rec.claim_expires_at if rec.claimed() else None,
            "decided_by": rec.decided_by,
            "note": rec.note,
            "callback": {"status": rec.callback_status, "attempts": rec.callback_attempts},
        }
    )
    return body


def summary(rec: ReviewRecord) -> dict[str, Any]:
    """One line of a listing: no texts beyond a short preview of the question."""
    question = (rec.question or "")[:120]
    return {
        "id": rec.id,
        "object": "review",
        "kind": rec.kind,
        "mode": rec.mode,
        "status": "claimed" if rec.claimed() else rec.status,
        "created_at": rec.created_at,
        "principal": rec.principal,
        "app": rec.app,
        "reasons": rec.reasons,
        "groundedness": rec.groundedness,
        "question": question,
        "claimed_by": rec.claimed_by if rec.claimed() else None,
        "decided_by": rec.decided_by,
        "trace_id": rec.trace_id,
    }
