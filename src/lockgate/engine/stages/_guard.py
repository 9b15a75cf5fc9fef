"""Shared by the guard stages: the policy of a turn, and recording what a scan decided."""

from __future__ import annotations

from lockgate.config import GuardPolicy
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.guardrails.base import GuardResult
from lockgate.guardrails.engine import GuardEngine
from lockgate.observability.events import GuardFinding


def policy_for(guard: GuardEngine, turn: Turn) -> GuardPolicy:
    return guard.policy(turn.app, turn.model_name)


def note(turn: Turn, state: TurnState, result: GuardResult, label: str = "") -> None:
    """Put a scan result in the trace, raise the turn's overall action, announce findings."""
    state.guard.add(result, label)
    if result.action == "allow":
        return
    scanners = tuple(sorted({o.scanner for o in result.outcomes if o.action == result.action}))
    state.events.append(
        GuardFinding(
            turn.trace_id,
            turn.principal.id,
            turn.principal.tenant,
            result.direction,
            result.action,
            scanners,
            label,
            result.text,
        )
    )
