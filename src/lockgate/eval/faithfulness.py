"""Faithfulness without an LLM judge: the share of an answer's sentences that the retrieved
context supports.

The answer is split into sentences (after ".", "!" or "?" followed by white space, and at line
breaks); citation markers such as [1], [2, 3] or [1-3] are removed first. A sentence's content
tokens are its lowercased words (letters and digits) minus English stopwords; negations ("not",
"no", "never", ...) are kept, as they change what a sentence claims. A sentence is supported
when, for some context chunk, the share of its distinct content tokens that occur in that chunk
(recall of the sentence's tokens) is at least `threshold`.

Sentences without content tokens ("Yes, it is.") claim nothing: they are listed with
`claim=False` and left out of the score. score = supported claims / claims, and 0.0 when there
is no claim or no context. The check is lexical: a paraphrase with other words is not seen as
supported, and a sentence that reuses the context's words with a changed meaning can be.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_THRESHOLD",
    "FaithfulnessResult",
    "SentenceSupport",
    "content_tokens",
    "faithfulness",
    "split_sentences",
]

DEFAULT_THRESHOLD = 0.6

_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;\-\u2013]\s*\d+)*\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves also may might must shall
    it's i'm you're we're they're that's there's what's let's per via yes
    """.split()
)


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    """One answer sentence and how well the best context chunk covers it."""

    text: str
    tokens: tuple[str, ...]  # distinct content tokens, in order of appearance
    claim: bool  # has content tokens, so it counts in the score
    supported: bool
    overlap: float  # best share of `tokens` found in one chunk, 0.0 to 1.0
    chunk: int | None  # index of that chunk in the context; None when no token was found


@dataclass(frozen=True, slots=True)
class FaithfulnessResult:
    score: float
    sentences: tuple[SentenceSupport, ...]

    @property
    def unsupported(self) -> tuple[SentenceSupport, ...]:
        return tuple(s for s in self.sentences if s.claim and not s.supported)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` with citation markers removed; blank pieces dropped."""
    cleaned = _CITATION.sub(" ", text)
    out = []
    for piece in _SENTENCE_END.split(cleaned):
        sentence = " ".join(piece.split())
        sentence = re.sub(r"\s+([.,;:!?])", r"\1", sentence)
        if sentence:
            out.append(sentence)
    return out


def _words(text: str) -> list[str]:
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())]


def content_tokens(text: str) -> tuple[str, ...]:
    """Distinct lowercased words of `text` that are not stopwords, in order."""
    return tuple(dict.fromkeys(w for w in _words(_CITATION.sub(" ", text)) if w not in STOPWORDS))


def faithfulness(
    answer: str, context: Sequence[str], threshold: float = DEFAULT_THRESHOLD
) -> FaithfulnessResult:
    """Score `answer` against the retrieved `context` chunks (see the module docstring)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    chunks = [set(_words(c)) for c in context]
    details: list[SentenceSupport] = []
    for sentence in split_sentences(answer):
        tokens = content_tokens(sentence)
        best, best_chunk = 0.0, None
        if tokens:
            for i, chunk in enumerate(chunks):
                share = sum(1 for t in tokens if t in chunk) / len(tokens)
                if share > best:
                    best, best_chunk = share, i
        claim = bool(tokens)
        supported = claim and best_chunk is not None and best >= threshold
        details.append(SentenceSupport(sentence, tokens, claim, supported, best, best_chunk))
    claims = [d for d in details if d.claim]
    score = sum(d.supported for d in claims) / len(claims) if claims and chunks else 0.0
    return FaithfulnessResult(score, tuple(details))
