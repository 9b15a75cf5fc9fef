"""`ReviewQueue`: putting answers and tool calls up for review, and reviewers' decisions.

Who may do what is decided here, once, for every edge: reviewers (roles `reviewer` or
`admin`) list, claim and decide the items of their own tenant; the caller an item belongs
to may read it (to learn the decision) and nothing else; anyone else is told it does not
exist. A reviewer cannot decide on their own request. Every entry and decision is an event
the audit log records."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lockgate.config import REVIEW_KINDS, ReviewConfig
from lockgate.observability.events import (
    Event,
    ReviewCallbackSent,
    ReviewClaimed,
    ReviewDecided,
    ReviewQueued,
)
from lockgate.observability.metrics import METRICS, Metrics
from lockgate.review.callbacks import CallbackSender, Delivery, host_of
from lockgate.review.errors import ReviewForbidden, ReviewInputError, ReviewNotFound
from lockgate.review.tools import ToolCallDecision, ToolCallRequest
from lockgate.review.views import for_caller, for_reviewer
from lockgate.store.reviews import (
    REVIEW_ID,
    STATUSES,
    CorrectionRecord,
    ReviewRecord,
    ReviewStore,
    new_review_id,
)

# The roles of lockgate.auth.roles that may review (that package is not imported here: it
# sits above the engine, which uses this queue).
REVIEWER_ROLES: tuple[str, ...] = ("reviewer", "admin")
_MAX_EDIT = 200_000

Emit = Callable[[list[Event]], None]


class Actor(Protocol):
    """Who acts: a Principal, or anything with the same three fields."""

    @property
    def id(self) -> str: ...

    @property
    def tenant(self) -> str: ...

    @property
    def roles(self) -> tuple[str, ...]: ...


def is_reviewer(actor: Actor) -> bool:
    return any(r in REVIEWER_ROLES for r in actor.roles)


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _no_events(events: list[Event]) -> None:
    pass


class ReviewQueue:
    def __init__(
        self,
        store: ReviewStore,
        config: ReviewConfig,
        emit: Emit | None = None,
        sender: CallbackSender | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics = METRICS,
    ) -> None:
        self.store = store
        self.config = config
        self.emit = emit or _no_events
        self.sender = sender or CallbackSender()
        self.clock = clock
        self.metrics = metrics

    # -- entering the queue ------------------------------------------------------------------

    def submit(self, rec: ReviewRecord) -> ReviewRecord:
        """Queue an item built by the caller (the engine's review stage builds answers)."""
        stored = self.store.add(rec)
        self.metrics.inc("lockgate_review_items_total", kind=rec.kind, mode=rec.mode)
        reasons = tuple(sorted({str(r.get("kind")) for r in rec.reasons}))
        self.emit(
            [
                ReviewQueued(
                    rec.trace_id or "",
                    rec.principal,
                    rec.tenant,
                    rec.id,
                    rec.kind,
                    rec.mode,
                    reasons,
                )
            ]
        )
        return stored

    def hold_tool_calls(
        self,
        calls: Sequence[ToolCallRequest],
        *,
        principal: Actor,
        trace_id: str,
        app: str | None = None,
        model: str | None = None,
        question: str = "",
    ) -> list[ReviewRecord]:
        """Queue each side-effect tool call. Returns one item per call, in order, or none
        when tool call review is off for this app. Each item's `mode` says what the caller
        must do: `hold`, wait for an approval (`tool_call_decisions`, `wait_for_tool_calls`)
        before running the call; `deliver`, run it now, it is reviewed after."""
        mode = self.config.mode(app, "tool_call")
        if mode == "off":
            return []
        now = self.clock()
        out = []
        for call in calls:
            rec = ReviewRecord(
                id=new_review_id(),
                tenant=principal.tenant,
                principal=principal.id,
                kind="tool_call",
                mode=mode,
                created_at=now,
                app=app,
                model=model,
                trace_id=trace_id,
                reasons=[{"kind": "tool_call", "tool": call.name, "side_effects": True}],
                question=question or None,
                payload=call.payload(),
            )
            out.append(self.submit(rec))
        return out

    def tool_call_decisions(
        self, review_ids: Sequence[str], tenant: str
    ) -> list[ToolCallDecision]:
        """The current decision on each held call (status `pending` until there is one)."""
        out = []
        for review_id in review_ids:
            rec = self.store.get(review_id, tenant)
            if rec is None or rec.kind != "tool_call" or rec.payload is None:
                raise ReviewNotFound(f"no tool call review {review_id}")
            arguments = None
            if rec.status in ("approved", "edited") and rec.final_answer is not None:
                arguments = json.loads(rec.final_answer)
            elif rec.mode == "deliver" and rec.status == "pending":
                arguments = rec.payload.get("arguments")
            out.append(
                ToolCallDecision(
                    rec.id,
                    str(rec.payload.get("call_id")),
                    str(rec.payload.get("name")),
                    rec.status,
                    arguments,
                    rec.mode,
                    rec.decided_by,
                    rec.note,
                )
            )
        return out

    async def wait_for_tool_calls(
        self, review_ids: Sequence[str], tenant: str, timeout_s: float, poll_s: float = 0.5
    ) -> list[ToolCallDecision]:
        """Poll until every call is decided or `timeout_s` has passed; undecided calls come
        back `pending` (and must not run)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await asyncio.to_thread(self.tool_call_decisions, review_ids, tenant)
            if all(d.status != "pending" for d in found) or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    # -- reading -----------------------------------------------------------------------------

    def _reviewer(self, actor: Actor) -> None:
        if not is_reviewer(actor):
            raise ReviewForbidden(
                f"the {' or '.join(REVIEWER_ROLES)} role is required to review answers"
            )

    def find(
        self,
        reviewer: Actor,
        status: str | None = "open",
        kind: str | None = None,
        min_age_s: float | None = None,
        max_age_s: float | None = None,
        limit: int = 50,
    ) -> list[ReviewRecord]:
        self._reviewer(reviewer)
        return self.store.find(
            reviewer.tenant, status, kind, min_age_s, max_age_s, limit, now=self.clock()
        )

    def get(self, actor: Actor, review_id: str) -> ReviewRecord:
        """The item for a reviewer of its tenant or for the caller it belongs to."""
        rec = self.store.get(review_id, actor.tenant) if REVIEW_ID.fullmatch(review_id) else None
        if rec is None or not (is_reviewer(actor) or rec.principal == actor.id):
            raise ReviewNotFound(f"no review found with id '{review_id}'")
        return rec

    def view(self, actor: Actor, rec: ReviewRecord) -> dict[str, Any]:
        if is_reviewer(actor):
            return for_reviewer(rec, self.config.rejected_message)
        return for_caller(rec, self.config.rejected_message)

    # -- deciding ----------------------------------------------------------------------------

    def _target(self, reviewer: Actor, review_id: str) -> ReviewRecord:
        self._reviewer(reviewer)
        rec = self.get(reviewer, review_id)
        if rec.principal == reviewer.id:
            # Four eyes: whoever asked cannot be the one who lets the answer through.
            raise ReviewForbidden("a reviewer cannot decide on their own request")
        return rec

    def claim(self, reviewer: Actor, review_id: str) -> ReviewRecord:
        self._target(reviewer, review_id)
        now = self.clock()
        ttl = self.config.claim_ttl_s
        rec = self.store.claim(review_id, reviewer.tenant, reviewer.id, ttl, now)
        if rec is None:
            raise ReviewNotFound(f"no review found with id '{review_id}'")
        self.emit(
            [
                ReviewClaimed(
                    rec.trace_id or "",
                    reviewer.id,
                    reviewer.tenant,
                    rec.id,
                    rec.claim_expires_at or now,
                )
            ]
        )
        return rec

    def approve(self, reviewer: Actor, review_id: str, note: str | None = None) -> ReviewRecord:
        rec = self._target(reviewer, review_id)
        final = rec.answer
        if rec.kind == "tool_call":
            final = json.dumps((rec.payload or {}).get("arguments", {}), sort_keys=True)
        return self._decide(reviewer, rec, "approved", final, note)

    def edit(
        self,
        reviewer: Actor,
        review_id: str,
        text: str | None = None,
        arguments: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> ReviewRecord:
        """Approve with a replacement: new answer text, or new tool call arguments (as a
        dict, or as `text` holding a JSON object)."""
        rec = self._target(reviewer, review_id)
        if rec.kind == "tool_call":
            if arguments is None and text is not None:
                try:
                    arguments = json.loads(text)
                except ValueError:
                    raise ReviewInputError("edited tool arguments must be JSON") from None
            if not isinstance(arguments, dict):
                raise ReviewInputError("edited tool arguments must be a JSON object")
            return self._decide(
                reviewer, rec, "edited", json.dumps(arguments, sort_keys=True), note
            )
        if arguments is not None:
            raise ReviewInputError("only a tool call review takes arguments; send text")
        if text is None or not text.strip():
            raise ReviewInputError("the edited answer must not be empty")
        if len(text) > _MAX_EDIT:
            raise ReviewInputError(f"the edited answer is longer than {_MAX_EDIT} characters")
        return self._decide(reviewer, rec, "edited", text, note, correction=True)

    def reject(
        self, reviewer: Actor, review_id: str, reason: str | None = None
    ) -> ReviewRecord:
        rec = self._target(reviewer, review_id)
        return self._decide(reviewer, rec, "rejected", None, reason)

    def _decide(
        self,
        reviewer: Actor,
        rec: ReviewRecord,
        status: str,
        final: str | None,
        note: str | None,
        correction: bool = False,
    ) -> ReviewRecord:
        decided = self.store.decide(
            rec.id,
            reviewer.tenant,
            reviewer.id,
            status,
            final,
            note,
            correction=correction and bool(rec.question) and rec.answer is not None,
            now=self.clock(),
        )
        if decided is None:
            raise ReviewNotFound(f"no review found with id '{rec.id}'")
        self.metrics.inc("lockgate_review_decisions_total", kind=rec.kind, decision=status)
        given = self.config.rejected_message if status == "rejected" else final
        self.emit(
            [
                ReviewDecided(
                    rec.trace_id or "",
                    reviewer.id,
                    reviewer.tenant,
                    rec.id,
                    rec.kind,
                    status,
                    rec.principal,
                    _digest(given),
                )
            ]
        )
        return decided

    # -- telling the caller ------------------------------------------------------------------

    def notify(self, rec: ReviewRecord) -> Delivery | None:
        """POST a decision to the app's callback URL, when it has one; the outcome is kept on
        the item and audited. Blocking (the network): edges run it off their event loop."""
        cfg = self.config.callback(rec.app)
        if cfg is None or rec.status == "pending":
            return None
        payload = {
            "type": "review.decided",
            "sent_at": self.clock(),
            "review": for_caller(rec, self.config.rejected_message),
        }
        delivery = self.sender.send(cfg, payload)
        self.store.record_callback(rec.id, delivery.describe(), delivery.attempts)
        self.emit(
            [
                ReviewCallbackSent(
                    rec.trace_id or "",
                    rec.tenant,
                    rec.id,
                    host_of(cfg.url),
                    delivery.delivered,
                    delivery.status,
                    delivery.attempts,
                    delivery.error,
                )
            ]
        )
        return delivery

    # -- corrections -------------------------------------------------------------------------

    def corrections(self, reviewer: Actor) -> list[CorrectionRecord]:
        self._reviewer(reviewer)
        return self.store.corrections(reviewer.tenant)

    def eval_cases(self, reviewer: Actor) -> list[dict[str, Any]]:
        """Corrections as evaluation cases: the question, the answer a reviewer wrote as the
        expected one, and the model's answer it replaced."""
        return [
            {
                "id": f"correction-{c.id}",
                "question": c.question,
                "expected": c.corrected,
                "rejected": c.original,
                "metadata": {
                    "source": "review",
                    "review_id": c.review_id,
                    "trace_id": c.trace_id,
                    "tenant": c.tenant,
                    "app": c.app,
                    "model": c.model,
                    "reviewer": c.reviewer,
                    "created_at": c.created_at,
                },
            }
            for c in self.corrections(reviewer)
        ]

    # -- metrics -----------------------------------------------------------------------------

    def publish_metrics(self) -> None:
        """Backlog by kind and status, and the age of the oldest open item per kind, as
        gauges (read from the store: every gateway process reports the same queue)."""
        now = self.clock()
        counts = self.store.backlog(now)
        for kind in REVIEW_KINDS:
            for status in (*STATUSES, "claimed"):
                n = counts.get((kind, status), 0)
                self.metrics.set("lockgate_review_backlog", n, kind=kind, status=status)
        oldest = self.store.oldest_open()
        for kind in REVIEW_KINDS:
            age = max(0.0, now - oldest[kind]) if kind in oldest else 0.0
            self.metrics.set("lockgate_review_oldest_open_age_seconds", age, kind=kind)
