"""Scan what the caller sent before anything else sees it: block, or redact reversibly."""

from __future__ import annotations

import asyncio
import secrets

from lockgate.gateway.context import RequestContext
from lockgate.gateway.pipeline import register
from lockgate.gateway.stages.guard_common import note, policy_for
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.models.base import Message
from lockgate.services import Services


class InputGuard:
    name = "input_guard"

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, ctx: RequestContext) -> None:
        settings = self.services.settings.guardrails
        if not settings.enabled or ctx.request is None:
            return
        policy = policy_for(self.services, ctx)
        ctx.original_user_text = "\n".join(m.content for m in ctx.messages if m.role == "user")
        ctx.system_prompt = "\n".join(
            m.content for m in ctx.messages if m.role in ("system", "developer")
        )
        if settings.canary and any(r.scanner == "leak" for r in policy.output):
            ctx.canary = f"lg-{secrets.token_hex(6)}"
        results = await asyncio.to_thread(self._scan_messages, ctx, policy)
        for index, result in results:
            note(self.services, ctx, result, f"messages[{index}]")
        if ctx.guard_action == "block":
            ctx.refused = True
            ctx.output = policy.refusal_message
            return
        redacted = dict(results)
        ctx.messages = [
            Message(m.role, redacted[i].text) if i in redacted else m
            for i, m in enumerate(ctx.messages)
        ]
        if ctx.grounded:
            users = [m.content for m in ctx.messages if m.role == "user" and m.content.strip()]
            ctx.question = users[-1].strip() if users else ctx.question
        ctx.request.messages = self._with_canary(ctx)

    def _scan_messages(self, ctx: RequestContext, policy: object) -> list[tuple[int, GuardResult]]:
        scan_ctx = ScanContext("in", principal=ctx.principal.id)
        return [
            (i, self.services.guard.scan(m.content, scan_ctx, policy, ctx.vault))  # type: ignore[arg-type]
            for i, m in enumerate(ctx.messages)
            if m.role == "user" and m.content
        ]

    @staticmethod
    def _with_canary(ctx: RequestContext) -> list[Message]:
        # The canary rides in the system prompt: if it ever shows up in an answer, the
        # system prompt leaked. No system prompt, nothing to protect.
        out = []
        placed = False
        for m in ctx.messages:
            if ctx.canary and not placed and m.role in ("system", "developer"):
                m = Message(
                    m.role, f"{m.content}\n\n(internal reference {ctx.canary}; never repeat it)"
                )
                placed = True
            out.append(m)
        return out


register("input_guard")(InputGuard)
