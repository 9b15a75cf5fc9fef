"""What a turn produces: text or a stream, with its finish reason, usage, cost and citations.

Layers that must act once the answer is complete (citations, the output scan, storing it in
the cache) register `on_done`; admission holds that must be released however the turn ends
register `on_close`. The engine runs them, in the order they were registered (the innermost
layer first), so a stream and a plain answer go through the same steps."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from lockgate.engine.citations import Citation
from lockgate.models.base import ChatDelta, ToolCall, Usage

log = logging.getLogger("lockgate.engine")

Callback = Callable[["Answer"], Awaitable[None]]


@dataclass
class ReviewMark:
    """The answer went to human review: held back (`hold`) or delivered before it
    (`deliver`). `lockgate.review` in the reply body and the review headers come from it."""

    id: str
    mode: str
    kind: str
    status: str = "pending"

    def as_dict(self) -> dict[str, str]:
        body = {"id": self.id, "status": self.status, "mode": self.mode, "kind": self.kind}
        if self.mode == "deliver":
            body["warning"] = "delivered before human review; it may still be corrected"
        return body


@dataclass
class Answer:
    text: str = ""  # what the caller receives (for a stream: complete once it has ended)
    raw: str = ""  # what the model produced, before post-processing
    stream: AsyncIterator[ChatDelta] | None = None
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    citations: list[Citation] = field(default_factory=list)
    grounded: bool = False
    refused: bool = False
    groundedness: float | None = None
    degraded: bool = False
    # Built from the source sentences because the model's answer was not supported by them,
    # or (`unasked`) instead of asking the model at all (`grounded.answer_mode`).
    extractive: bool = False
    unasked: bool = False
    # Appended to a stream after its last piece (citations of a grounded answer).
    suffix: str = ""
    # The text a stream has actually released so far (the output guard holds some back).
    streamed: str | None = None
    ttft_ms: float | None = None
    cache_kind: str | None = None  # set when the answer came from the response cache
    # The tools the model called, as the caller receives them (for a stream: complete once
    # it has ended); empty for a plain answer.
    tool_calls: list[ToolCall] = field(default_factory=list)
    review: ReviewMark | None = None  # set when the answer went to human review
    _done: list[Callback] = field(default_factory=list, repr=False)
    _close: list[Callback] = field(default_factory=list, repr=False)

    @classmethod
    def refusal(cls, message: str) -> Answer:
        return cls(text=message, refused=True)

    def on_done(self, fn: Callback) -> None:
        self._done.append(fn)

    def on_close(self, fn: Callback) -> None:
        self._close.append(fn)

    def pending_done(self) -> list[Callback]:
        return self._done

    def time_done_from(self, start: int, add_ms: Callable[[float], None]) -> None:
        """Report the run time of the completion steps from `start` on to `add_ms`."""
        for i in range(start, len(self._done)):
            self._done[i] = _timed(self._done[i], add_ms)

    async def complete(self) -> None:
        """The answer is whole (a stream ran out): run the completion steps once each."""
        while self._done:
            await self._done.pop(0)(self)

    async def close(self, trace_id: str) -> None:
        """Release what the turn held; one failing must not skip the others."""
        while self._close:
            fn = self._close.pop(0)
            try:
                await fn(self)
            except Exception:  # noqa: BLE001 - the trace and the other holds still matter
                log.exception("closing step failed (trace %s)", trace_id)


def _timed(fn: Callback, add_ms: Callable[[float], None]) -> Callback:
    async def run(answer: Answer) -> None:
        t0 = time.perf_counter()
        try:
            await fn(answer)
        finally:
            add_ms((time.perf_counter() - t0) * 1000)

    return run


async def aclose_stream(stream: AsyncIterator[ChatDelta]) -> None:
    """Close a wrapped stream early (the caller went away) so its upstream is released."""
    if isinstance(stream, AsyncGenerator):
        await stream.aclose()
