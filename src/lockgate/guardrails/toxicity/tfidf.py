"""alt-profanity-check's TF-IDF features without sklearn's per-call input checks.

Why: the scanner vectorises the whole text and every sentence (~25 documents for a
500-token prompt). `TfidfVectorizer.transform` spent about half of its ~2 ms on validating
and wrapping its input. The model's vectoriser is plain word unigrams (lower-cased,
``\\b\\w\\w+\\b`` tokens, English stop words, smooth idf, l2 norm), which is a dict look-up
and a few array operations; `WordTfidf.of` refuses any other configuration and the scanner
checks the result against `transform` once at start-up before using it."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

_SUPPORTED = {"analyzer": "word", "ngram_range": (1, 1), "lowercase": True, "norm": "l2",
              "use_idf": True, "sublinear_tf": False, "binary": False, "tokenizer": None,
              "preprocessor": None, "strip_accents": None}


# Texts the fast path must vectorise exactly as sklearn does before it is used.
_PROBES = [
    "You are an idiot, a stupid IDIOT!", "have a nice day", "shit", "", "a", "the of and",
    "Straße ÉCOLE naïve 東京 don't can't o'neill", "x1 2x __init__ snake_case 3.14 10,000",
    "refund refund refund policy for the annual plan\nsecond line. third!",
]


class WordTfidf:
    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, token_pattern: str,
                 stop_words: frozenset[str]) -> None:
        self.vocabulary = vocabulary
        self.idf = idf
        self.tokens = re.compile(token_pattern)
        self.stop_words = stop_words

    @classmethod
    def of(cls, vectorizer: Any) -> WordTfidf | None:
        """The fast equivalent of a fitted `TfidfVectorizer`, or None if it is configured in
        a way this class does not reproduce."""
        try:
            params = vectorizer.get_params()
            if any(params.get(k) != v for k, v in _SUPPORTED.items()):
                return None
            fast = cls(dict(vectorizer.vocabulary_), np.asarray(vectorizer.idf_, np.float64),
                       params["token_pattern"], frozenset(vectorizer.get_stop_words() or ()))
            want = vectorizer.transform(_PROBES)
            got = fast.transform(_PROBES)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        if want.shape != got.shape or abs(want - got).max() > 1e-9:
            return None
        return fast

    def transform(self, docs: list[str]) -> csr_matrix:
        get = self.vocabulary.get
        stop = self.stop_words
        rows: list[int] = []
        ids: list[int] = []
        for r, doc in enumerate(docs):
            found = [j for t in self.tokens.findall(doc.lower())
                     if t not in stop and (j := get(t)) is not None]
            ids.extend(found)
            rows.extend([r] * len(found))
        n, width = len(docs), len(self.idf)
        # One np.unique over (row, column) keys for the whole batch: per-document numpy calls
        # cost more than the arithmetic for ~30 short sentences. Keys sort in CSR order.
        keys, counts = np.unique(np.asarray(rows, np.int64) * width + np.asarray(ids, np.int64),
                                 return_counts=True)
        row, col = keys // width, keys % width
        vals = counts * self.idf[col]
        norms = np.sqrt(np.bincount(row, weights=vals * vals, minlength=n))
        vals /= norms[row]
        indptr = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=n))))
        return csr_matrix((vals, col, indptr), shape=(n, width))
