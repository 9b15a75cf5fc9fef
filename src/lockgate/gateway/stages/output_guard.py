"""Scan the answer before the caller sees it.

Non-streaming: the whole answer is scanned once. Streaming: text is held back until a sentence
(or, once it is long enough, a clause) is complete, scanned, then released; a block ends the
stream with finish_reason `content_filter` and the policy's refusal. The cost is the latency
of one clause per chunk of text released (measured in BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from lockgate.config import GuardPolicy
from lockgate.gateway.citations import MARKER
from lockgate.gateway.context import RequestContext
from lockgate.gateway.pipeline import register
from lockgate.gateway.stages.guard_common import note, policy_for
from lockgate.guardrails.base import GuardResult, ScanContext
from lockgate.models.base import ChatDelta
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


class OutputGuard:
    name = "output_guard"

    def __init__(self, services: Services) -> None:
        self.services = services
        cfg = services.settings.grounded
        self.grounded_instructions = _instructions(
            services.prompts.get(cfg.prompt, cfg.prompt_version).text
        )

    def _policy(self, ctx: RequestContext) -> GuardPolicy:
        policy = policy_for(self.services, ctx)
        if ctx.grounded:
            return policy
        # Grounding is only defined against retrieved context.
        rules = [r for r in policy.output if r.scanner != "grounding"]
        return policy.model_copy(update={"output": rules})

    def _scan_ctx(self, ctx: RequestContext) -> ScanContext:
        system = self.grounded_instructions if ctx.grounded else ctx.system_prompt
        return ScanContext(
            "out",
            principal=ctx.principal.id,
            chunks=[c.text for c in ctx.context_chunks],
            user_text=ctx.original_user_text,
            system_prompt=system,
            canary=ctx.canary,
        )

    def _active(self, ctx: RequestContext) -> bool:
        return self.services.settings.guardrails.enabled and ctx.request is not None

    async def run(self, ctx: RequestContext) -> None:
        if not self._active(ctx) or not ctx.raw_output:
            return
        if ctx.stream:
            # Already scanned sentence by sentence; record what the caller actually got.
            if ctx.streamed_output is not None and ctx.finish_reason != "content_filter":
                ctx.output = ctx.streamed_output + ctx.stream_suffix
            return
        policy = self._policy(ctx)
        scan_ctx = self._scan_ctx(ctx)
        text = ctx.vault.restore(ctx.output)
        result = await asyncio.to_thread(self.services.guard.scan, text, scan_ctx, policy)
        note(self.services, ctx, result, "answer")
        self._groundedness(ctx, scan_ctx)
        if result.action == "block":
            self._blocked(ctx, policy)
            return
        ctx.output = result.text
        present = {int(n) for n in MARKER.findall(ctx.output)}
        ctx.citations = [c for c in ctx.citations if c["index"] in present]
        ctx.grounded_answer = ctx.grounded_answer and bool(ctx.citations)

    def wrap_stream(
        self, ctx: RequestContext, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        if not self._active(ctx):
            return deltas
        return self._guarded(ctx, deltas)

    async def _guarded(
        self, ctx: RequestContext, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        policy = self._policy(ctx)
        scan_ctx = self._scan_ctx(ctx)
        pending = ""
        early = True
        try:
            async for delta in deltas:
                pending += delta.text
                cut = _last_boundary(pending)
                if not cut and early and ctx.streamed_output is None:
                    gap = _early_cut(pending)
                    if gap:
                        # One try: a fragment that does not scan clean (short texts fool
                        # the toxicity model) waits for its whole sentence instead.
                        early = False
                        released = await self._try_early(ctx, pending[:gap], scan_ctx, policy)
                        if released is not None:
                            pending = pending[gap:]
                            ctx.streamed_output = released
                            yield ChatDelta(text=released)
                if cut:
                    ready, pending = pending[:cut], pending[cut:]
                    released = await self._release(ctx, ready, scan_ctx, policy)
                    if released is None:
                        yield ChatDelta(
                            text=self._stop_text(policy), finish_reason="content_filter"
                        )
                        return
                    ctx.streamed_output = (ctx.streamed_output or "") + released
                    yield ChatDelta(text=released)
                if delta.usage or delta.finish_reason:
                    yield ChatDelta(finish_reason=delta.finish_reason, usage=delta.usage)
            if pending:
                released = await self._release(ctx, pending, scan_ctx, policy)
                if released is None:
                    yield ChatDelta(text=self._stop_text(policy), finish_reason="content_filter")
                    return
                ctx.streamed_output = (ctx.streamed_output or "") + released
                yield ChatDelta(text=released)
        finally:
            self._groundedness(ctx, scan_ctx)
            aclose = getattr(deltas, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _try_early(
        self, ctx: RequestContext, text: str, scan_ctx: ScanContext, policy: GuardPolicy
    ) -> str | None:
        """The fragment's text if every scanner passes it as it is; None otherwise."""
        result: GuardResult = await asyncio.to_thread(
            self.services.guard.scan, ctx.vault.restore(text), scan_ctx, policy
        )
        return result.text if result.action == "allow" else None

    async def _release(
        self, ctx: RequestContext, text: str, scan_ctx: ScanContext, policy: GuardPolicy
    ) -> str | None:
        text = ctx.vault.restore(text)
        result: GuardResult = await asyncio.to_thread(
            self.services.guard.scan, text, scan_ctx, policy
        )
        if result.action != "allow":
            note(self.services, ctx, result, "answer (streamed sentence)")
        if result.action == "block":
            self._blocked(ctx, policy)
            return None
        return result.text

    def _stop_text(self, policy: GuardPolicy) -> str:
        return f"\n\n[{policy.refusal_message}]"

    @staticmethod
    def _blocked(ctx: RequestContext, policy: GuardPolicy) -> None:
        ctx.refused = True
        ctx.output = policy.refusal_message
        ctx.citations = []
        ctx.grounded_answer = False
        ctx.finish_reason = "content_filter"
        ctx.guard_action = "block"

    @staticmethod
    def _groundedness(ctx: RequestContext, scan_ctx: ScanContext) -> None:
        if ctx.grounded and "groundedness" in scan_ctx.metrics:
            ctx.groundedness = scan_ctx.metrics["groundedness"]


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


register("output_guard")(OutputGuard)
