"""A small linear classifier over TF-IDF word and character n-grams of normalised text.

Why TF-IDF + logistic regression and not MiniLM embeddings: it is one dictionary lookup per
n-gram and a dot product (~1-2 ms for a 500-token prompt on one core, no model call), it sees
obfuscation-level character patterns that a sentence embedding smooths away, and its weights
are a vocabulary plus two float arrays that fit in a small ``.npz`` (no pickle).

The feature extractor below is the *only* one: training (`train.py`) and inference both call
`features()`, so the two can never drift apart the way a re-implemented sklearn vectoriser can.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from lockgate.guardrails.injection.gram_index import GramIndex
from lockgate.guardrails.normalize import canonical

WEIGHTS = Path(__file__).with_name("model.npz")

_WORDS = re.compile(r"[a-z0-9']{1,30}|[^\sa-z0-9]")
_SPACES = re.compile(r"\s+")
CHAR_N = (3, 4, 5)
MAX_FEATURE_CHARS = 4_000  # one window; longer texts are scored window by window


def features(text: str) -> Counter[str]:
    """n-gram counts of the canonical (normalised, leet-folded, decoded) form of ``text``."""
    return Counter(gram_list(canonical(text[: MAX_FEATURE_CHARS * 2])))


def canonical_features(canon: str) -> Counter[str]:
    """n-gram counts of an already canonical string (see `normalize.canonical_of`)."""
    return Counter(gram_list(canon))


def word_terms(canon: str) -> tuple[list[str], str]:
    """The word and word-bigram terms of a canonical string, and the padded text whose
    character n-grams complete the feature set."""
    canon = _SPACES.sub(" ", canon)[:MAX_FEATURE_CHARS]
    words = _WORDS.findall(canon)
    grams = ["w:" + w for w in words]
    grams += ["b:" + a + " " + b for a, b in zip(words, words[1:], strict=False)]
    return grams, f" {canon.strip()} "


def gram_list(canon: str) -> list[str]:
    """Every word, word bigram and character 3/4/5-gram of a canonical string, with repeats."""
    grams, padded = word_terms(canon)
    for n in CHAR_N:
        # Character n-grams carry no prefix (cheaper to build); a collision with a "w:"/"b:"
        # term would need a literal "w:" in the text and only merges two near-equal features.
        grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


def tfidf_row(grams: Counter[str], index: dict[str, int], idf: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    """Sparse (indices, values) of the l2-normalised, sublinear-tf TF-IDF vector."""
    get = index.get
    pairs = [(j, c) for g, c in grams.items() if (j := get(g)) is not None]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    arr = np.asarray(pairs, dtype=np.int64)
    cols = arr[:, 0]
    v = (1.0 + np.log(arr[:, 1].astype(np.float64))) * idf[cols]
    norm = float(np.sqrt(v @ v))
    if norm > 0:
        v /= norm
    return cols, v


@dataclass
class InjectionClassifier:
    terms: list[str]
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    # Probability at which the classifier calls a text an injection, chosen on validation data.
    threshold: float
    meta: dict[str, object]

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.terms)}
        try:
            self.grams: GramIndex | None = GramIndex(self.terms)
        except ValueError:  # a hash collision in the vocabulary: use the string look-up
            self.grams = None

    @classmethod
    def load(cls, path: Path | str = WEIGHTS) -> InjectionClassifier:
        # allow_pickle=False: the file holds plain arrays only, never code.
        with np.load(str(path), allow_pickle=False) as z:
            return cls(
                terms=str(z["terms"]).split("\n"),
                idf=z["idf"].astype(np.float64),
                coef=z["coef"].astype(np.float64),
                intercept=float(z["intercept"]),
                threshold=float(z["threshold"]),
                meta=json.loads(str(z["meta"])),
            )

    def save(self, path: Path | str) -> None:
        np.savez_compressed(
            str(path),
            # One newline-joined string: a fixed-width unicode array would pad every term to
            # the longest one. Terms never contain a newline (whitespace is collapsed).
            terms=np.asarray("\n".join(self.terms)),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float32),
            intercept=np.float64(self.intercept),
            threshold=np.float64(self.threshold),
            meta=np.asarray(json.dumps(self.meta, sort_keys=True)),
        )

    def probability(self, text: str) -> float:
        return self.probability_of(features(text))

    def probability_canonical(self, canon: str) -> float:
        """Same as `probability_of(canonical_features(canon))`, without building a Counter
        or the character n-gram strings: n-grams go straight to vocabulary ids (see
        `gram_index`) and numpy counts them (the hot path)."""
        if self.grams is not None:
            ids = self.grams.lookup(*word_terms(canon))
        else:
            grams = gram_list(canon)
            get = self.index.get
            # map() with a second iterable calls get(g, -1) without a Python frame per gram.
            ids = np.fromiter(map(get, grams, repeat(-1, len(grams))), dtype=np.int64,
                              count=len(grams))
            ids = ids[ids >= 0]
        if not len(ids):
            return self._sigmoid(self.intercept)
        cols, counts = np.unique(ids, return_counts=True)
        v = (1.0 + np.log(counts)) * self.idf[cols]
        v /= float(np.sqrt(v @ v))
        return self._sigmoid(float(v @ self.coef[cols]) + self.intercept)

    @staticmethod
    def _sigmoid(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def probability_of(self, grams: Counter[str]) -> float:
        cols, vals = tfidf_row(grams, self.index, self.idf)
        z = float(vals @ self.coef[cols]) + self.intercept if len(cols) else self.intercept
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def score(self, probability: float) -> float:
        """Map a probability onto [0, 1] so that the calibrated threshold lands on 0.5, the
        policy's default rule threshold: anything the classifier calls an attack scores
        >= 0.5, and the policy can still demand more certainty with a higher threshold."""
        t = min(max(self.threshold, 1e-6), 1 - 1e-6)
        if probability < t:
            return 0.5 * probability / t
        return 0.5 + 0.5 * (probability - t) / (1 - t)
