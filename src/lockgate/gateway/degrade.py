"""Graceful degradation: when every generative backend for a grounded request is down, answer
with quoted sentences from the retrieved chunks, each with its citation marker, instead of a
5xx. The marker numbers match the chunk numbering of the prompt, so `postprocess` turns them
into the usual citation objects."""

from __future__ import annotations

import math
import re

from lockgate.config import DegradeConfig
from lockgate.retrieval.hybrid import RetrievedChunk

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "the a an and or of to in on for is are was were be by with as at it this that from you "
    "your we our can may will not no if what how when where which who why do does did i".split()
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _sentences(text: str) -> list[str]:
    out = []
    for part in _SENTENCE_END.split(text):
        # Headings and list bullets are structure, not statements worth quoting.
        line = " ".join(ln.strip() for ln in part.splitlines() if not ln.lstrip().startswith("#"))
        line = line.strip(" -*\t")
        if len(line.split()) >= 3:
            out.append(line)
    return out


def extractive_answer(
    question: str, chunks: list[RetrievedChunk], cfg: DegradeConfig
) -> tuple[str, list[int]] | None:
    """(answer text, chunk numbers cited), or None when there is nothing to quote."""
    q = _words(question)
    scored: list[tuple[float, int, int, str]] = []
    for number, chunk in enumerate(chunks, start=1):
        for pos, sentence in enumerate(_sentences(chunk.text)):
            words = _words(sentence)
            overlap = len(q & words)
            # Overlap normalised by length so a long sentence does not win by size alone;
            # retrieval rank and position in the chunk break ties.
            score = overlap / math.sqrt(max(len(words), 1)) - 0.01 * number - 0.001 * pos
            scored.append((score, number, pos, sentence))
    if not scored:
        return None
    scored.sort(key=lambda t: t[0], reverse=True)
    best = [t for t in scored if t[0] > 0][: cfg.max_sentences] or scored[:1]
    # Quote in source order so the passage reads naturally.
    best.sort(key=lambda t: (t[1], t[2]))
    lines = [cfg.preface] + [f'"{s.replace(chr(34), chr(39))}" [{n}]' for _, n, _, s in best]
    cited = sorted({n for _, n, _, _ in best})
    return "\n".join(lines), cited
