"""The review queue as the gateway's tool approval provider.

A model's call to a side-effect tool becomes a `tool_call` review item and the caller gets a
409 with its id. The caller learns the decision by polling `GET /v1/reviews/{id}` (or from
the app's callback), and sends the conversation again: when the model makes the same calls
(same caller, tool and arguments) and a reviewer approved each of them within
`review.tool_approval_window_s`, they are returned; a rejection is a 403. A reviewer's edited
arguments approve the edited call only: the model's original call is refused with a pointer
to the review, because the gateway never rewrites what a model asked for."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lockgate.engine.approvals import ApprovalDecision
from lockgate.models.base import ToolCall
from lockgate.plugins.hookspecs import hookimpl
from lockgate.review.tools import ToolCallRequest
from lockgate.store.reviews import ReviewRecord

if TYPE_CHECKING:
    from lockgate.engine.turn import Turn
    from lockgate.review.queue import ReviewQueue
    from lockgate.services import Services


def arguments_of(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as the object a reviewer reads and edits; text that is not a JSON
    object is kept whole under `_raw`, so it still matches exactly."""
    try:
        parsed = json.loads(call.arguments) if call.arguments else {}
    except ValueError:
        return {"_raw": call.arguments}
    return parsed if isinstance(parsed, dict) else {"_raw": call.arguments}


def _key(name: str, arguments: Any) -> str:
    return name + "\x00" + json.dumps(arguments, sort_keys=True, separators=(",", ":"))


class ReviewApprovals:
    def __init__(self, queue: ReviewQueue, window_s: float) -> None:
        self.queue = queue
        self.window_s = window_s

    async def request(self, turn: Turn, calls: Sequence[ToolCall]) -> ApprovalDecision:
        return await asyncio.to_thread(self.decide, turn, calls)

    def decide(self, turn: Turn, calls: Sequence[ToolCall]) -> ApprovalDecision:
        principal = turn.principal
        wanted = [(call, arguments_of(call)) for call in calls]
        earlier = self.queue.store.tool_calls_of(
            principal.tenant, principal.id, time.time() - self.window_s
        )
        found = [_match(earlier, call.name, args) for call, args in wanted]
        if all(match is not None for match in found):
            return _verdict([match for match in found if match is not None])
        question = _last_user_text(turn)
        held = self.queue.hold_tool_calls(
            [ToolCallRequest(c.id, c.name, args) for c, args in wanted],
            principal=principal,
            trace_id=turn.trace_id,
            app=turn.app,
            model=turn.model_name,
            question=question,
        )
        if not held:  # tool call review is off: nobody is there to approve
            return ApprovalDecision("unavailable")
        if all(rec.mode == "deliver" for rec in held):
            return ApprovalDecision.approved()  # reviewed after delivery
        return ApprovalDecision.pending(held[0].id)


# (item, whether the call is the item's original one that a reviewer then edited)
Match = tuple[ReviewRecord, bool]


def _match(earlier: list[ReviewRecord], name: str, args: dict[str, Any]) -> Match | None:
    """The newest item for this call: a decision on exactly these arguments, an edit that
    produced them, or one still waiting; failing those, an edit of this very call."""
    key = _key(name, args)
    edited_from: ReviewRecord | None = None
    for rec in earlier:  # newest first
        payload = rec.payload or {}
        if payload.get("name") != name:
            continue
        proposed = _key(name, payload.get("arguments"))
        if rec.status == "edited":
            final = _final_arguments(rec)
            if final is not None and _key(name, final) == key:
                return rec, False
            if proposed == key and edited_from is None:
                edited_from = rec
            continue
        if proposed == key:
            return rec, False
    return None if edited_from is None else (edited_from, True)


def _final_arguments(rec: ReviewRecord) -> Any:
    if rec.final_answer is None:
        return None
    try:
        return json.loads(rec.final_answer)
    except ValueError:
        return None


def _verdict(matches: list[Match]) -> ApprovalDecision:
    for rec, _ in matches:
        if rec.status == "rejected":
            reason = rec.note or "a reviewer rejected this tool call"
            return ApprovalDecision.denied(f"{reason} (review {rec.id})")
    for rec, superseded in matches:
        if superseded:
            return ApprovalDecision.denied(
                f"a reviewer changed the arguments of this call; read them at "
                f"GET /v1/reviews/{rec.id}"
            )
    waiting = [rec for rec, _ in matches if rec.status not in ("approved", "edited")]
    if waiting:
        return ApprovalDecision.pending(waiting[0].id)
    return ApprovalDecision.approved()


def _last_user_text(turn: Turn) -> str:
    for message in reversed(turn.messages):
        if message.role == "user" and isinstance(message.content, str):
            return message.content
    return ""


@hookimpl
def tool_approvals(services: Services) -> ReviewApprovals | None:
    if not services.settings.review.enabled:
        return None
    return ReviewApprovals(services.reviews, services.settings.review.tool_approval_window_s)
