"""Human review of answers: put an answer up for review when a guardrail escalated on the
turn, or when the grounded answer's groundedness is below the configured threshold.

`hold` replaces the answer with a notice that it awaits review (the caller polls
`GET /v1/reviews/{id}` or gets the app's callback); `deliver` lets it through with a
warning. The stage sits outside the output guard, so groundedness and every escalation are
known when its answer work runs, and inside the cache, which never stores an answer under
review. A streamed answer that may be held is read whole before anything is sent (no text
can escape before the decision), then replayed or replaced; one that can only be delivered
streams as usual, and its warning travels in the final chunk, the headers being gone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from lockgate.config import ReviewConfig, ReviewKind
from lockgate.engine.answer import Answer, ReviewMark, aclose_stream
from lockgate.engine.errors import GatewayError
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.models.base import ChatDelta
from lockgate.review.queue import ReviewQueue
from lockgate.store.reviews import ReviewRecord, new_review_id

if TYPE_CHECKING:
    from lockgate.services import Services

log = logging.getLogger("lockgate.review")

REVIEW_ID_HEADER = "x-lockgate-review-id"
REVIEW_STATUS_HEADER = "x-lockgate-review-status"
REVIEW_WARNING_HEADER = "x-lockgate-review-warning"
_CONTEXT_CHUNKS = 8
_EXCERPT_CHARS = 4000


@dataclass
class Verdict:
    kind: ReviewKind
    mode: str  # hold | deliver
    reasons: list[dict[str, Any]] = field(default_factory=list)
    excerpt: str | None = None


def headers(mark: ReviewMark) -> dict[str, str]:
    out = {REVIEW_ID_HEADER: mark.id, REVIEW_STATUS_HEADER: mark.status}
    if mark.mode == "deliver":
        out[REVIEW_WARNING_HEADER] = "delivered before human review"
    return out


class ReviewGate(Stage):
    name: ClassVar[str] = "review"
    after: ClassVar[tuple[str, ...]] = ("input_guard", "cache")
    before: ClassVar[tuple[str, ...]] = ("output_guard", "postprocess", "call_model")

    def __init__(self, queue: ReviewQueue, config: ReviewConfig) -> None:
        self.queue = queue
        self.config = config

    @classmethod
    def from_services(cls, services: Services) -> ReviewGate:
        return cls(services.reviews, services.settings.review)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not self.config.enabled:
            return await call_next(turn, state)
        answer = await call_next(turn, state)
        verdict: Verdict | None = None
        if answer.stream is not None and self._may_hold(turn):
            verdict = await self._read_stream(turn, state, answer)

        async def finish(done: Answer) -> None:
            await self._finish(turn, state, done, verdict)

        answer.on_done(finish)
        return answer

    # -- deciding ----------------------------------------------------------------------------

    def _applies(self, turn: Turn, kind: ReviewKind) -> bool:
        if kind == "groundedness" and (
            not turn.grounded or self.config.threshold(turn.app) is None
        ):
            return False
        return self.config.mode(turn.app, kind) != "off"

    def _may_hold(self, turn: Turn) -> bool:
        kinds: tuple[ReviewKind, ...] = ("guardrail", "groundedness")
        return any(
            self._applies(turn, k) and self.config.mode(turn.app, k) == "hold" for k in kinds
        )

    def verdict(self, turn: Turn, state: TurnState, answer: Answer) -> Verdict | None:
        """Whether this answer goes to review, as what, and held or delivered."""
        if state.status != "ok":
            return None
        kinds: list[ReviewKind] = []
        reasons: list[dict[str, Any]] = []
        excerpts: list[str] = []
        if self._applies(turn, "guardrail"):
            for entry in state.guard.entries:
                result = entry.result
                if result.action != "escalate":
                    continue
                scanners = sorted({o.scanner for o in result.outcomes if o.action == "escalate"})
                reasons.append(
                    {
                        "kind": "guardrail",
                        "direction": result.direction,
                        "scanners": scanners,
                        "target": entry.target,
                    }
                )
                excerpts.append(state.vault.restore(result.text))
            if excerpts:
                kinds.append("guardrail")
        threshold = self.config.threshold(turn.app)
        score = answer.groundedness
        if (
            self._applies(turn, "groundedness")
            and threshold is not None
            and score is not None
            and score < threshold
            and not answer.refused
        ):
            kinds.append("groundedness")
            reasons.append(
                {"kind": "groundedness", "score": round(score, 4), "threshold": threshold}
            )
        if not kinds:
            return None
        # A refusal withholds nothing, so there is nothing to hold back.
        hold = not answer.refused and any(self.config.mode(turn.app, k) == "hold" for k in kinds)
        excerpt = "\n\n".join(excerpts)[:_EXCERPT_CHARS] or None
        return Verdict(kinds[0], "hold" if hold else "deliver", reasons, excerpt)

    # -- streams -----------------------------------------------------------------------------

    async def _read_stream(self, turn: Turn, state: TurnState, answer: Answer) -> Verdict | None:
        """Read the whole stream, decide, and leave a stream that replays it or, when held,
        says only that it awaits review."""
        assert answer.stream is not None
        inner = answer.stream
        pieces: list[ChatDelta] = []
        failure: Exception | None = None
        try:
            async for delta in inner:
                pieces.append(delta)
        except Exception as exc:  # noqa: BLE001 - replayed to the caller where it happened
            failure = exc
        finally:
            await aclose_stream(inner)
        verdict = None if failure is not None else self.verdict(turn, state, answer)
        if verdict is None:
            answer.stream = _replay(pieces, failure)
            return None
        mark = ReviewMark(new_review_id(), verdict.mode, verdict.kind)
        answer.review = mark
        state.headers.update(headers(mark))
        if verdict.mode == "hold":
            usage = [ChatDelta(usage=d.usage) for d in pieces if d.usage is not None]
            notice = ChatDelta(text=self._notice(mark.id), finish_reason="stop")
            answer.stream = _replay([notice, *usage], None)
        else:
            answer.stream = _replay(pieces, None)
        return verdict

    # -- the answer is complete ----------------------------------------------------------------

    async def _finish(
        self, turn: Turn, state: TurnState, answer: Answer, decided: Verdict | None
    ) -> None:
        mark = answer.review
        verdict = decided if mark is not None else self.verdict(turn, state, answer)
        if verdict is None:
            return
        if mark is None:
            mark = ReviewMark(new_review_id(), verdict.mode, verdict.kind)
            answer.review = mark
            if not turn.stream:
                state.headers.update(headers(mark))
        rec = self._record(turn, state, answer, mark, verdict)
        try:
            await asyncio.to_thread(self.queue.submit, rec)
        except Exception as exc:
            if mark.mode == "hold":
                # Fail closed: an answer that must be reviewed is never sent unreviewed.
                raise GatewayError(
                    503,
                    "this answer needs human review, but the review queue is unavailable",
                    "review_unavailable",
                    detail=f"{type(exc).__name__}: {exc}",
                ) from exc
            log.exception("could not queue answer for review (trace %s)", turn.trace_id)
            answer.review = None
            for name in (REVIEW_ID_HEADER, REVIEW_STATUS_HEADER, REVIEW_WARNING_HEADER):
                state.headers.pop(name, None)
            return
        if mark.mode == "hold":
            answer.text = self._notice(mark.id)
            answer.citations = []
            answer.grounded = False
            answer.suffix = ""
            answer.finish_reason = "stop"

    def _notice(self, review_id: str) -> str:
        return f"{self.config.pending_message} Review id: {review_id}."

    def _record(
        self, turn: Turn, state: TurnState, answer: Answer, mark: ReviewMark, verdict: Verdict
    ) -> ReviewRecord:
        context = state.retrieval.context if state.retrieval is not None else []
        return ReviewRecord(
            id=mark.id,
            tenant=turn.principal.tenant,
            principal=turn.principal.id,
            kind=verdict.kind,
            mode=verdict.mode,
            created_at=turn.created_at,
            app=turn.app,
            model=turn.model_name,
            trace_id=turn.trace_id,
            reasons=verdict.reasons,
            groundedness=answer.groundedness,
            question=state.vault.restore(_question(turn)),
            answer=answer.text,
            excerpt=verdict.excerpt,
            context=[
                {"chunk_id": c.chunk_id, "source": c.source, "page": c.page, "text": c.text}
                for c in context[:_CONTEXT_CHUNKS]
            ],
            citations=[dict(c) for c in answer.citations],
        )


def _question(turn: Turn) -> str:
    if turn.grounded and turn.question:
        return turn.question
    users = [m.content for m in turn.messages if m.role == "user"]
    return users[-1] if users else ""


async def _replay(pieces: list[ChatDelta], failure: Exception | None) -> AsyncIterator[ChatDelta]:
    for piece in pieces:
        yield piece
    if failure is not None:
        raise failure
