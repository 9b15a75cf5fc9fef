"""Who approves a model's calls to tools with side effects: the narrow interface the tool gate
(engine/stages/tool_gate.py) asks, and the default that fails closed.

A provider is one object with one coroutine method:

    class ToolApprovals(Protocol):
        async def request(self, turn: Turn, calls: Sequence[ToolCall]) -> ApprovalDecision

`calls` are only the calls that need approval (declared `side_effects: true`, or undeclared
under `tools.undeclared: approve`), in the order the model made them, with their arguments
after the output guard (what the caller would receive). `turn` says who asked (`principal`,
`app`, `project`, `trace_id`) and what the conversation was (`messages`, `request.tools`).
The decision is about the batch: every call is returned, or none is.

A plugin provides one by implementing the `tool_approvals(services)` hook (firstresult: the
first plugin to return one wins); `Services.tool_approvals` is what the gate is given. With
none, `NoApprovals` answers `unavailable` and the gateway refuses every such call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from lockgate.models.base import ToolCall

if TYPE_CHECKING:
    from lockgate.engine.turn import Turn

# approved: the calls go back to the caller.
# pending: a review was opened (or is still open); `review_id` names it. The caller gets a
#   409 `tool_approval_required` carrying the id and nothing of the calls.
# denied: a reviewer (or a rule) said no: a 403 `tool_call_denied`, with `reason` if given.
# unavailable: nobody can approve (no provider): a 403 `tool_approval_required`.
Outcome = Literal["approved", "pending", "denied", "unavailable"]


@dataclass(frozen=True)
class ApprovalDecision:
    outcome: Outcome
    review_id: str | None = None
    # Shown to the caller with a denial: a provider puts here only what the caller may read.
    reason: str | None = None

    @classmethod
    def approved(cls) -> ApprovalDecision:
        return cls("approved")

    @classmethod
    def pending(cls, review_id: str) -> ApprovalDecision:
        return cls("pending", review_id=review_id)

    @classmethod
    def denied(cls, reason: str | None = None) -> ApprovalDecision:
        return cls("denied", reason=reason)


class ToolApprovals(Protocol):
    async def request(self, turn: Turn, calls: Sequence[ToolCall]) -> ApprovalDecision:
        """Decide, or open a review and answer `pending`. Raising is taken as no decision:
        the calls are withheld (503 `tool_approval_unavailable`)."""
        ...


class NoApprovals:
    """The built-in provider when no plugin gives one: nothing is ever approved."""

    async def request(self, turn: Turn, calls: Sequence[ToolCall]) -> ApprovalDecision:
        return ApprovalDecision("unavailable", reason="no tool approval provider is configured")
