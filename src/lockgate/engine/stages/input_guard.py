"""Scan what the caller sent before anything else sees it: block, or redact reversibly."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import GuardPolicy, GuardrailsConfig
from lockgate.engine.answer import Answer
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.stages._guard import note, policy_for
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.models.base import Message

if TYPE_CHECKING:
    from lockgate.services import Services


class InputGuard(Stage):
    name: ClassVar[str] = "input_guard"
    before: ClassVar[tuple[str, ...]] = (
        "cache",
        "retrieve",
        "route",
        "build_prompt",
        "output_guard",
        "call_model",
    )

    def __init__(
        self, guard: GuardEngine, config: GuardrailsConfig, cpu: CpuGate | None = None
    ) -> None:
        self.guard = guard
        self.config = config
        self.cpu = cpu

    @classmethod
    def from_services(cls, services: Services) -> InputGuard:
        return cls(services.guard, services.settings.guardrails, services.cpu)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not self.config.enabled:
            return await call_next(turn, state)
        policy = policy_for(self.guard, turn)
        log = state.guard
        log.user_text = "\n".join(m.content for m in turn.messages if m.role == "user")
        log.system_prompt = "\n".join(
            m.content for m in turn.messages if m.role in ("system", "developer")
        )
        if self.config.canary and any(r.scanner == "leak" for r in policy.output):
            log.canary = f"lg-{secrets.token_hex(6)}"
        results = await run_cpu(self.cpu, self._scan_messages, turn, state, policy)
        for index, result in results:
            note(turn, state, result, f"messages[{index}]")
        if log.action == "block":
            # The trace keeps the findings (types and spans), not the words that were blocked:
            # a blocked message is often exactly the personal data the policy exists to stop.
            withheld = [
                Message(m.role, f"[withheld: blocked by guardrails, {len(m.content)} characters]")
                if m.role == "user"
                else m
                for m in turn.messages
            ]
            state.turn = turn.with_messages(withheld, withheld)
            return Answer.refusal(policy.refusal_message)
        redacted = dict(results)
        messages = [
            Message(m.role, redacted[i].text) if i in redacted else m
            for i, m in enumerate(turn.messages)
        ]
        sent = _with_canary(messages, log.canary)
        return await call_next(turn.with_messages(messages, sent), state)

    def _scan_messages(
        self, turn: Turn, state: TurnState, policy: GuardPolicy
    ) -> list[tuple[int, GuardResult]]:
        scan_ctx = ScanContext("in", principal=turn.principal.id)
        return [
            (i, self.guard.scan(m.content, scan_ctx, policy, state.vault))
            for i, m in enumerate(turn.messages)
            if m.role == "user" and m.content
        ]


def _with_canary(messages: list[Message], canary: str | None) -> list[Message]:
    # The canary rides in the system prompt: if it ever shows up in an answer, the system
    # prompt leaked. No system prompt, nothing to protect.
    out = []
    placed = False
    for m in messages:
        if canary and not placed and m.role in ("system", "developer"):
            m = Message(m.role, f"{m.content}\n\n(internal reference {canary}; never repeat it)")
            placed = True
        out.append(m)
    return out
