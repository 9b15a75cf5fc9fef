"""Grounding check on answers: is each sentence supported by the retrieved chunks?

Per sentence (a "claim"; citation markers stripped, greetings/questions/refusals skipped):
1. citations must name chunks that were retrieved ([n] with 1 <= n <= len(chunks)); when a
   sentence cites, only the cited chunks count as its evidence;
2. every number (amounts, percentages, days, years), month and named entity in the claim must
   appear in that evidence. Changed figures and invented names are the commonest
   hallucinations, and neither overlap nor embeddings notice them (a sentence with "45 days"
   embeds almost like one with "30 days"), so a missing fact caps support low;
3. a claim that keeps the source's words but flips its polarity, takes a figure from another
   field of a table, or swaps the name it opens with conflicts with the source
   (`grounding.contrast`) and is capped like a missing fact;
4. support = mean of lexical coverage (share of the claim's content words found in the best
   chunk) and MiniLM similarity with the closest chunk sentences (rescaled); a claim whose
   figures all sit in its best-matching source window and that shares most of its words
   with it is supported on that alone. With `decision: model` the trained claim-support model
   (`grounding.support`) replaces that mean.

An unsupported claim (support < `min_support`) gives one UNGROUNDED finding over the sentence
with `replacement=""`, so a `redact` rule drops it; score = 1 - support. The share of
supported claims is written to `ctx.metrics["groundedness"]`."""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams, params_of
from lockgate.guardrails.grounding import (
    Sentence,
    content_words,
    entities,
    months,
    negated,
    numbers,
    split_sentences,
    word_tokens,
)
from lockgate.guardrails.grounding.contrast import (
    Table,
    contradiction,
    fields,
    misplaced_figures,
    swapped_first_name,
)
from lockgate.guardrails.grounding.support import (
    WEAK,
    Measurements,
    SupportModel,
    shipped,
    stem_of,
    word_matches,
)
from lockgate.models.base import EmbeddingBackend

# Words that come with figures and say nothing about what the figure is for.
_UNIT_WORDS = frozenset(
    content_words(
        "days day hours hour minutes minute weeks week months month years year "
        "percent usd eur gb mb tb per time times business calendar working"
    )
)

# Sentences that are not claims about the sources: refusals, offers of help, meta-talk.
_NOT_A_CLAIM = re.compile(
    r"^(?:sure|certainly|of course|hi|hello|thanks|thank you|you're welcome|great question)\b|"
    r"\b(?:i (?:do not|don't|cannot|can't) (?:know|answer|find)|(?:not|isn't) (?:mentioned|"
    r"covered|contained|stated) in the (?:sources|context|documents)|the (?:sources|context|"
    r"documents) do(?:es)? not (?:say|mention|cover|contain|specify)|let me know|"
    r"feel free to|hope (?:this|that) helps|happy to help)\b",
    re.I,
)


@dataclass
class _Unit:
    """One or two neighbouring source sentences: what a single claim is checked against."""

    text: str
    words: set[str]
    tokens: set[str]
    numbers: set[str]
    months: set[str]
    # Per sentence of the window: its content words, numbers and text (figures must sit in a
    # sentence that is about the same thing as the claim).
    parts: list[tuple[set[str], set[str], str]] = field(default_factory=list)
    # The `key: value` fields of the whole chunk the window comes from (shared by its units).
    table: Table | None = None


@dataclass
class ClaimResult:
    sentence: Sentence
    support: float
    lexical: float = 0.0
    similarity: float = 0.0
    missing: list[str] = field(default_factory=list)
    # What the sources say instead, where the claim keeps their words but changes the fact.
    conflicts: list[str] = field(default_factory=list)
    detail: str = ""
    anchored: bool = False  # the claim has figures and all of them were found
    # What the support model saw (None when a cap or the formula decided).
    measurements: Measurements | None = None


class GroundingParams(ScannerParams):
    min_support: float = Field(0.5, description="a claim below this support is ungrounded")
    # The model is opt-in: on the bench's test split it flags more invented facts (37/40 vs
    # 36/40) but passes fewer paraphrases (35/40 vs 36/40), and it flags free paraphrases
    # such as "you can get all of your money back" for "refunded in full".
    decision: Literal["model", "formula"] = Field(
        "formula",
        description="what decides a claim with all its facts found: the trained claim-support "
        "model (grounding/support.npz) or the hand-set formula of the weights below",
    )
    strict_citations: bool = Field(
        True, description="a sentence that cites is checked against its cited chunks only"
    )
    # Cosine similarities are rescaled so `sim_floor` -> 0 and `sim_full` -> 1 support.
    sim_floor: float = Field(0.55, description="similarity that counts as no support")
    sim_full: float = Field(0.95, description="similarity that counts as full support")
    lexical_weight: float = Field(
        0.5, description="share of word coverage (vs similarity) in the support"
    )
    missing_fact_cap: float = Field(
        0.3, description="support multiplier for a claim with a missing or conflicting fact"
    )
    lexical_sure: float = Field(
        0.9, description="word coverage that needs no embedding (facts present)"
    )
    anchored_lexical: float = Field(
        0.75, description="word coverage enough when all the claim's figures were found"
    )
    min_claim_words: int = Field(
        3, description="content words a sentence without figures or citations needs"
    )
    contrast: bool = Field(
        True,
        description="check polarity flips, figures from the wrong table field and swapped "
        "opening names (off for sources where they misfire)",
    )
    candidates: int = Field(3, description="best-matching source windows compared per claim")
    max_embed: int = Field(
        48, description="most texts embedded per scan (claims plus windows): bounds latency"
    )
    max_chars: int = Field(20_000, description="answer characters read")
    max_claims: int = Field(64, description="claims checked per answer")
    max_chunks: int = Field(32, description="retrieved chunks read")
    max_chunk_chars: int = Field(8_000, description="characters read per chunk")


class GroundingScanner:
    name: ClassVar[str] = "grounding"
    # Judges each sentence on its own: a stream's pieces are scanned without the released
    # tail in front (it was judged already, and would cost its embeddings again).
    stream_window: ClassVar[bool] = False
    Params: ClassVar[type[GroundingParams]] = GroundingParams

    def __init__(
        self,
        params: GroundingParams | Mapping[str, Any] | None,
        embedder: EmbeddingBackend | None,
        model: SupportModel | None = None,
    ) -> None:
        p = params_of(GroundingParams, params)
        self.embedder = embedder
        self.min_support = p.min_support
        self.strict_citations = p.strict_citations
        self.sim_floor = p.sim_floor
        self.sim_full = p.sim_full
        self.lexical_weight = p.lexical_weight
        self.missing_fact_cap = p.missing_fact_cap
        self.lexical_sure = p.lexical_sure
        self.anchored_lexical = p.anchored_lexical
        self.min_claim_words = p.min_claim_words
        self.contrast = p.contrast
        self.candidates = p.candidates
        self.max_embed = p.max_embed
        self.max_chars = p.max_chars
        self.max_claims = p.max_claims
        self.max_chunks = p.max_chunks
        self.max_chunk_chars = p.max_chunk_chars
        # `model` replaces the shipped weights (the training script measures with its own).
        # The model compares words in context: it needs an embedder with token states
        # (MiniLM); with any other the formula decides.
        self.model: SupportModel | None = None
        self._tokens_of = getattr(embedder, "embed_tokens", None)
        if p.decision == "model" and self._tokens_of is not None:
            self.model = model if model is not None else shipped()
        self._states: OrderedDict[str, tuple[np.ndarray, list[str]]] = OrderedDict()
        # Chunk sentences recur across requests (same documents): keep their vectors.
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def build(cls, params: GroundingParams, deps: ScannerDeps) -> GroundingScanner:
        return cls(params, deps.embedder)

    # -- evidence --------------------------------------------------------------------------

    def _units(self, text: str) -> list[_Unit]:
        """A chunk as sentence windows (each sentence, and each with its successor): a claim
        must be backed by one place in the source, not by words scattered over a chunk."""
        text = text[: self.max_chunk_chars]
        sents = [s.text for s in split_sentences(text, limit=96) if len(s.text) > 3]
        parts = [(content_words(x), numbers(x), x) for x in sents]
        table = fields(text)
        units = [
            _Unit(x, p[0], word_tokens(x), p[1], months(x), [p], table)
            for x, p in zip(sents, parts, strict=True)
        ]
        for i in range(len(sents) - 1):
            w = f"{sents[i]} {sents[i + 1]}"
            units.append(
                _Unit(
                    w,
                    parts[i][0] | parts[i + 1][0],
                    word_tokens(w),
                    parts[i][1] | parts[i + 1][1],
                    months(w),
                    parts[i : i + 2],
                    table,
                )
            )
        return units

    def _embed(self, texts: list[str]) -> dict[str, np.ndarray]:
        assert self.embedder is not None
        out: dict[str, np.ndarray] = {}
        todo: list[str] = []
        with self._lock:
            for t in texts:
                v = self._vectors.get(t)
                if v is None:
                    todo.append(t)
                else:
                    out[t] = v
        if todo:
            vecs = self.embedder.embed(todo)
            with self._lock:
                for t, v in zip(todo, vecs, strict=True):
                    out[t] = v
                    self._vectors[t] = v
                while len(self._vectors) > 4096:
                    self._vectors.popitem(last=False)
        return out

    def _embed_states(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Sentence vectors as `_embed`, with each text's token states cached alongside."""
        assert self._tokens_of is not None
        out: dict[str, np.ndarray] = {}
        todo: list[str] = []
        with self._lock:
            for t in texts:
                v = self._vectors.get(t)
                if v is None or t not in self._states:
                    todo.append(t)
                else:
                    out[t] = v
        if todo:
            got = self._tokens_of(todo)
            with self._lock:
                for t, (v, states, pieces) in zip(todo, got, strict=True):
                    out[t] = v
                    self._vectors[t] = v
                    # Half precision: token states are most of the cache's memory.
                    self._states[t] = (states.astype(np.float16), pieces)
                while len(self._vectors) > 4096:
                    self._vectors.popitem(last=False)
                while len(self._states) > 2048:
                    self._states.popitem(last=False)
        return out

    # -- claims ----------------------------------------------------------------------------

    def is_claim(self, s: Sentence) -> bool:
        if s.text.endswith("?") or _NOT_A_CLAIM.search(s.text):
            return False
        if numbers(s.text) or s.citations:
            return True
        return len(content_words(s.text)) >= self.min_claim_words

    def check(self, text: str, chunk_texts: list[str]) -> list[ClaimResult]:
        """Support for every claim in `text` (the scanner's core, also used by the bench)."""
        units = [self._units(c) for c in chunk_texts[: self.max_chunks]]
        n_chunks = len(chunk_texts)
        claims = [s for s in split_sentences(text[: self.max_chars]) if self.is_claim(s)]
        claims = claims[: self.max_claims]
        results: list[ClaimResult] = []
        pending: list[tuple[ClaimResult, list[_Unit], list[_Unit]]] = []
        for s in claims:
            bad = [n for n in s.citations if not 1 <= n <= n_chunks]
            if not units:
                results.append(ClaimResult(s, 0.0, detail="no retrieved context"))
                continue
            if bad:
                results.append(
                    ClaimResult(
                        s,
                        0.0,
                        detail="cites "
                        + ", ".join(f"[{n}]" for n in bad)
                        + f" but only {n_chunks} source(s) were retrieved",
                    )
                )
                continue
            cited = [units[n - 1] for n in s.citations if n <= len(units)]
            strict = bool(cited) and self.strict_citations
            evidence = [u for group in (cited if strict else units) for u in group]
            r, top = self._lexical(s, evidence)
            if strict and r.missing:
                r.detail = "cited source lacks: " + ", ".join(r.missing[:5])
            elif r.missing:
                r.detail = "not in the sources: " + ", ".join(r.missing[:5])
            if r.conflicts:
                r.detail = "; ".join([*([r.detail] if r.detail else []), *r.conflicts[:3]])
            results.append(r)
            if r.missing or r.conflicts:
                r.support = self.missing_fact_cap * r.lexical
            elif r.lexical >= self.lexical_sure or self.embedder is None or not top:
                r.support = r.lexical
            elif r.anchored and r.lexical >= self.anchored_lexical:
                # Every figure found in the matching source sentence, and most words too:
                # embeddings add nothing (and score tables and key/value text poorly).
                r.support = r.lexical
            else:
                pending.append((r, top, evidence))
        if pending:
            self._semantic(pending)
        for r in results:
            if r.support < self.min_support and not r.detail:
                r.detail = f"weak support (overlap {r.lexical:.2f}, similarity {r.similarity:.2f})"
        return results

    def _lexical(self, s: Sentence, evidence: list[_Unit]) -> tuple[ClaimResult, list[_Unit]]:
        """Word coverage by the best source window, and the facts no close window holds."""
        words = content_words(s.text)
        ranked = sorted(
            evidence, key=lambda u: len(words & u.words) / (len(words) or 1), reverse=True
        )
        top = ranked[: self.candidates]
        lexical = len(words & top[0].words) / len(words) if words and top else 0.0
        r = ClaimResult(s, 0.0, lexical=lexical)
        # Facts must sit in one of the windows that best match the claim: "30 days" somewhere
        # else in the context does not back "patched within 30 days".
        best_missing: list[str] | None = None
        topic = {w for w in words - _UNIT_WORDS if not w[0].isdigit()}
        best_overlap = max((len(p[0] & topic) for u in top for p in u.parts), default=0)
        # A figure counts only in a sentence about (nearly) as much of the claim as the best
        # one: "annual" alone does not tie "30 days of annual leave" to "annual plans ... 30
        # days".
        need = max(1, math.ceil(0.6 * best_overlap))
        for u in top:
            missing = self._missing_facts(s.text, u, topic, need)
            if best_missing is None or len(missing) < len(best_missing):
                best_missing = missing
            if not missing:
                break
        r.missing = best_missing or []
        r.conflicts = self._conflicts(s, words, top)
        r.anchored = not r.missing and not r.conflicts and bool(numbers(s.text))
        return r, top

    def _conflicts(self, s: Sentence, words: set[str], top: list[_Unit]) -> list[str]:
        if not top or not self.contrast:
            return []
        out = []
        tables = list({id(u.table): u.table for u in top if u.table is not None}.values())
        for n in misplaced_figures(words, numbers(s.text), tables):
            out.append(f"{n} is given for something else in the source")
        opposite = contradiction(s.text, list(dict.fromkeys(p[2] for u in top for p in u.parts)))
        if opposite is not None:
            out.append(f'the source says the opposite: "{opposite[:120]}"')
        swap = swapped_first_name(s.text, top[0].text, top[0].tokens, word_tokens(s.text))
        if swap is not None:
            out.append(f"'{swap[0]}' where the source names {', '.join(swap[1][:3])}")
        return out

    def _missing_facts(self, claim: str, unit: _Unit, topic: set[str], need: int) -> list[str]:
        missing = []
        for n in sorted(numbers(claim)):
            # "90 days" in "Application logs: 90 days" does not back "backups: 90 days".
            if not any(n in nums and len(words & topic) >= need for words, nums, _ in unit.parts):
                missing.append(n)
        missing += [m for m in sorted(months(claim)) if m not in unit.months]
        for ent in sorted(entities(claim)):
            parts = [p for p in re.split(r"[-']", ent) if p]
            if ent not in unit.tokens and not all(p in unit.tokens for p in parts):
                missing.append(ent)
        return missing

    def _semantic(self, pending: list[tuple[ClaimResult, list[_Unit], list[_Unit]]]) -> None:
        """Embedding similarity of each claim with its best-overlapping source windows, and
        the support that follows (the model's, or the formula's)."""
        wanted: list[str] = []
        for r, top, _ in pending:
            wanted.extend([r.sentence.text, *(u.text for u in top)])
        # One batch, bounded: claims past the budget keep their lexical support.
        budget = list(dict.fromkeys(wanted))[: self.max_embed]
        vecs = self._embed_states(budget) if self.model is not None else self._embed(budget)
        for r, top, evidence in pending:
            claim_vec = vecs.get(r.sentence.text)
            cands = [u for u in top if u.text in vecs]
            if claim_vec is None or not cands:
                r.support = r.lexical
                continue
            sims = [float(claim_vec @ vecs[u.text]) for u in cands]
            best = int(np.argmax(sims))
            r.similarity = sims[best]
            if self.model is not None:
                r.measurements = self._measure(r, top, evidence, cands[best], sims)
                r.support = self.model.support(r.measurements)
                continue
            scaled = (r.similarity - self.sim_floor) / (self.sim_full - self.sim_floor)
            scaled = min(1.0, max(0.0, scaled))
            w = self.lexical_weight
            r.support = w * r.lexical + (1 - w) * scaled

    def _measure(
        self,
        r: ClaimResult,
        top: list[_Unit],
        evidence: list[_Unit],
        closest: _Unit,
        sims: list[float],
    ) -> Measurements:
        words = content_words(r.sentence.text)
        seen = set().union(*(u.words for u in evidence))
        novel = words - seen
        long = [w for w in words if len(w) >= 7]
        with self._lock:
            mine = self._states.get(r.sentence.text)
            theirs = [self._states[u.text][0] for u in top if u.text in self._states]
        matches: list[tuple[str, float]] = []
        if mine is not None and theirs:
            matches = word_matches(
                mine[0].astype(np.float32), mine[1], np.concatenate(theirs).astype(np.float32)
            )
        scores = [m for _, m in matches] or [1.0]
        novel_scores = [m for w, m in matches if stem_of(w) in novel] or [1.0]
        return Measurements(
            coverage_best=r.lexical,
            coverage_all=len(words & seen) / len(words) if words else 0.0,
            novel=len(novel),
            novel_share_long=sum(w in novel for w in long) / len(long) if long else 0.0,
            claim_words=len(words),
            reverse=len(words & top[0].words) / len(top[0].words) if top[0].words else 0.0,
            similarity=r.similarity,
            similarity_lexical=sims[0],
            negation_mismatch=negated(r.sentence.text) != negated(closest.text),
            figures=bool(numbers(r.sentence.text)),
            words_mean=sum(scores) / len(scores),
            words_min=min(scores),
            words_weak=sum(m < WEAK for m in scores) / len(scores),
            novel_words_mean=sum(novel_scores) / len(novel_scores),
        )

    # -- scanner ---------------------------------------------------------------------------

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        if ctx.direction != "out":
            return []
        results = self.check(text, ctx.chunks)
        supported = [r for r in results if r.support >= self.min_support]
        ctx.metrics["groundedness"] = len(supported) / len(results) if results else 1.0
        ctx.metrics["grounding_claims"] = float(len(results))
        findings: list[Finding] = []
        for r in results:
            if r.support >= self.min_support:
                continue
            s = r.sentence
            # Take the whitespace after the sentence too, so dropping it leaves clean text.
            end = s.end
            while end < len(text) and text[end] in " \t":
                end += 1
            findings.append(
                Finding("UNGROUNDED", s.start, end, 1.0 - r.support, self.name, "", r.detail)
            )
        return findings
