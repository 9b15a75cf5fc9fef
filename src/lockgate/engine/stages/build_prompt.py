"""Number the retrieved chunks and render the turn's registry prompt (`state.prompt`, chosen
by prompt_select) with them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lockgate.config import GroundedConfig
from lockgate.engine.answer import Answer
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.stages.prompt_select import PromptSelect
from lockgate.engine.state import PromptRecord, TurnState
from lockgate.engine.turn import Turn
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

    def __init__(self, select: PromptSelect, config: GroundedConfig) -> None:
        # For pipelines configured without prompt_select: the same choice, made here.
        self.select = select
        self.config = config

    @classmethod
    def from_services(cls, services: Services) -> BuildPrompt:
        return cls(PromptSelect.from_services(services), services.settings.grounded)

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
        record.context = select_context(record.result.chunks, cfg.context_chunks, cfg.context_chars)
        if state.prompt is None or state.prompt.spec is None:
            found = self.select.select(turn)
            state.prompt = PromptRecord(
                found.name, found.version, found.hash, found.label, found.spec
            )
        assert state.prompt.spec is not None
        prompt = self.render(state.prompt.spec, turn, record.context, state.guard.canary)
        state.prompt_text = prompt
        return await call_next(turn.with_prompt(prompt), state)
