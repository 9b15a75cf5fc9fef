"""Retrieve chunks for the grounded model; refuse up front when nothing is relevant enough."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import GroundedConfig
from lockgate.engine.answer import Answer
from lockgate.engine.answer_type import parts
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.extractive import without_introduction
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.sentences import without_placeholders
from lockgate.engine.state import RetrievalRecord, TurnState
from lockgate.engine.turn import Turn
from lockgate.retrieval.hybrid import HybridRetriever, RetrievedChunk, SearchFilters, SearchResult

if TYPE_CHECKING:
    from lockgate.services import Services


class Retrieve(Stage):
    name: ClassVar[str] = "retrieve"
    after: ClassVar[tuple[str, ...]] = ("input_guard",)
    before: ClassVar[tuple[str, ...]] = ("context_guard", "build_prompt", "call_model")

    def __init__(
        self,
        retriever: HybridRetriever,
        config: GroundedConfig,
        top_k: int,
        cpu: CpuGate | None = None,
    ) -> None:
        self.retriever = retriever
        self.config = config
        self.top_k = top_k
        self.cpu = cpu

    @classmethod
    def from_services(cls, services: Services) -> Retrieve:
        s = services.settings
        retriever = services.retriever
        if s.grounded.chunks_per_document is not None:
            # More chunks of each top document than search shows: the answer's sentence
            # pool wants their second chunks.
            retriever = retriever.per_document(
                s.grounded.chunks_per_document,
                s.grounded.dominant_ratio,
                s.grounded.dominant_chunks,
            )
        return cls(retriever, s.grounded, s.retrieval.top_k, services.cpu)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not turn.grounded:
            return await call_next(turn, state)
        cfg = self.config
        # Enough chunks for the sentence pool the prompt and the extract draw from.
        k = turn.top_k or max(cfg.context_chunks, self.top_k, cfg.sentence_pool)
        # Embedding the query is CPU work; keep the event loop free for other requests.
        # The caller's tenant and groups always come from its principal, never from the body.
        filters = dataclasses.replace(
            turn.filters, tenant=turn.principal.tenant, groups=tuple(turn.principal.groups)
        )
        # Embedding the question and scoring the index: CPU work, through the gate.
        # Redaction placeholders (`<IBAN_1>`) are the caller's data, not what to look for.
        # The caller's introduction ("Hi, Marta here (<EMAIL_1>).") says nothing the
        # documents are about.
        asking = without_introduction(turn.question)
        query = without_placeholders(asking).strip() or turn.question
        result = await run_cpu(self.cpu, self._search, query, k, filters)
        state.retrieval = RetrievalRecord(
            result, again=functools.partial(self._again, result, k, filters)
        )
        state.note_retrieval(result)
        if not result.chunks or result.max_similarity < cfg.min_relevance:
            state.note("retrieve.refuse", 0.0, f"best similarity {result.max_similarity:.3f}")
            return Answer.refusal(cfg.refusal_message)
        return await call_next(turn, state)

    def _again(
        self, result: SearchResult, k: int, filters: SearchFilters, query: str
    ) -> list[RetrievedChunk]:
        """Another query's chunks under the turn's filters (a second hop of the answer),
        each new one listed with the turn's retrieved chunks: it was retrieved too."""
        found = self.retriever.search(query, k, filters).chunks
        known = {c.chunk_id for c in result.chunks}
        for c in found:
            if c.chunk_id not in known:
                known.add(c.chunk_id)
                result.chunks.append(dataclasses.replace(c, rank=len(result.chunks) + 1))
        return found

    def _search(self, query: str, k: int, filters: SearchFilters) -> SearchResult:
        """The question's chunks; for a question asking two things, merged with each part's
        own best chunks, so the sentence pool holds a chunk for every part."""
        result = self.retriever.search(query, k, filters)
        asked = parts(query) if self.config.part_retrieval else [query]
        if len(asked) < 2:
            return result
        per_part = [self.retriever.search(p, k, filters) for p in asked]
        merged = interleave([result.chunks, *(r.chunks for r in per_part)])
        timings = dict(result.timings_ms)
        timings["parts"] = sum(sum(r.timings_ms.values()) for r in per_part)
        best = max([result.max_similarity, *(r.max_similarity for r in per_part)])
        return SearchResult(merged[: k + len(asked)], best, timings)


def interleave(lists: list[list[RetrievedChunk]]) -> list[RetrievedChunk]:
    """Round robin over ranked lists, each chunk once (at its best place), ranks renumbered:
    the first few places hold every list's best chunks."""
    out: list[RetrievedChunk] = []
    seen: set[int] = set()
    for i in range(max((len(x) for x in lists), default=0)):
        for ranked in lists:
            if i < len(ranked) and ranked[i].chunk_id not in seen:
                seen.add(ranked[i].chunk_id)
                out.append(dataclasses.replace(ranked[i], rank=len(out) + 1))
    return out
