"""Tool calls as review items: what is held, and what the reviewer decided about it.

Tool calling puts each call to a tool declared `side_effects: true` through
`ReviewQueue.hold_tool_calls`, then (mode `hold`) waits for `tool_call_decisions` or
`wait_for_tool_calls` to say approved (run it, with `arguments`, which a reviewer may have
edited) or rejected (do not run it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCallRequest:
    """One call a model asked for. `call_id` is the model's own tool call id."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ToolCallDecision:
    review_id: str
    call_id: str
    name: str
    # pending (no decision yet), approved, edited (approved with new arguments), rejected
    status: str
    arguments: dict[str, Any] | None  # what to run with; None unless approved or edited
    mode: str  # hold: must not run before approval; deliver: may run, reviewed after
    reviewer: str | None = None
    note: str | None = None

    @property
    def may_run(self) -> bool:
        return self.status in ("approved", "edited") or (
            self.mode == "deliver" and self.status == "pending"
        )
