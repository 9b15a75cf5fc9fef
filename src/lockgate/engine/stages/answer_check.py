"""Check the grounded model's answer against its sources before it leaves the model stage.

A tiny model often echoes the question, copies a source header or garbles a figure. Sentence
by sentence (a stream is held until each sentence is whole), the grounding scanner judges
whether the sources support it:

- the first claim unsupported (or the answer empty, only an echo of the question, or no
  claim at all): the answer becomes extractive, the best source sentences for the question
  with their [n] markers (`engine/extractive.py`), `answer.extractive` set; with no sentence
  relevant enough, the turn is refused instead;
- a later claim unsupported: the answer ends before it (the model is stopped there);
- "I don't know": left as it is, for postprocess to turn into the refusal.

Echoes of the prompt after the answer ("Question: ...") are cut here for a stream as well as
for a plain answer. Tool-calling turns and degraded (already extractive) answers pass."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lockgate.config import GroundedConfig, ScannerRule
from lockgate.engine.answer import Answer, aclose_stream
from lockgate.engine.answer_type import Kind, describe, fits, kinds, names, parts
from lockgate.engine.citations import clean, says_unknown
from lockgate.engine.cpu import CpuGate, run_cpu
from lockgate.engine.extractive import (
    Extract,
    Search,
    about_someone,
    covers,
    extractive_reply,
    is_title,
    quote,
    topic_words,
    unknown_names,
    unknown_years,
)
from lockgate.engine.pipeline import Next, Stage
from lockgate.engine.sentences import Embed, question_words
from lockgate.engine.stages._guard import policy_for
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Turn
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.grounding import Sentence, content_words, numbers, split_sentences
from lockgate.guardrails.scanners.grounding import GroundingScanner
from lockgate.models.base import ChatDelta, EmbeddingBackend, Usage
from lockgate.retrieval.hybrid import RetrievedChunk

if TYPE_CHECKING:
    from lockgate.services import Services

_BOUNDARY = re.compile(r"[.!?](?:\s*\[\d{1,3}\])*(?=\s)|\n")
_RUNOFF = re.compile(r"\n\s*(?:Question|Sources|Answer|User|Instructions)\s*:")
# "Answer:" or "A:" before the answer itself.
_LABEL = re.compile(r"^\s*(?:(?:answer|a)\s*:\s*)+", re.I)
# A source header the model copied ("[2] (faq.txt, page 1)") and nothing else.
# The heading path may have parentheses of its own ("OPTIONS > HTTPS (SSL/TLS) Options").
_HEADER_ONLY = re.compile(
    r"^\s*(?:\[\d{1,3}\]\s*)?\((?:[^()\n]|\([^()\n]*\))*\)\s*(?:\[\d{1,3}\]\s*)?$"
)


_FIGURE_KINDS = (Kind.NUMBER, Kind.MONEY, Kind.DATE)
# The built-in embedded model (config/models.py): `answer_mode: auto` quotes first for it.
TINY_MODEL = "gemma-3-270m"
_VECTORS = 4096  # source sentence vectors kept


@dataclass
class Verdict:
    keep: str  # the part of the segment that may be released
    stop: bool  # a claim was unsupported: nothing after `keep` is
    supported: int  # supported claims in `keep`
    reason: str = ""


@dataclass
class _Gate:
    """The answer so far: what was released and whether a supported claim is among it."""

    released: str = ""
    held: str = ""  # released text waits here until a supported claim comes
    supported: int = 0
    reason: str = ""
    details: list[str] = field(default_factory=list)
    # The figures of the best-matching source sentences (computed once, when needed).
    figures: set[str] | None = None


class AnswerCheck(Stage):
    name: ClassVar[str] = "answer_check"
    after: ClassVar[tuple[str, ...]] = ("build_prompt", "postprocess", "output_guard")
    before: ClassVar[tuple[str, ...]] = ("call_model",)

    def __init__(
        self,
        guard: GuardEngine,
        config: GroundedConfig,
        embedder: EmbeddingBackend | None = None,
        query_embedder: EmbeddingBackend | None = None,
        cpu: CpuGate | None = None,
    ) -> None:
        self.guard = guard
        self.config = config
        self.embedder = embedder
        self.query_embedder = query_embedder or embedder
        self.cpu = cpu
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_services(cls, services: Services) -> AnswerCheck | None:
        cfg = services.settings.grounded
        if not cfg.extractive.enabled:
            return None
        return cls(services.guard, cfg, services.embedder, services.query_embedder, services.cpu)

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        quoted = await self._quote_first(turn, state)
        if quoted is not None:
            return quoted
        answer = await call_next(turn, state)
        context = state.retrieval.context if state.retrieval else []
        if (
            not turn.grounded
            or not context
            or answer.degraded
            or answer.refused
            or turn.request.tools
        ):
            return answer
        scanner = self._scanner(turn)
        if answer.stream is not None:
            answer.stream = self._checked(turn, state, answer, answer.stream, scanner, context)
            return answer
        t0 = time.perf_counter()
        gate = _Gate()
        text = clean(answer.raw)
        if text:
            await self._segment(turn, text, context, scanner, gate)
        answer.raw = await self._final(turn, state, answer, gate, context, t0)
        return answer

    def quotes_first(self, turn: Turn) -> bool:
        mode = self.config.answer_mode
        if mode == "auto":
            return turn.backend_model == TINY_MODEL
        return mode == "extract_first"

    async def _quote_first(self, turn: Turn, state: TurnState) -> Answer | None:
        """The extract as the answer, without asking the model (`answer_mode`); None when the
        turn is not one for it or no source sentence fits (then the model answers)."""
        record = state.retrieval
        if (
            record is None
            or not record.context
            or not turn.grounded
            or turn.request.tools
            or not self.quotes_first(turn)
        ):
            return None
        t0 = time.perf_counter()
        pool = record.result.chunks[: self.config.sentence_pool]
        built = await run_cpu(
            self.cpu,
            self._extract,
            turn.question,
            record.context,
            pool,
            "",
            record.again,
            shed=False,
        )
        if built is None:
            return None
        record.context[:] = built.context
        state.note("answer_check", (time.perf_counter() - t0) * 1000, "extractive: quoted first")
        answer = Answer(extractive=True, unasked=True)
        if turn.stream:
            answer.stream = _quoted(answer, built.text)
        else:
            answer.raw = built.text
        return answer

    # -- the check -----------------------------------------------------------------------

    def _scanner(self, turn: Turn) -> GroundingScanner:
        policy = policy_for(self.guard, turn)
        rule = next((r for r in policy.output if r.scanner == "grounding"), None)
        built = self.guard.scanner(rule or ScannerRule(scanner="grounding"))
        if isinstance(built, GroundingScanner):
            return built  # the output guard's own: its cached source vectors are shared
        return GroundingScanner(None, self.embedder)

    def judge(
        self,
        question: str,
        segment: str,
        context: list[RetrievedChunk],
        scanner: GroundingScanner,
        gate: _Gate,
    ) -> Verdict:
        """How much of `segment` (whole sentences) may be released after `gate.released`."""
        if says_unknown(segment) and not gate.released:
            return Verdict(segment, stop=False, supported=1, reason="")  # a refusal: kept
        sentences = split_sentences(segment)
        short = {
            s.start for s in sentences if not scanner.is_claim(s) and _names_new(question, s.text)
        }
        claims = [s for s in sentences if scanner.is_claim(s) or s.start in short]
        if not claims:
            return Verdict(segment, stop=False, supported=0)
        results = scanner.check(segment, [c.text for c in context])
        by_start = {r.sentence.start: r for r in results}
        q_words = content_words(question)
        topic = topic_words(question)
        supported = 0
        uncited: list[Sentence] = []
        for s in claims:
            r = by_start.get(s.start)
            words = content_words(s.text)
            if s.start in short:
                # Too short for the scanner ("The default is GnuTLS."): supported when one
                # source has every word of it.
                backed = any(words <= content_words(c.text) for c in context)
                detail = "not in the sources"
            else:
                backed = r is not None and r.support >= scanner.min_support
                detail = r.detail if r else "unchecked"
                if backed and not _rows_agree(s.text, context):
                    # Words of one table row and figures of another pass the scanner.
                    backed, detail = False, "a table row no source has"
            first = not gate.supported and not supported
            echo = bool(words) and words <= q_words and not numbers(s.text)
            # A copied title ("Northwind Cloud Service Level Agreement") names a document;
            # it answers nothing but a question for a name.
            echo = echo or (
                first
                and is_title(s.text)
                and not any(k in (Kind.NAME, Kind.PERSON) for k in kinds(question))
            )
            # The first claim must be about the question: a tiny model often copies a
            # source sentence that is supported but answers something else.
            # (A short answer naming something, "It is SEPA.", need not repeat it.)
            # Nor can it answer for a name or a year no source mentions ("the Platinum
            # plan", "in 2023"): what the sources say is about something else.
            off_topic = first and (
                (s.start not in short and bool(topic) and not topic & question_words(s.text))
                or about_someone(question, context)
                or bool(unknown_names(question, context) or unknown_years(question, context))
            )
            # ... and give the kind of answer asked for: a figure to "how many", a name or
            # a role to "who".
            untyped = first and not off_topic and not fits(question, s.text)
            # ... and, asked for a figure, give one the best-matching source sentences
            # give: a table's neighbouring row ("1 year" for "90 days") is supported too.
            other_figure = (
                first
                and backed
                and not off_topic
                and not untyped
                and not self._figure_agrees(question, s.text, context, gate)
            )
            if backed and not echo and not off_topic and not untyped and not other_figure:
                supported += 1
                if not s.citations:
                    uncited.append(s)
                continue
            reason = (
                "echoes the question or a title"
                if echo
                else "does not address the question"
                if off_topic
                else f"does not give {describe(question)}"
                if untyped
                else "gives another figure than the best-matching source"
                if other_figure
                else detail
            )
            gate.details.append(f"{s.text[:80]!r}: {reason}")
            return Verdict(
                _cite(segment[: s.start], uncited, context),
                stop=True,
                supported=supported,
                reason=f"unsupported: {reason}",
            )
        return Verdict(_cite(segment, uncited, context), stop=False, supported=supported)

    def _figure_agrees(
        self, question: str, text: str, context: list[RetrievedChunk], gate: _Gate
    ) -> bool:
        """Whether the figures of an answer to a figure question (how many, how much, which
        date) are among those of the sentences that best answer it by shared words (cheap:
        nothing is embedded). True where there is nothing to compare."""
        if not self.config.extractive.check_figures or not numbers(text):
            return True
        if not any(k in _FIGURE_KINDS for k in kinds(question)):
            return True
        if gate.figures is None:
            cfg = self.config.extractive
            built = extractive_reply(question, context, cfg.max_sentences, cfg.min_lexical)
            gate.figures = (
                set().union(*(numbers(s.text) for s in built.sentences)) if built else set()
            )
        return not gate.figures or bool(numbers(text) & gate.figures)

    async def _complete(
        self, turn: Turn, state: TurnState, released: str, context: list[RetrievedChunk]
    ) -> str:
        """For a question that asks two things, the source sentences that answer the parts
        the model's answer left out (a tiny model often answers only the first); "" when it
        answered every part, or no sentence answers the rest."""
        question = turn.question
        asked = parts(question)
        if len(asked) < 2 or not self.config.extractive.complete_parts:
            return ""
        missing = [p for p in asked if not covers(p, question, released)]
        if len(missing) == len(asked):
            return ""
        record = state.retrieval
        pool = record.result.chunks[: self.config.sentence_pool] if record else []
        built = await run_cpu(
            self.cpu,
            self._extract,
            question,
            context,
            pool,
            released,
            record.again if record else None,
            shed=False,
        )
        if built is None:
            return ""
        missing += [
            p for p in asked if p not in missing and _other_figures(p, question, released, built)
        ]
        if not missing:
            return ""
        quoted = [
            s
            for s in built.sentences
            if any(covers(p, question, s) for p in missing) and s.text not in released
        ]
        if not quoted:
            return ""
        if record is not None:
            record.context[:] = built.context
        markers = {id(s): n for s, n in zip(built.sentences, built.markers, strict=True)}
        state.note("answer_check", 0.0, f"completed: {len(missing)} part(s) unanswered")
        return " ".join(f"{quote(question, s).rstrip()} [{markers[id(s)]}]" for s in quoted)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Source sentences' vectors, remembered: the same documents' sentences are
        candidates turn after turn, and embedding them is most of an extract's cost."""
        assert self.embedder is not None
        if not texts:
            return self.embedder.embed([])
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            known.update(zip(todo, self.embedder.embed(todo), strict=True))
        with self._lock:
            for t in dict.fromkeys(texts):
                self._vectors[t] = known[t]
                self._vectors.move_to_end(t)
            while len(self._vectors) > _VECTORS:
                self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def _extract(
        self,
        question: str,
        context: list[RetrievedChunk],
        pool: list[RetrievedChunk],
        given: str = "",
        again: Search | None = None,
    ) -> Extract | None:
        embed: Embed | None = None
        qvec = None
        if self.config.extractive.semantic and self.embedder is not None and self.query_embedder:
            embed = self._embed
            qvec = self.query_embedder.embed([question])[0]
        cfg = self.config.extractive
        return extractive_reply(
            question,
            context,
            cfg.max_sentences,
            cfg.min_lexical,
            qvec,
            embed,
            cfg.min_similarity,
            pool=pool if cfg.pool else None,
            min_semantic=cfg.min_semantic if embed is not None else 1.1,
            semantic_weight=cfg.semantic_weight,
            given=given,
            paraphrase=(cfg.min_paraphrase, cfg.paraphrase_margin),
            search=again if cfg.second_hop else None,
        )

    async def _final(
        self,
        turn: Turn,
        state: TurnState,
        answer: Answer,
        gate: _Gate,
        context: list[RetrievedChunk],
        t0: float,
    ) -> str:
        """The answer's text: the model's supported part, else the extractive one (or the
        refusal when there is nothing to quote)."""
        if gate.supported:
            if gate.reason:
                state.note(
                    "answer_check", (time.perf_counter() - t0) * 1000, f"cut: {gate.reason}"[:300]
                )
            released = gate.released.rstrip()
            rest = await self._complete(turn, state, released, context)
            return f"{released} {rest}" if rest else released
        why = gate.reason or (
            "empty answer" if not gate.released.strip() and not gate.held else "no supported claim"
        )
        record = state.retrieval
        pool = record.result.chunks[: self.config.sentence_pool] if record else []
        built = await run_cpu(
            self.cpu,
            self._extract,
            turn.question,
            context,
            pool,
            "",
            record.again if record else None,
            shed=False,
        )
        ms = (time.perf_counter() - t0) * 1000
        if built is None:
            state.note("answer_check", ms, f"refused: {why}; no source sentence fits"[:300])
            answer.refused = True
            answer.text = self.config.refusal_message
            return self.config.refusal_message
        if record is not None:
            # Quoted pool chunks join the context in place: later stages (citations, the
            # output guard) hold this same list.
            record.context[:] = built.context
        answer.extractive = True
        state.note("answer_check", ms, f"extractive: {why}"[:300])
        return built.text

    async def _checked(
        self,
        turn: Turn,
        state: TurnState,
        answer: Answer,
        deltas: AsyncIterator[ChatDelta],
        scanner: GroundingScanner,
        context: list[RetrievedChunk],
    ) -> AsyncIterator[ChatDelta]:
        t0 = time.perf_counter()
        gate = _Gate()
        pending = ""
        finish: str | None = None
        usage: Usage | None = None
        stopped = False
        try:
            async for delta in deltas:
                finish = delta.finish_reason or finish
                usage = delta.usage or usage
                pending += delta.text
                runoff = _RUNOFF.search(pending)
                if runoff:
                    pending, stopped = pending[: runoff.start()], True
                cut = len(pending) if stopped else _last_boundary(pending)
                if cut:
                    ready, pending = pending[:cut], pending[cut:]
                    out, stop = await self._segment(turn, ready, context, scanner, gate)
                    if out:
                        yield ChatDelta(text=out)
                    stopped = stopped or stop
                if stopped:
                    break
            if pending and not stopped:
                out, _ = await self._segment(turn, pending, context, scanner, gate)
                if out:
                    yield ChatDelta(text=out)
        finally:
            await aclose_stream(deltas)
        text = await self._final(turn, state, answer, gate, context, t0)
        if not gate.supported:
            yield ChatDelta(text=text)  # nothing of the model's was released
        elif len(text) > len(gate.released.rstrip()):
            # Sentences quoted for the parts of the question the model left unanswered.
            yield ChatDelta(text=text[len(gate.released.rstrip()) :])
        answer.raw = text
        answer.finish_reason = finish or "stop"
        yield ChatDelta(finish_reason=answer.finish_reason, usage=usage)

    async def _segment(
        self,
        turn: Turn,
        ready: str,
        context: list[RetrievedChunk],
        scanner: GroundingScanner,
        gate: _Gate,
    ) -> tuple[str, bool]:
        """Judge whole sentences; (text to release now, whether to stop)."""
        if not gate.released and not gate.held:
            if _HEADER_ONLY.match(ready):
                return "", False
            tail = " " if ready[-1:].isspace() else ""
            ready = _without_echo(turn.question, clean(ready))  # an echoed header, question
            if not ready:
                return "", False
            ready += tail
        verdict = await run_cpu(
            self.cpu, self.judge, turn.question, ready, context, scanner, gate, shed=False
        )
        if verdict.stop:
            gate.reason = verdict.reason
        if not gate.supported and not verdict.supported:
            # No supported claim yet: hold what came ("Sure!") until one does.
            if not verdict.stop:
                gate.held += verdict.keep
            return "", verdict.stop
        out = gate.held + verdict.keep
        gate.held = ""
        gate.supported += verdict.supported
        gate.released += out
        return out, verdict.stop


async def _quoted(answer: Answer, text: str) -> AsyncIterator[ChatDelta]:
    answer.raw = text
    answer.finish_reason = "stop"
    yield ChatDelta(text=text)
    yield ChatDelta(finish_reason="stop", usage=Usage())


def _cite(text: str, claims: list[Sentence], context: list[RetrievedChunk]) -> str:
    """`text` with a marker after each supported claim the model left uncited: the number of
    the source sharing most of its words (a copied table row or sentence without its [n]
    names no source, and the answer's citations are read from its markers)."""
    if not claims or not context:
        return text
    sources = [content_words(c.text) for c in context]
    for s in sorted(claims, key=lambda c: c.end, reverse=True):
        if s.end > len(text):
            continue
        words = content_words(s.text)
        best = max(range(len(sources)), key=lambda i: (len(words & sources[i]), -i))
        if not words & sources[best]:
            continue
        end = s.end
        while end > s.start and text[end - 1].isspace():
            end -= 1
        text = f"{text[:end]} [{best + 1}]{text[end:]}"
    return text


def _other_figures(part: str, question: str, released: str, built: Extract) -> bool:
    """Whether the sentence the extract quotes for a part of the question gives figures and
    the model's answer, which seemed to cover that part, gives none of them ("14 days of
    business uptime" for "what uptime does that plan guarantee?", where the plan's row says
    99.95): the part is not answered."""
    given = numbers(released)
    for s in built.sentences:
        if not covers(part, question, s):
            continue
        figures = numbers(quote(question, s))
        if figures and not figures & given:
            return True
    return False


_CELL_SPACE = re.compile(r"[\s*`]+")


def _cells(line: str) -> list[str]:
    """A table row's non-empty cells, normalised (case, spacing, emphasis)."""
    cells = (_CELL_SPACE.sub(" ", c).strip().lower() for c in line.split("|"))
    return [c for c in cells if c]


def _rows_agree(text: str, context: list[RetrievedChunk]) -> bool:
    """Whether a claim written as table rows ("| Support tickets | 3 years | ... |") has
    each cell in a row of the sources that has the cell before it too, earlier (a new row
    may start anywhere): a tiny model copying rows often puts one row's name with another
    row's figure, and the scanner, reading words and figures, finds both. A claim that is
    not a table row agrees."""
    if text.count("|") < 3:
        return True
    claimed = _cells(_MARKER.sub(" ", text))
    if len(claimed) < 2:
        return True
    rows = [
        _cells(line)
        for c in context
        for line in c.text.splitlines()
        if line.lstrip().startswith("|")
    ]
    if not rows:
        return True  # nothing to compare with: the scanner's verdict stands
    starts = {r[0] for r in rows if r}
    for before, cell in zip(claimed, claimed[1:], strict=False):
        if cell in starts:
            continue
        if not any(before in r and cell in r[r.index(before) + 1 :] for r in rows):
            return False
    return all(any(cell in r for r in rows) for cell in claimed)


_MARKER = re.compile(r"\[\d{1,3}\]")


def _names_new(question: str, text: str) -> bool:
    """A name the question does not say: a short sentence with one is an answer ("GnuTLS")."""
    return bool(names(text) - names(question))


def _without_echo(question: str, text: str) -> str:
    """The text less the question said again before it, and an "Answer:" label (a base
    model often starts that way)."""
    asked = content_words(question)
    while True:
        text = _LABEL.sub("", text).lstrip()
        first = split_sentences(text, limit=2)
        if not first or not first[0].text.endswith("?"):
            return text
        words = content_words(first[0].text)
        if not words or not words <= asked:
            return text
        text = text[first[0].end :]


def _last_boundary(text: str) -> int:
    last = 0
    for m in _BOUNDARY.finditer(text):
        last = m.end()
    return last
