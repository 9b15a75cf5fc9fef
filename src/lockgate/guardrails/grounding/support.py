"""The claim-support model: how likely a claim is stated by its evidence, from a few
measurements of the pair.

No entailment model ships with its weights in any package this project can use, so the
decision the scanner used to make with a hand-set formula (mean of word coverage and rescaled
similarity) is made by a logistic regression over the measurements below, trained by
`grounding.train` on pairs generated from Python's documentation (`grounding.pairs`). The
weights are a few dozen floats in ``support.npz`` (no pickle), built by that script.

Claims with a missing figure or name, or a conflict with the source, never reach the model:
the scanner caps those first. The model decides the rest, where the hard cases are an invented
fact in the source's own words and a paraphrase in other words."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lockgate.guardrails.grounding import STOP, stem

WEIGHTS = Path(__file__).with_name("support.npz")

FEATURES = (
    "coverage_best",  # share of the claim's content words in its best-matching window
    "coverage_all",  # share found anywhere in the evidence
    "novel",  # content words found nowhere in the evidence (capped at 6)
    "novel_share_long",  # share of the claim's long (>= 7 letters) words that are novel
    "claim_words",  # log of the claim's content word count
    "reverse",  # share of the best window's words that the claim restates
    "similarity",  # MiniLM cosine with the closest candidate window
    "similarity_lexical",  # cosine with the best word-overlap window
    "similarity_x_coverage",
    "negation_mismatch",  # the claim and its closest window differ in polarity
    "figures",  # the claim has figures (all found: others are capped before)
    # Word by word, in context (MiniLM token states): how closely the best-matching word of
    # the candidate windows matches each of the claim's content words.
    "words_mean",
    "words_min",
    "words_weak",  # share of content words matched below WEAK
    "novel_words_mean",  # the same mean over the lexically novel words only (1 when none)
)
WEAK = 0.5


@dataclass
class Measurements:
    """What the scanner measured for one claim against its evidence."""

    coverage_best: float
    coverage_all: float
    novel: int
    novel_share_long: float
    claim_words: int
    reverse: float
    similarity: float
    similarity_lexical: float
    negation_mismatch: bool
    figures: bool
    words_mean: float
    words_min: float
    words_weak: float
    novel_words_mean: float

    def vector(self) -> np.ndarray:
        return np.asarray(
            [
                self.coverage_best,
                self.coverage_all,
                min(self.novel, 6),
                self.novel_share_long,
                math.log1p(self.claim_words),
                self.reverse,
                self.similarity,
                self.similarity_lexical,
                self.similarity * self.coverage_best,
                float(self.negation_mismatch),
                float(self.figures),
                self.words_mean,
                self.words_min,
                self.words_weak,
                self.novel_words_mean,
            ],
            dtype=np.float64,
        )


@dataclass
class SupportModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    # Probability of "supported" at which a claim passes (chosen on held-out documents).
    threshold: float
    meta: dict[str, object] = field(default_factory=dict)

    def logit(self, x: np.ndarray) -> float:
        return float(((x - self.mean) / self.scale) @ self.coef + self.intercept)

    def support(self, m: Measurements) -> float:
        """A support in [0, 1] that is 0.5 exactly at the trained threshold, so the scanner's
        `min_support` keeps its meaning."""
        t = min(max(self.threshold, 1e-6), 1 - 1e-6)
        z = self.logit(m.vector()) - math.log(t / (1 - t))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def save(self, path: Path) -> None:
        np.savez(
            path,
            features=np.asarray(FEATURES),
            mean=self.mean,
            scale=self.scale,
            coef=self.coef,
            intercept=np.asarray([self.intercept]),
            threshold=np.asarray([self.threshold]),
            meta=np.asarray(json.dumps(self.meta, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> SupportModel:
        with np.load(path, allow_pickle=False) as z:
            names = tuple(str(x) for x in z["features"])
            if names != FEATURES:
                raise ValueError(f"{path}: built for features {names}, this code has {FEATURES}")
            return cls(
                mean=z["mean"].astype(np.float64),
                scale=z["scale"].astype(np.float64),
                coef=z["coef"].astype(np.float64),
                intercept=float(z["intercept"][0]),
                threshold=float(z["threshold"][0]),
                meta=json.loads(str(z["meta"])),
            )


def word_matches(
    claim: np.ndarray, pieces: list[str], evidence: np.ndarray
) -> list[tuple[str, float]]:
    """(word, match) for each content word of the claim: the mean over its word pieces of the
    best cosine with any evidence token."""
    if not len(pieces) or not len(evidence):
        return []
    # einsum, not `@`: a BLAS matmul this small waits ~50 ms for its threads when the cores
    # are busy (measured: 56 ms vs 4 ms for 20 x 150 tokens at load 12).
    best = np.einsum("ij,kj->ik", claim, evidence).max(axis=1)
    words: list[tuple[str, list[float]]] = []
    for piece, score in zip(pieces, best.tolist(), strict=True):
        if piece.startswith("##") and words:
            words[-1] = (words[-1][0] + piece[2:], [*words[-1][1], score])
        else:
            words.append((piece, [score]))
    return [(w, sum(v) / len(v)) for w, v in words if w.isalnum() and w not in STOP]


def stem_of(piece_word: str) -> str:
    """A tokenizer word in the form `content_words` gives it (to tell novel words apart)."""
    return stem(piece_word.lower())


_SHIPPED: SupportModel | None = None


def shipped() -> SupportModel:
    """The committed model, loaded once per process."""
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = SupportModel.load()
    return _SHIPPED
