"""Number the retrieved chunks and render the turn's registry prompt (`state.prompt`, chosen
by prompt_select) with them: whole, or (`grounded.context_select: sentences`) only their
sentences that bear on the question (`engine/sentences.py`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import GroundedConfig
from lockgate.engine.answer import Answer
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.sentences import Embed, select_sentences
from lockgate.engine.stages.prompt_select import PromptSelect
from lockgate.engine.state import PromptRecord, TurnState
from lockgate.engine.turn import Turn
from lockgate.models.base import EmbeddingBackend
from lockgate.prompts.spec import PromptSpec
from lockgate.retrieval.hybrid import RetrievedChunk

if TYPE_CHECKING:
    from lockgate.services import Services


def source_label(chunk: RetrievedChunk) -> str:
    # The name only: neither the folders above the file nor a URL's query go to the model.
    parts = [Path(chunk.shown_source).name]
    if chunk.page:
        parts.append(f"page {chunk.page}")
    if chunk.heading_path:
        parts.append(" > ".join(chunk.heading_path))
    return ", ".join(parts)


def select_context(chunks: list[RetrievedChunk], limit: int, budget: int) -> list[RetrievedChunk]:
    chosen: list[RetrievedChunk] = []
    used = 0
    for chunk in chunks:
        if len(chosen) >= limit:
            break
        if chosen and used + len(chunk.text) > budget:
            continue
        chosen.append(chunk)
        used += len(chunk.text)
    return chosen


class BuildPrompt(Stage):
    name: ClassVar[str] = "build_prompt"
    after: ClassVar[tuple[str, ...]] = ("retrieve", "context_guard", "input_guard")
    before: ClassVar[tuple[str, ...]] = ("call_model",)

    def __init__(
        self,
        select: PromptSelect,
        config: GroundedConfig,
        embedder: EmbeddingBackend | None = None,
        query_embedder: EmbeddingBackend | None = None,
        cpu: CpuGate | None = None,
    ) -> None:
        # For pipelines configured without prompt_select: the same choice, made here.
        self.select = select
        self.config = config
        self.embedder = embedder
        self.query_embedder = query_embedder or embedder
        self.cpu = cpu

    @classmethod
    def from_services(cls, services: Services) -> BuildPrompt:
        return cls(
            PromptSelect.from_services(services),
            services.settings.grounded,
            services.embedder,
            services.query_embedder,
            services.cpu,
        )

    def sentences(self, question: str, chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
        cfg = self.config
        embed: Embed | None = None
        qvec = None
        if cfg.context_semantic and self.embedder is not None and self.query_embedder:
            embed = self.embedder.embed
            # Retrieval embedded this question already: the embedder remembers it.
            qvec = self.query_embedder.embed([question])[0]
        return select_sentences(
            question,
            chunks,
            cfg.context_sentences,
            cfg.context_neighbours,
            cfg.prompt_chars,
            qvec,
            embed,
        )

    @staticmethod
    def render(
        spec: PromptSpec, turn: Turn, chunks: list[RetrievedChunk], canary: str | None
    ) -> str:
        numbered = list(enumerate(chunks, start=1))
        # Best source last, next to the question: a small model copies from what is nearest
        # (4/10 -> 7/10 correct on samples/questions.jsonl with Gemma 270M).
        sources = "\n\n".join(
            f"[{i}] ({source_label(c)})\n{c.text.strip()}" for i, c in reversed(numbered)
        )
        # Values go in as text and are never rendered themselves: a chunk quoting
        # "{{ canary }}" cannot pull the secret into the prompt.
        text = spec.render(sources=sources, question=turn.question, canary=canary or "")
        if not canary:
            # No leak check configured: leave the canary line out rather than half-filled.
            text = "\n".join(line for line in text.split("\n") if "reference :" not in line)
        return text

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        if not turn.grounded or state.retrieval is None:
            return await call_next(turn, state)
        cfg = self.config
        record = state.retrieval
        if cfg.context_select == "sentences" and record.result.chunks:
            # Sentences from more chunks than would fit whole, under a tighter cap: the
            # answer is often one sentence of the fourth chunk.
            t0 = time.perf_counter()
            pool = record.result.chunks[: cfg.sentence_pool]
            record.context = await run_cpu(self.cpu, self.sentences, turn.question, pool)
            state.note("build_prompt.sentences", (time.perf_counter() - t0) * 1000)
        else:
            record.context = select_context(
                record.result.chunks, cfg.context_chunks, cfg.context_chars
            )
        if state.prompt is None or state.prompt.spec is None:
            found = self.select.select(turn)
            state.prompt = PromptRecord(
                found.name, found.version, found.hash, found.label, found.spec
            )
        assert state.prompt.spec is not None
        prompt = self.render(state.prompt.spec, turn, record.context, state.guard.canary)
        state.prompt_text = prompt
        return await call_next(turn.with_prompt(prompt), state)
