"""The extractive answer: the source sentences that best answer the question, quoted with the
citation marker of the chunk each came from. Used when the model's answer is not supported
by the sources (`stages/answer_check.py`); it says nothing the sources do not say, and it is
None when no sentence bears on the question enough to be worth quoting (the turn is then
refused rather than answered with something unsupported)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from lockgate.engine.sentences import (
    Embed,
    SourceSentence,
    chunk_sentences,
    question_words,
    rank_sentences,
)
from lockgate.guardrails.grounding import entities, numbers
from lockgate.retrieval.hybrid import RetrievedChunk

# "How many ..." asks for a figure: a sentence without one does not answer it.
_ASKS_COUNT = re.compile(r"\bhow (many|much)\b|\bwhat (percentage|amount|number)\b", re.I)


@dataclass
class Extract:
    text: str
    cited: list[int]
    sentences: list[SourceSentence]


_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def unknown_years(question: str, chunks: list[RetrievedChunk]) -> list[str]:
    """The years the question asks about that no chunk mentions ("revenue in 2023"): the
    sources are about another time, whatever words they share with it. Names and other
    figures are left alone: "I'm John Smith", "charged 10 days ago" are the caller's own."""
    seen: set[str] = set()
    for c in chunks:
        seen |= set(_YEAR.findall(c.text))
    return [y for y in sorted(set(_YEAR.findall(question))) if y not in seen]


def topic_words(question: str) -> set[str]:
    """What a question is about, less its names: an answer must share one of these."""
    names = {w for e in entities(question) for w in question_words(e)}
    return question_words(question) - names


def answers(question: str, s: SourceSentence, min_lexical: float, min_similarity: float) -> bool:
    """Whether a ranked sentence bears on the question enough to be quoted as its answer."""
    if s.lexical < min_lexical:
        return False  # similarity alone ("about refunds") is no reason to quote a sentence
    if not s.specific:
        return False  # only the question's commonest words: about something else
    if _ASKS_COUNT.search(question) and not numbers(s.text):
        return False
    q = question_words(question)
    text = s.text if s.header is None else f"{s.header} {s.text}"
    shared = q & question_words(text)
    # A topic word, not only a name: "This handbook explains how we work at Northwind
    # Cloud" shares words with any question about Northwind Cloud.
    if topic_words(question) and not shared & topic_words(question):
        return False
    # Most of what the question is about, or close to it in meaning.
    return len(shared) >= math.ceil(0.5 * len(q)) or s.similarity >= min_similarity


def extractive_reply(
    question: str,
    chunks: list[RetrievedChunk],
    max_sentences: int = 2,
    min_lexical: float = 0.2,
    query_vector: np.ndarray | None = None,
    embed: Embed | None = None,
    min_similarity: float = 0.55,
) -> Extract | None:
    if not chunks or unknown_years(question, chunks):
        return None
    sentences = [s for i, c in enumerate(chunks, start=1) for s in chunk_sentences(i, c.text)]
    # Only sentences that can pass `answers` are worth embedding.
    ranked = rank_sentences(question, sentences, query_vector, embed, embed_from=min_lexical)
    relevant = [s for s in ranked if answers(question, s, min_lexical, min_similarity)]
    if not relevant:
        return None
    best = relevant[0]
    picked = [best]
    for s in relevant[1:]:
        if len(picked) >= max_sentences:
            break
        # A second sentence only when it is nearly as good (otherwise it dilutes the
        # answer) and says something else (overlapping chunks repeat sentences).
        if s.score >= 0.75 * best.score and all(s.text != p.text for p in picked):
            picked.append(s)
    picked.sort(key=lambda s: (s.number, s.pos))
    parts = []
    for s in picked:
        text = s.text if s.header is None else f"{s.header} {s.text}"
        parts.append(f"{text.rstrip()} [{s.number}]")
    return Extract(" ".join(parts), sorted({s.number for s in picked}), picked)
