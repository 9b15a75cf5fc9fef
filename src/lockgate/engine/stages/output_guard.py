"""Scan the answer before the caller sees it.

Non-streaming: the whole answer is scanned once. Streaming: text is held back until a sentence
(or, once it is long enough, a clause) is complete, scanned behind the tail of what was
released before it, then released; a block ends the stream with finish_reason
`content_filter` and the policy's refusal. A piece is not cut inside an unfinished markdown
link, image or HTML tag, nor after what could be the start of the canary. Either way the
scan also takes images, links and HTML outside the allowed hosts out of the answer. The cost
is the latency of one clause per chunk of text released (measured in BENCHMARKS.md).

Tool calls are scanned by their arguments (`_guard_tools.py`), once whole: in a stream they
are held until the model has finished, then relayed as they came or, when redacted, one
piece per call."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import GroundedConfig, GuardPolicy, GuardrailsConfig
from lockgate.engine.answer import Answer, aclose_stream
from lockgate.engine.citations import MARKER
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.released import Released
from lockgate.engine.stages._guard import note, policy_for
from lockgate.engine.stages._guard_tools import guard_calls
from lockgate.engine.state import TurnState
from lockgate.engine.tools import ToolCallAssembler, as_deltas
from lockgate.engine.turn import Turn
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.models.base import ChatDelta

if TYPE_CHECKING:
    from lockgate.services import Services

# Where a sentence ends: terminal punctuation followed by whitespace, or a line break.
_BOUNDARY = re.compile(r"[.!?](?=\s)|\n")
# The first release may end mid-sentence, past _FIRST_CHARS, if it scans clean: waiting
# for a whole first sentence held the first token back ~0.5 s with the embedded model. It
# ends only between two complete plain lower-case words, because what the scanners look
# for (names, emails, phone and card numbers, canaries) has capitals, digits or symbols and
# so is never cut in two; later releases are whole sentences (grounding checks those).
_SAFE_GAP = re.compile(r"(?:^|(?<=\s))[a-z]+[,;:]?(?=\s+[a-z]+[,;:]?\s)")
_FIRST_CHARS = 16


def _instructions(template_text: str) -> str:
    # Only the instruction part of a grounded prompt is secret; the sources are meant to be
    # quoted, so comparing the answer against them would flag every good answer.
    return template_text.split("\n\n", 1)[0]


class OutputGuard(Stage):
    name: ClassVar[str] = "output_guard"
    after: ClassVar[tuple[str, ...]] = ("input_guard",)
    before: ClassVar[tuple[str, ...]] = ("postprocess", "call_model")

    def __init__(
        self,
        guard: GuardEngine,
        config: GuardrailsConfig,
        instructions: str,
        cpu: CpuGate | None = None,
    ) -> None:
        self.guard = guard
        self.config = config
        self.grounded_instructions = instructions
        self.cpu = cpu

    @classmethod
    def from_services(cls, services: Services) -> OutputGuard:
        cfg = services.settings.grounded
        # The packaged prompt's instructions, for turns whose registry prompt is unknown.
        try:
            template = services.prompts.get(cfg.prompt)
        except KeyError:
            template = services.prompts.get(GroundedConfig().prompt)
        return cls(
            services.guard, services.settings.guardrails, _instructions(template.text), services.cpu
        )

    async def _scan(
        self, text: str, ctx: ScanContext, policy: GuardPolicy, released: str = ""
    ) -> GuardResult:
        # The model has answered (and been paid for): the scan waits for a CPU slot rather
        # than throw the answer away.
        return await run_cpu(
            self.cpu, self.guard.scan, text, ctx, policy, None, released, shed=False
        )

    def _policy(self, turn: Turn) -> GuardPolicy:
        policy = policy_for(self.guard, turn)
        if turn.grounded:
            return policy
        # Grounding is only defined against retrieved context.
        rules = [r for r in policy.output if r.scanner != "grounding"]
        return policy.model_copy(update={"output": rules})

    def _scan_ctx(self, turn: Turn, state: TurnState) -> ScanContext:
        log = state.guard
        system = log.system_prompt
        if turn.grounded:
            spec = state.prompt.spec if state.prompt is not None else None
            system = _instructions(spec.template) if spec else self.grounded_instructions
        context = state.retrieval.context if state.retrieval else []
        return ScanContext(
            "out",
            principal=turn.principal.id,
            chunks=[c.text for c in context],
            user_text=log.user_text,
            system_prompt=system,
            canary=log.canary,
        )

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not self.config.enabled:
            return await call_next(turn, state)
        answer = await call_next(turn, state)
        if answer.stream is not None:
            answer.stream = self._guarded(turn, state, answer, answer.stream)

        async def finish(done: Answer) -> None:
            await self._finish(turn, state, done)

        answer.on_done(finish)
        return answer

    async def _finish(self, turn: Turn, state: TurnState, answer: Answer) -> None:
        if not answer.raw and not answer.tool_calls:
            return
        if turn.stream:
            # Already scanned sentence by sentence; record what the caller actually got.
            if answer.streamed is not None and answer.finish_reason != "content_filter":
                answer.text = answer.streamed + answer.suffix
            return
        policy = self._policy(turn)
        scan_ctx = self._scan_ctx(turn, state)
        if answer.tool_calls and not await self._guard_calls(turn, state, answer, scan_ctx, policy):
            return
        if not answer.raw:
            return
        text = state.vault.restore(answer.text)
        result = await self._scan(text, scan_ctx, policy)
        note(turn, state, result, "answer")
        self._groundedness(turn, answer, scan_ctx)
        if result.action == "block":
            self._blocked(state, answer, policy)
            return
        answer.text = result.text
        present = {int(n) for n in MARKER.findall(answer.text)}
        answer.citations = [c for c in answer.citations if c["index"] in present]
        answer.grounded = answer.grounded and bool(answer.citations)

    async def _guard_calls(
        self,
        turn: Turn,
        state: TurnState,
        answer: Answer,
        scan_ctx: ScanContext,
        policy: GuardPolicy,
    ) -> bool:
        """Scan the answer's tool-call arguments; False when that blocked the answer."""
        calls, results = await run_cpu(
            self.cpu,
            guard_calls,
            self.guard,
            state.vault,
            answer.tool_calls,
            scan_ctx,
            policy,
            shed=False,
        )
        for label, result in results:
            note(turn, state, result, label)
        if calls is None:
            self._blocked(state, answer, policy)
            return False
        answer.tool_calls = calls
        return True

    async def _guarded(
        self,
        turn: Turn,
        state: TurnState,
        answer: Answer,
        deltas: AsyncIterator[ChatDelta],
    ) -> AsyncIterator[ChatDelta]:
        policy = self._policy(turn)
        scan_ctx = self._scan_ctx(turn, state)
        released = Released(scan_ctx.canary)
        pending = ""
        early = True
        # Tool calls are held whole until the stream ends: their arguments are scanned as
        # one text, and a fragment of JSON released early could not be taken back.
        held: list[ChatDelta] = []
        calls = ToolCallAssembler()
        try:
            async for delta in deltas:
                if delta.tool_calls:
                    held.append(ChatDelta(tool_calls=delta.tool_calls))
                    calls.add(delta.tool_calls)
                pending += delta.text
                cut = released.safe_end(pending, _last_boundary(pending))
                if not cut and early and answer.streamed is None:
                    gap = released.safe_end(pending, _early_cut(pending))
                    if gap:
                        # One try: a fragment that does not scan clean (short texts fool
                        # the toxicity model) waits for its whole sentence instead.
                        early = False
                        out = await self._try_early(state, pending[:gap], scan_ctx, policy)
                        if out is not None:
                            pending = pending[gap:]
                            answer.streamed = out
                            released.add(out)
                            yield ChatDelta(text=out)
                if cut:
                    ready, pending = pending[:cut], pending[cut:]
                    out = await self._release(
                        turn, state, answer, ready, scan_ctx, policy, released
                    )
                    if out is None:
                        yield ChatDelta(
                            text=self._stop_text(policy), finish_reason="content_filter"
                        )
                        return
                    answer.streamed = (answer.streamed or "") + out
                    yield ChatDelta(text=out)
                if delta.usage or delta.finish_reason:
                    yield ChatDelta(finish_reason=delta.finish_reason, usage=delta.usage)
            if pending:
                out = await self._release(turn, state, answer, pending, scan_ctx, policy, released)
                if out is None:
                    yield ChatDelta(text=self._stop_text(policy), finish_reason="content_filter")
                    return
                answer.streamed = (answer.streamed or "") + out
                yield ChatDelta(text=out)
            if calls:
                answer.tool_calls = calls.calls()
                original = list(answer.tool_calls)
                if not await self._guard_calls(turn, state, answer, scan_ctx, policy):
                    yield ChatDelta(text=self._stop_text(policy), finish_reason="content_filter")
                    return
                if answer.tool_calls == original:
                    for piece in held:  # relayed exactly as the upstream sent them
                        yield piece
                else:
                    yield ChatDelta(tool_calls=as_deltas(answer.tool_calls))
        finally:
            self._groundedness(turn, answer, scan_ctx)
            await aclose_stream(deltas)

    async def _try_early(
        self, state: TurnState, text: str, scan_ctx: ScanContext, policy: GuardPolicy
    ) -> str | None:
        """The fragment's text if every scanner passes it as it is; None otherwise."""
        result = await self._scan(state.vault.restore(text), scan_ctx, policy)
        return result.text if result.action == "allow" else None

    async def _release(
        self,
        turn: Turn,
        state: TurnState,
        answer: Answer,
        text: str,
        scan_ctx: ScanContext,
        policy: GuardPolicy,
        released: Released,
    ) -> str | None:
        text = state.vault.restore(text)
        # Scanned behind what was released before it, so nothing split over pieces slips by.
        scan_ctx.canary_trail = released.trail
        result = await self._scan(text, scan_ctx, policy, released.tail)
        if result.action != "allow":
            note(turn, state, result, "answer (streamed sentence)")
        if result.action == "block":
            self._blocked(state, answer, policy)
            return None
        released.add(result.text)
        return result.text

    @staticmethod
    def _stop_text(policy: GuardPolicy) -> str:
        return f"\n\n[{policy.refusal_message}]"

    @staticmethod
    def _blocked(state: TurnState, answer: Answer, policy: GuardPolicy) -> None:
        answer.refused = True
        answer.text = policy.refusal_message
        answer.tool_calls = []
        answer.citations = []
        answer.grounded = False
        answer.finish_reason = "content_filter"
        state.guard.action = "block"

    @staticmethod
    def _groundedness(turn: Turn, answer: Answer, scan_ctx: ScanContext) -> None:
        if turn.grounded and "groundedness" in scan_ctx.metrics:
            answer.groundedness = scan_ctx.metrics["groundedness"]


def _last_boundary(text: str) -> int:
    last = 0
    for m in _BOUNDARY.finditer(text):
        last = m.end()
    return last


def _early_cut(text: str) -> int:
    """Where the first release may end before its sentence does (0: not yet)."""
    last = 0
    if len(text) >= _FIRST_CHARS:
        for m in _SAFE_GAP.finditer(text):
            if m.end() >= _FIRST_CHARS:
                last = m.end()
    return last
