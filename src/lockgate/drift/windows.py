"""One window of a tenant's traffic, as drift compares it: the grounded assistant's completed
turns between two instants (per tenant, optionally per app), read from the trace and feedback
tables.

Rates and scores come from every turn of the window (plain metadata, nothing decrypted). The
questions are decrypted only for a random sample of at most `sample_size` traces, because
the detector embeds them at check time (see detector.py for why). A trace's question is the
last user message it sent, as the retrieval stage searched with it (redacted when the input
guard redacted it)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.engine.parse import GROUNDED_MODEL
from lockgate.store import pending
from lockgate.store import tables as tb

_IN_BATCH = 500  # ids per IN (...) when fetching the sampled questions


@dataclass(frozen=True)
class Window:
    """[start, end) in epoch seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")

    def as_dict(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end}


@dataclass
class WindowData:
    window: Window
    turns: int = 0
    refused: list[bool] = field(default_factory=list)
    # Answered (not refused) turns: was the answer grounded in cited sources.
    grounded: list[bool] = field(default_factory=list)
    # Turns that retrieved: the best vector similarity (None when nothing came back) and
    # whether no document was relevant enough.
    top_scores: list[float] = field(default_factory=list)
    no_relevant: list[bool] = field(default_factory=list)
    feedback: list[int] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


def top_vector_score(retrieved: Any) -> float | None:
    """The best cosine similarity among a trace's retrieved chunks (engine/trace.py's list)."""
    items = retrieved if isinstance(retrieved, list) else []
    scores = [
        float(item["vector_score"])
        for item in items
        if isinstance(item, dict) and isinstance(item.get("vector_score"), int | float)
    ]
    return max(scores) if scores else None


def retrieval_ran(stages: Any) -> tuple[bool, bool]:
    """(whether the retrieval stage ran on the turn, whether it refused for want of sources),
    from the trace's stage timings (`retrieve.*`, `retrieve.refuse`)."""
    rows = stages if isinstance(stages, list) else []
    names = [s.get("stage") for s in rows if isinstance(s, dict)]
    ran = any(isinstance(n, str) and n.startswith("retrieve.") for n in names)
    return ran, "retrieve.refuse" in names


def question_of(request: Any) -> str | None:
    """The last non-empty user message of a traced request (text parts joined)."""
    messages = request.get("messages") if isinstance(request, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str) and content.strip():
            return content.strip()
    return None


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


class WindowLoader:
    def __init__(
        self,
        engine: Engine,
        cipher: FieldCipher | None = None,
        min_relevance: float = 0.3,
        sample_size: int = 500,
    ) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()
        self.min_relevance = min_relevance
        self.sample_size = sample_size

    def _where(self, stmt: Any, tenant: str, app: str | None, window: Window) -> Any:
        t = tb.traces
        stmt = stmt.where(
            t.c.tenant == tenant,
            t.c.model == GROUNDED_MODEL,
            t.c.status == "ok",
            t.c.created_at >= window.start,
            t.c.created_at < window.end,
        )
        return stmt if app is None else stmt.where(t.c.app == app)

    def load(
        self, tenant: str, window: Window, app: str | None = None, questions: bool = True
    ) -> WindowData:
        pending.settle()
        t = tb.traces
        data = WindowData(window)
        ids: list[str] = []
        stmt = self._where(
            select(t.c.id, t.c.refused, t.c.grounded, t.c.retrieved, t.c.stages),
            tenant,
            app,
            window,
        )
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                ids.append(row.id)
                refused = bool(row.refused)
                data.refused.append(refused)
                if not refused:
                    data.grounded.append(bool(row.grounded))
                ran, refused_for_sources = retrieval_ran(_json(row.stages))
                if ran:
                    top = top_vector_score(_json(row.retrieved))
                    # Nothing retrieved scores as the retriever's own floor, -1.
                    data.top_scores.append(-1.0 if top is None else top)
                    data.no_relevant.append(
                        refused_for_sources or top is None or top < self.min_relevance
                    )
            data.feedback = self._feedback(conn, tenant, app, window)
        data.turns = len(ids)
        if questions:
            data.questions = self._questions(sorted(ids), window)
        return data

    def _feedback(self, conn: Any, tenant: str, app: str | None, window: Window) -> list[int]:
        f = tb.feedback
        stmt = select(f.c.rating).where(
            f.c.tenant == tenant, f.c.created_at >= window.start, f.c.created_at < window.end
        )
        if app is not None:
            stmt = stmt.where(f.c.app == app)
        return [int(r.rating) for r in conn.execute(stmt)]

    def _questions(self, ids: Sequence[str], window: Window) -> list[str]:
        # Seeded by the window, so a report run twice over the same window embeds the same
        # sample and prints the same numbers.
        rng = random.Random(f"{window.start}:{window.end}")
        chosen = ids if len(ids) <= self.sample_size else rng.sample(list(ids), self.sample_size)
        found: list[str] = []
        t = tb.traces
        with self.engine.connect() as conn:
            for batch in _batches(sorted(chosen), _IN_BATCH):
                for row in conn.execute(select(t.c.request).where(t.c.id.in_(batch))):
                    if not isinstance(row.request, str):
                        continue
                    question = question_of(_json(self.cipher.decrypt(row.request)))
                    if question is not None:
                        found.append(question)
        return found

    def tenants(self, window: Window) -> list[str]:
        """Tenants with grounded turns in `window` (what the scheduled check walks)."""
        pending.settle()
        t = tb.traces
        stmt = (
            select(t.c.tenant)
            .distinct()
            .where(
                t.c.model == GROUNDED_MODEL,
                t.c.created_at >= window.start,
                t.c.created_at < window.end,
            )
        )
        with self.engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(stmt))

    def apps(self, tenant: str, window: Window) -> list[str]:
        pending.settle()
        t = tb.traces
        stmt = (
            select(t.c.app)
            .distinct()
            .where(
                t.c.tenant == tenant,
                t.c.model == GROUNDED_MODEL,
                t.c.app.is_not(None),
                t.c.created_at >= window.start,
                t.c.created_at < window.end,
            )
        )
        with self.engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(stmt))


def _batches(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
