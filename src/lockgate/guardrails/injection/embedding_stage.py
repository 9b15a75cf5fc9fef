"""A second opinion for the texts the TF-IDF classifier is unsure about.

The TF-IDF model reads n-grams: a benign request that shares an attack's words ("what rules do
you follow ...", "rewrite this instruction ...") and an attack that avoids them both land in
the middle of its range. For those texts only (TF-IDF probability inside ``band``), the
scanner embeds the text with MiniLM (the embedder retrieval already loads) and a logistic
regression over the 384-dimensional sentence vector gives a second probability; a two-weight
logistic regression fitted on the validation splits combines the two logits. Outside the band
the TF-IDF probability stands, so most texts never pay for an embedding.

Trained by `train_stage.py` from the same rows as the TF-IDF model; weights are plain arrays
in ``embedding_stage.npz`` (no pickle)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STAGE_WEIGHTS = Path(__file__).with_name("embedding_stage.npz")
EMBEDDER = "all-MiniLM-L6-v2"


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass
class EmbeddingStage:
    coef: np.ndarray  # (384,) over the unit sentence vector
    intercept: float
    # Stacker: z = stack[0] * logit(p_tfidf) + stack[1] * logit(p_embedding) + stack[2].
    stack: tuple[float, float, float]
    band: tuple[float, float]  # TF-IDF probabilities the stage decides, inclusive
    # The combined probability's validation-calibrated threshold (replaces the TF-IDF one
    # when the stage is on, so InjectionClassifier.score still maps "attack" to >= 0.5).
    threshold: float
    embedder: str
    meta: dict[str, object]

    @classmethod
    def load(cls, path: Path | str = STAGE_WEIGHTS) -> EmbeddingStage:
        with np.load(str(path), allow_pickle=False) as z:
            stack = z["stack"].astype(np.float64)
            band = z["band"].astype(np.float64)
            return cls(
                coef=z["coef"].astype(np.float64),
                intercept=float(z["intercept"]),
                stack=(float(stack[0]), float(stack[1]), float(stack[2])),
                band=(float(band[0]), float(band[1])),
                threshold=float(z["threshold"]),
                embedder=str(z["embedder"]),
                meta=json.loads(str(z["meta"])),
            )

    def save(self, path: Path | str) -> None:
        np.savez_compressed(
            str(path),
            coef=self.coef.astype(np.float32),
            intercept=np.float64(self.intercept),
            stack=np.asarray(self.stack, dtype=np.float64),
            band=np.asarray(self.band, dtype=np.float64),
            threshold=np.float64(self.threshold),
            embedder=np.asarray(self.embedder),
            meta=np.asarray(json.dumps(self.meta, sort_keys=True)),
        )

    def in_band(self, p_tfidf: float) -> bool:
        return self.band[0] <= p_tfidf <= self.band[1]

    def embedding_probability(self, vec: np.ndarray) -> float:
        return sigmoid(float(np.asarray(vec, dtype=np.float64) @ self.coef) + self.intercept)

    def combine(self, p_tfidf: float, p_embedding: float) -> float:
        a, b, c = self.stack
        return sigmoid(a * logit(p_tfidf) + b * logit(p_embedding) + c)

    def probability(self, p_tfidf: float, vec: np.ndarray) -> float:
        """The stage's answer for a text in the band (callers check `in_band` first)."""
        return self.combine(p_tfidf, self.embedding_probability(vec))

    def final(self, p_tfidf: float, vec: np.ndarray | None) -> float:
        """The probability the scanner uses: the stage's inside the band, TF-IDF's outside."""
        if vec is None or not self.in_band(p_tfidf):
            return p_tfidf
        return self.probability(p_tfidf, vec)
