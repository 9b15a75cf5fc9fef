"""Shared by the three guard stages: run a policy, record the outcome on the context."""

from __future__ import annotations

from lockgate.config import GuardPolicy
from lockgate.gateway.context import RequestContext
from lockgate.guardrails.base import SEVERITY, GuardResult
from lockgate.services import Services


def policy_for(services: Services, ctx: RequestContext) -> GuardPolicy:
    return services.guard.policy(ctx.app, ctx.model_name)


def note(services: Services, ctx: RequestContext, result: GuardResult, label: str = "") -> None:
    """Put a scan result in the trace, raise the request's overall action, file escalations."""
    entry = result.as_dict()
    if label:
        entry["target"] = label
    ctx.guard.append(entry)
    if SEVERITY[result.action] > SEVERITY.get(ctx.guard_action, 0):
        ctx.guard_action = result.action
    if result.action == "escalate":
        scanners = sorted({o.scanner for o in result.outcomes if o.action == "escalate"})
        services.escalations.add(
            ctx.trace_id, ctx.principal.id, result.direction, scanners, result.text
        )
