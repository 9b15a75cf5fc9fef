"""Sentence-level context: the sentences of the retrieved chunks that bear on the question.

A long manual's chunks are mostly about something else than the question; sending them whole
makes a long prompt to prefill (the first token waits for all of it) and gives a tiny model
more to copy the wrong sentence from. `select_sentences` keeps, per chunk, the best sentences
for the question plus a neighbour, under a character cap, and keeps each chunk's place in the
numbering so citations still name the chunk a sentence came from. `rank_sentences` is shared
with the extractive answer (`engine/extractive.py`)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lockgate.engine.answer_type import DEFAULT_Q
from lockgate.guardrails.grounding import content_words, numbers, split_sentences
from lockgate.retrieval.hybrid import RetrievedChunk

Embed = Callable[[Sequence[str]], np.ndarray]

# A structured line (table row, `key: value` field, list item) is a unit of its own.
_TABLE_ROW = re.compile(r"^\s*\|")
_FIELD = re.compile(r"^\s*[\w.\[\]-]+\s*:\s*\S")
_HEADING = re.compile(r"^\s*#{1,6}\s")
# Flattened structured data on one line ("plans.team.uptime_sla_percent: 99.9 plans.team.
# support: 1 day ..."): each `key: value` pair is a unit of its own.
_INLINE_FIELD = re.compile(r"\s+(?=[\w\[\]-]+(?:\.[\w\[\]-]+)+:\s)")
# Questions that ask for an amount, a duration or a date: a sentence with a figure is likelier
# to be the answer than one that only repeats the question's words.
_ASKS_FIGURE = re.compile(
    r"\b(how (many|much|long|often|soon|quickly|fast|large|big)|what (percentage|share|"
    r"amount|price|size|limit|number)|when|which (year|date|day)|within how)\b",
    re.I,
)
# Words that say what kind of answer is wanted, not what it is about.
_ASKING = frozenset("many much long often soon quickly far big large".split())
# "Besides Rotterdam, ...", "apart from", "except": they set aside what a question names,
# and are no word an answer would share.
_ASIDE = frozenset("besides apart except aside".split())
_LONG_UNIT = 400  # characters: a longer "sentence" (wrapped prose, no full stop) is split


@dataclass
class SourceSentence:
    number: int  # the chunk's place in the context (1-based): its citation marker
    pos: int  # the sentence's place in its chunk
    text: str
    header: str | None = None  # a table row's header row, shown with it
    lexical: float = 0.0
    similarity: float = 0.0
    score: float = 0.0
    # It has one of the question's more specific words (the rarer half among the sentences):
    # "team" and "plan" alone do not make a sentence about "the uptime SLA of the Team plan".
    specific: bool = False
    # The question an FAQ answer's sentence answers (its chunk's question heading): an
    # answer seldom repeats the question's words ("Registered nonprofit organisations ...
    # get 30% off" under "Do you offer discounts for nonprofits?"). Matched, never quoted.
    asked: str | None = None

    def matched(self) -> str:
        """The text the question's words are matched against: the sentence, with its table
        header row or its FAQ question."""
        head = " ".join(h for h in (self.asked, self.header) if h)
        return f"{head} {self.text}" if head else self.text


def chunk_sentences(number: int, text: str) -> list[SourceSentence]:
    """A chunk as units: prose sentences, and table rows or `key: value` lines one by one."""
    out: list[SourceSentence] = []
    header: str | None = None
    for s in split_sentences(text, limit=256):
        lines = [ln.strip() for ln in s.text.splitlines() if ln.strip()]
        structured = sum(bool(_TABLE_ROW.match(ln) or _FIELD.match(ln)) for ln in lines)
        if len(lines) > 1 and (structured * 2 >= len(lines) or len(s.text) > _LONG_UNIT):
            parts = lines
        else:
            parts = [" ".join(lines)]
        parts = [f for part in parts for f in _fields(part)]
        for part in parts:
            if _HEADING.match(part):
                continue  # structure, not a statement; the heading path is in the label
            if _TABLE_ROW.match(part) and header is None:
                header = part  # the first row names the columns
                continue
            if len(part.split()) < 2 or not content_words(part):
                continue
            row_header = header if _TABLE_ROW.match(part) else None
            out.append(SourceSentence(number, len(out), part.strip(" -*\t"), row_header))
    return out


def _fields(unit: str) -> list[str]:
    pieces = _INLINE_FIELD.split(unit)
    return pieces if len(pieces) >= 3 else [unit]


# A dot or underscore between letters joins the words of a structured key
# ("plans.team.uptime_sla_percent"); they count one by one, as in a sentence.
_KEY_JOINT = re.compile(r"(?<=[A-Za-z])[._](?=[A-Za-z])")


# A value the input guard redacted (`<CREDIT_CARD_1>`): the caller's data, not words the
# sources could share ("credit", "card", "iban" would count as the question's topic).
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")


def without_placeholders(text: str) -> str:
    """The text less the input guard's redaction placeholders."""
    return _PLACEHOLDER.sub(" ", text)


def question_words(text: str, forms: bool = True) -> set[str]:
    """The content words of a question (or a sentence), less the words that only ask,
    contractions ("what's", "i'm") and redaction placeholders. Asking for a default in
    other words ("out of the box", "unless told otherwise") counts as the word "default":
    manuals state it that way ("The default is 22."). With `forms`, each word in the one
    form its other forms take too (`_normal`), less "besides" and the like; without, the
    plain stems."""
    text = _KEY_JOINT.sub(" ", without_placeholders(text))
    if text.rstrip().endswith("?"):
        text = DEFAULT_Q.sub(" default ", text)
    if not forms:
        return {w for w in content_words(text) - _ASKING if "'" not in w}
    return {
        _normal(raw, w)
        for raw in _WORD.findall(text.lower())
        if raw not in _ASIDE and (w := _stemmed(raw)) and w not in _ASKING and "'" not in w
    }


_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")


def _stemmed(raw: str) -> str:
    """The word as `content_words` has it ("" for a stop word)."""
    found = content_words(raw)
    return next(iter(found)) if len(found) == 1 else ""


# A table's column names say "max_seats", "min_..."; people say "the largest number of".
_BOUNDS = {
    **dict.fromkeys(("largest", "biggest", "highest", "maximum", "maxim"), "max"),
    **dict.fromkeys(("smallest", "lowest", "minimum", "minim", "fewest"), "min"),
}


def _normal(raw: str, word: str) -> str:
    """A stemmed word in the one form all its forms take: the stem leaves "office" but
    makes "offices" "offic" and "stored" "stor", so "-es" after a letter other than s, x,
    z, ch, sh loses only its "s", a final "e" goes ("offic", "stor") and "ss" stays
    ("class", "business"); "largest" and "maximum" are a column's "max"."""
    word = _BOUNDS.get(word, word)
    if raw.endswith("ss") and word == raw[:-1]:
        return raw  # "class", "business": no plural "s" to take off
    if word == raw[:-2] and raw.endswith("es") and not word.endswith(("s", "x", "z", "ch", "sh")):
        word = raw[:-1]
    if word.endswith("e") and len(word) >= 5:
        return word[:-1]
    return word


def rank_sentences(
    question: str,
    sentences: list[SourceSentence],
    query_vector: np.ndarray | None = None,
    embed: Embed | None = None,
    semantic_weight: float = 0.5,
    embed_from: float = 0.0,
    forms: bool = True,
) -> list[SourceSentence]:
    """The sentences best first. Score: idf-weighted share of the question's content words the
    sentence has, blended with its cosine to the question where embeddings are given, plus a
    small bonus for a figure when the question asks for one. Only sentences with at least
    `embed_from` of that share are embedded (embedding is most of the cost); the others are
    scored as if dissimilar. `forms`: see `question_words`."""
    if not sentences:
        return []
    q = question_words(question, forms)
    # A sentence's own words (and a table row's header's): an FAQ question heading counts
    # only where the extract judges whether a sentence answers (`extractive.answers`);
    # ranked by it, every sentence of the answer would tie on the question's words.
    words = [
        question_words(s.text if s.header is None else f"{s.header} {s.text}", forms)
        for s in sentences
    ]
    n = len(sentences)
    df = {t: sum(t in w for w in words) for t in q}
    idf = {t: math.log(1 + n / (1 + df[t])) for t in q}
    total = sum(idf.values()) or 1.0
    wants_figure = bool(_ASKS_FIGURE.search(question))
    present = sorted(idf[t] for t in q if df[t] > 0)
    cut = present[(len(present) - 1) // 2] if present else 0.0
    specific = {t for t in q if df[t] > 0 and idf[t] >= cut}
    for s, w in zip(sentences, words, strict=True):
        s.lexical = sum(idf[t] for t in q & w) / total
        s.specific = bool(specific & w)
    sims: list[float] = [0.0] * n
    if embed is not None and query_vector is not None:
        todo = [i for i, s in enumerate(sentences) if s.lexical >= embed_from]
        if todo:
            vecs = embed([sentences[i].text for i in todo])
            for i, v in zip(todo, vecs, strict=True):
                sims[i] = float(np.dot(query_vector, v))
    for s, sim in zip(sentences, sims, strict=True):
        s.similarity = sim
        w_sem = semantic_weight if embed is not None and query_vector is not None else 0.0
        s.score = (1 - w_sem) * s.lexical + w_sem * max(0.0, sim)
        if wants_figure and numbers(s.text) and s.lexical > 0:
            s.score += 0.05
        s.score -= 0.002 * s.number  # retrieval rank breaks ties
    return sorted(sentences, key=lambda s: s.score, reverse=True)


# An FAQ's question heading ("Q: Do you offer discounts?", "How do I export my data?").
_FAQ_HEADING = re.compile(r"^\s*(?:Q\s*:\s*)?(?P<q>.*\?)\s*$", re.S)


def faq_question(heading_path: Sequence[str]) -> str | None:
    """The question a chunk answers, where its innermost heading is one."""
    m = _FAQ_HEADING.match(heading_path[-1]) if heading_path else None
    return m.group("q").strip() if m else None


def render_sentences(sentences: list[SourceSentence]) -> str:
    """A chunk's chosen sentences in their order; a gap between them is a new line."""
    ordered = sorted(sentences, key=lambda s: s.pos)
    out: list[str] = []
    last = -2
    header_shown: set[str] = set()
    for s in ordered:
        text = s.text
        if s.header and s.header not in header_shown:
            header_shown.add(s.header)
            out.append(("\n" if out else "") + s.header)
            last = s.pos - 1
        sep = " " if s.pos == last + 1 and not s.header else "\n"
        out.append((sep if out else "") + text)
        last = s.pos
    return "".join(out)


def select_sentences(
    question: str,
    chunks: list[RetrievedChunk],
    best: int,
    neighbours: int,
    max_chars: int,
    query_vector: np.ndarray | None = None,
    embed: Embed | None = None,
) -> list[RetrievedChunk]:
    """The chunks that have one of the best sentences, in retrieval order, each with only its
    chosen sentences: the context the prompt numbers and citations point into. A chunk with
    none of them is left out of the prompt (and so cannot be cited)."""
    per_chunk = [chunk_sentences(i, c.text) for i, c in enumerate(chunks, start=1)]
    everything = [s for group in per_chunk for s in group]
    # The prompt's choice keeps the plain stems: a different prompt changes what the tiny
    # model writes, which only a live run measures; the word forms serve the answer check
    # and the extract, measured on captured answers.
    ranked = rank_sentences(question, everything, query_vector, embed, forms=False)
    chosen: set[tuple[int, int]] = set()
    used = 0

    def take(s: SourceSentence) -> bool:
        nonlocal used
        key = (s.number, s.pos)
        if key in chosen:
            return True
        size = len(s.text) + (len(s.header) if s.header else 0) + 1
        if chosen and used + size > max_chars:
            return False
        chosen.add(key)
        used += size
        return True

    # Sharing no word with the question, a sentence is in only as a neighbour.
    top = [s for s in ranked if s.lexical > 0][:best] or ranked[:1]
    for s in top:
        take(s)
    for s in top:
        group = per_chunk[s.number - 1]
        for d in range(1, neighbours + 1):
            for pos in (s.pos + d, s.pos - d):
                if 0 <= pos < len(group):
                    take(group[pos])
    out: list[RetrievedChunk] = []
    for number, (chunk, group) in enumerate(zip(chunks, per_chunk, strict=True), start=1):
        kept = [s for s in group if (number, s.pos) in chosen]
        if kept:
            out.append(dataclasses.replace(chunk, text=render_sentences(kept)))
    return out
