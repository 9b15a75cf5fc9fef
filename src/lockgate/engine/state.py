"""Typed records a turn accumulates as it runs: each stage writes its own record, and the
trace, the events and the HTTP reply read them. No stage hands another untyped data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lockgate.guardrails.base import SEVERITY, GuardResult
from lockgate.guardrails.vault import Vault
from lockgate.observability.events import Event
from lockgate.prompts.spec import PromptSpec
from lockgate.retrieval.hybrid import RetrievedChunk, SearchResult

if TYPE_CHECKING:
    from lockgate.cache.service import Lookup
    from lockgate.engine.turn import Turn
    from lockgate.routing.router import Decision
    from lockgate.upstreams.fallback import CallReport


@dataclass
class StageTiming:
    stage: str
    ms: float
    note: str = ""
    # When the stage began, in ms since the turn started: a span exporter lays stages out on
    # the turn's timeline with it (`ms` is the stage's own time, without inner layers).
    start_ms: float | None = None

    def add(self, ms: float) -> None:
        self.ms += ms


@dataclass
class GuardEntry:
    target: str
    result: GuardResult

    def as_dict(self) -> dict[str, Any]:
        entry = self.result.as_dict()
        if self.target:
            entry["target"] = self.target
        return entry


@dataclass
class GuardLog:
    entries: list[GuardEntry] = field(default_factory=list)
    action: str = "allow"  # the most severe action taken on this turn
    groundedness: float | None = None
    # What the input guard kept aside for the output guard.
    canary: str | None = None
    user_text: str = ""
    system_prompt: str = ""

    def add(self, result: GuardResult, target: str = "") -> None:
        self.entries.append(GuardEntry(target, result))
        # Links taken out of an answer or a chunk do not make the turn "redacted": it may
        # still be cached and routed as usual (the trace keeps the rewrite).
        if SEVERITY[result.verdict] > SEVERITY.get(self.action, 0):
            self.action = result.verdict


@dataclass
class RetrievalRecord:
    result: SearchResult
    context: list[RetrievedChunk] = field(default_factory=list)  # the chunks in the prompt
    # Another query's chunks under the turn's own filters (tenant, groups): a second hop.
    again: Callable[[str], list[RetrievedChunk]] | None = None


@dataclass
class PromptRecord:
    """The registry prompt a grounded turn answers with, as resolved before the cache looks
    up: name, version number, content hash and the label it came through (None when the
    version was pinned by number)."""

    name: str
    version: int
    hash: str | None = None
    label: str | None = None
    spec: PromptSpec | None = None


@dataclass
class CallRecord:
    report: CallReport | None = None
    degraded_because: str | None = None

    def as_dict(self) -> dict[str, Any] | None:
        if self.report is None:
            return None
        out = self.report.as_dict()
        if self.degraded_because is not None:
            out["degraded_because"] = self.degraded_because
        return out


@dataclass
class CacheOutcome:
    status: str  # hit | miss | bypass
    lookup: Lookup | None = None
    reason: str | None = None  # why the cache was bypassed
    answered_by: str | None = None
    stored: bool | None = None
    not_stored: str | None = None
    entry: int | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.lookup is not None:
            out = self.lookup.trace()
        else:
            out = {"status": self.status}
            if self.reason:
                out["reason"] = self.reason
        if self.answered_by is not None:
            out["answered_by"] = self.answered_by
        if self.stored is not None:
            out["stored"] = self.stored
        if self.not_stored is not None:
            out["not_stored"] = self.not_stored
        if self.entry is not None:
            out["entry"] = self.entry
        return out


@dataclass
class TurnState:
    started: float = field(default_factory=time.perf_counter)
    # The deepest turn the pipeline reached: what the trace reports as sent.
    turn: Turn | None = None
    vault: Vault = field(default_factory=Vault)
    guard: GuardLog = field(default_factory=GuardLog)
    retrieval: RetrievalRecord | None = None
    prompt: PromptRecord | None = None
    prompt_text: str | None = None  # the prompt as the backend received it
    route: Decision | None = None
    call: CallRecord | None = None
    cache: CacheOutcome | None = None
    served_by: tuple[str, str] | None = None  # (model, backend) when a fallback answered
    release: tuple[str, str] | None = None  # (name, stage) of the release serving the turn
    timings: list[StageTiming] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # extra reply headers
    events: list[Event] = field(default_factory=list)  # emitted when the turn ends
    status: str = "ok"
    http_status: int = 200
    error: str | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def note(self, stage: str, ms: float = 0.0, note: str = "") -> None:
        start = round(max(0.0, self.elapsed_ms() - ms), 3)
        self.timings.append(StageTiming(stage, ms, note, start))

    def note_retrieval(self, result: SearchResult) -> None:
        """The retrieval's timings, and whether its question was embedded by the fallback
        embedder: then in the trace's stages and an `x-lockgate-embedding-fallback` header."""
        for part, ms in result.timings_ms.items():
            self.note(f"retrieve.{part}", ms)
        fb = result.embedding_fallback
        if fb is not None:
            self.note("retrieve.embedding_fallback", 0.0, f"{fb.model}: {fb.reason}")
            self.headers["x-lockgate-embedding-fallback"] = fb.model

    def fail(self, status: int, error: str, kind: str = "error") -> None:
        self.status, self.http_status, self.error = kind, status, error
