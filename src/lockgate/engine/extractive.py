"""The extractive answer: the source sentences that best answer the question, quoted with the
citation marker of the chunk each came from. Used when the model's answer is not supported
by the sources (`stages/answer_check.py`); it says nothing the sources do not say, and it is
None when no sentence bears on the question enough to be worth quoting (the turn is then
refused rather than answered with something unsupported)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lockgate.engine.answer_type import Kind, fits, kind_of, kinds, names, parts
from lockgate.engine.conditions import applies, contradicts
from lockgate.engine.misses import misses
from lockgate.engine.sentences import (
    Embed,
    SourceSentence,
    chunk_sentences,
    faq_question,
    question_words,
    rank_sentences,
    without_placeholders,
)
from lockgate.engine.superlative import (
    PRICE_QUERY,
    asks_superlative,
    best_row,
    compared_columns,
)
from lockgate.guardrails.grounding import numbers
from lockgate.retrieval.hybrid import RetrievedChunk


@dataclass
class Extract:
    text: str
    cited: list[int]
    sentences: list[SourceSentence]
    # The context the citations count in (the given one, grown by quoted pool chunks).
    context: list[RetrievedChunk] = dataclasses.field(default_factory=list)
    markers: list[int] = dataclasses.field(default_factory=list)  # each sentence's [n]


# Sentences of a pool chunk that the context did not show are placed after its own.
_POOL = 10_000


_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def unknown_years(question: str, chunks: list[RetrievedChunk]) -> list[str]:
    """The years the question asks about that no chunk mentions ("revenue in 2023"): the
    sources are about another time, whatever words they share with it. Names and other
    figures are left alone: "I'm John Smith", "charged 10 days ago" are the caller's own."""
    seen: set[str] = set()
    for c in chunks:
        seen |= set(_YEAR.findall(c.text))
    return [y for y in sorted(set(_YEAR.findall(question))) if y not in seen]


_SMALL_WORDS = frozenset("of and the for to in on a an at by with &".split())
# The keys of `key: value` fields ("document: Northwind Cloud Service Level Agreement
# version: 2025.1"), and figures: what is left of a title field is its title.
_KEY_OR_FIGURE = re.compile(r"(?:^|(?<=\s))[\w.-]+:(?=\s)|\b[\d.,:/-]+\b")


def is_title(text: str) -> bool:
    """Three or more words, every one capitalised but the small ones: a heading, or a
    document's title field. It names a document; it answers nothing but a question for a
    name."""
    if "|" in text:
        return False  # a table row: its cells may all be names
    text = _KEY_OR_FIGURE.sub(" ", re.sub(r"\[\d{1,3}\]", "", text))
    words = re.findall(r"[A-Za-z][\w'-]*", text)
    big = [w for w in words if w.lower() not in _SMALL_WORDS]
    return len(big) >= 3 and all(w[0].isupper() for w in big)


# Someone the question names: an e-mail address, or one the input guard redacted, or a
# person's name it redacted.
_SOMEONE = re.compile(r"<(?:EMAIL|PERSON)_\d+>|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ME = r"my|me|i|i'm|i am"
_CALLER = re.compile(rf"\b(?:{_ME})\b", re.I)
# The caller's organisation saying where it stands ("We're on the Team plan - do we ..."):
# its names are context, as the caller's own are.
_CALLERS = re.compile(rf"\b(?:{_ME}|we're|we are)\b", re.I)


def about_someone(question: str, chunks: list[RetrievedChunk]) -> bool:
    """Whether the question asks about a person other than the caller ("the salary of
    employee jane.doe@example.com"): a policy sentence that shares its words ("employee",
    "home") does not answer it, and no source can name a person the sources do not
    mention. The caller's own address ("my email is ...", "Hi, Marta here (<EMAIL_1>).")
    is context, not the subject."""
    for m in _SOMEONE.finditer(question):
        if _CALLER.search(question[max(0, m.start() - 30) : m.start()]):
            continue
        if introduces_caller(_sentence_at(question, m.start())):
            continue
        if m.group(0).startswith("<") or not any(m.group(0) in c.text for c in chunks):
            return True
    return False


# A message's sentences: what `unknown_names` and `about_someone` judge one at a time.
_SAID = re.compile(r"(?<=[.?!])\s+|\s+[—–-]\s+|;\s+")
# Someone else the sentence is about ("her IBAN is ...", "my colleague's number").
_THIRD_PARTY = re.compile(
    r"\b(?:he|she|his|her|him|they|their|them|colleague|coworker|co-worker)\b", re.I
)


def _sentence_at(text: str, at: int) -> str:
    start = 0
    for m in _SAID.finditer(text):
        if m.start() >= at:
            return text[start : m.start()]
        start = m.end()
    return text[start:]


# An identifier of the caller's: a customer, account or card number ("NW-552190"), not an
# amount ("$7,000").
_IDENTIFIER = re.compile(r"\b[A-Z]{1,5}-?\d{4,}\b|(?<![$€£\d,.])\d{6,}\b")
# What an introduction says besides names and data: "Hi, ... here", "my name is", "you can
# reach me on", "customer number", "card ... on file".
_INTRO_WORDS = frozenset(
    question_words(
        "hi hello hey dear name number customer client phone mobile email mail iban card file "
        "account reach contact here speaking details tel"
    )
)


def introduces_caller(sentence: str) -> bool:
    """Whether a sentence is the caller saying who they are before asking ("Hi, Marta
    Jansen here (<EMAIL_1>).", "Lena Hoffmann, IBAN <IBAN_1>.", "This is Kenji, customer
    number NW-552190."): a statement, not a question, carrying contact data or an
    identifier, about nobody else, and saying little besides. Its names are the caller's
    own. "I invited <EMAIL_1> ten days ago but the link fails" says more."""
    if "?" in sentence or _THIRD_PARTY.search(sentence):
        return False
    bare = without_placeholders(sentence)
    if bare == sentence and not _IDENTIFIER.search(sentence):
        return False
    said = question_words(_IDENTIFIER.sub(" ", bare)) - name_words(bare) - _INTRO_WORDS
    return len(said) <= 1


def without_introduction(question: str) -> str:
    """The message less the sentences in which the caller says who they are: what it asks
    about, undiluted by a name, a customer number and a phone number. The message itself
    where nothing else is left."""
    start, kept = 0, []
    for m in [*_SAID.finditer(question), None]:
        end = m.start() if m else len(question)
        if not introduces_caller(question[start:end]):
            kept.append(question[start : m.end() if m else end])
        start = m.end() if m else end
    rest = "".join(kept).strip()
    return rest or question


def unknown_names(question: str, chunks: list[RetrievedChunk]) -> list[str]:
    """The names the question asks about that no chunk mentions ("the Platinum plan", "the
    Tokyo office"): whatever else the sources share with it, they are about something else.
    Names in a sentence about the caller ("I'm Jan de Vries, ...") are the caller's own."""
    said_as_is: set[str] = set()
    named: set[str] = set()
    for c in chunks:
        said_as_is |= set(_RAW_WORD.findall(c.text.lower()))
        named |= question_words(" ".join(_CAPITALISED.findall(c.text)))
    missing: list[str] = []
    for said in _SAID.split(question):
        sentence = without_placeholders(said)
        if _CALLERS.search(sentence) or _states_own_data(said) or introduces_caller(said):
            continue
        for name in sorted(names(sentence)):
            raw = set(_RAW_WORD.findall(name.lower()))
            if raw and not raw & said_as_is and not question_words(name) & named:
                missing.append(name)
    return missing


# A table row for everything its other rows do not list: "All other cities", "any other
# country", "Other regions".
_CATCH_ALL = re.compile(r"^(?:(?:all|any)\s+)?other\s+([a-z][a-z-]+)$", re.I)


_PLACED = re.compile(r"\b(?:in|to|at|near|from|visiting|like|such as)\s+$", re.I)
_PLACE_KINDS = frozenset(
    question_words("city cities country countries region regions location locations place places")
)


def _mentions(question: str, missing: list[str]) -> list[re.Match[str]]:
    found = [re.search(rf"\b{re.escape(name)}\b", question, re.I) for name in missing]
    return [m for m in found if m is not None] if all(found) else []


def _as_catch_all(question: str, missing: list[str], chunks: list[RetrievedChunk]) -> str | None:
    """`question` with each name no source mentions replaced by the own name (first cell)
    of a table row for all the others of a kind the question says ("a city like Porto",
    "Lisbon ... isn't one of the example cities": the row of "All other cities"); None
    where there is no such row."""
    asked = question_words(question)
    # "a workshop in Lisbon", "somewhere like Porto": a place, where the kind is one.
    placed = all(_PLACED.search(question[: m.start()]) for m in _mentions(question, missing))
    rows: list[str] = []
    for c in chunks:
        for line in c.text.splitlines():
            if not line.strip().startswith("|"):
                continue
            cells = _cells(line)
            if len(cells) < 2:
                continue
            for cell in cells[1:]:
                m = _CATCH_ALL.match(cell)
                if not m or cells[0] in rows:
                    continue
                kind = question_words(m.group(1))
                if kind & asked or (placed and kind & _PLACE_KINDS):
                    rows.append(cells[0])
    if len(rows) != 1:
        return None  # none, or several kinds of "other": which one is not clear
    out = question
    for name in missing:
        out = re.sub(rf"\b{re.escape(name)}\b", rows[0], out, flags=re.I)
    return out if out != question else None


# A name is mentioned where a source has its word as it is ("P2" in `P2_high`, "team" in a
# table cell), or another form of it written as a name ("Teams" for "Team"): a lower-case
# word of another form is another word ("Windows" is not the browser "window").
_RAW_WORD = re.compile(r"[a-z0-9]+")
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z0-9]*")


# The caller's organisation stating its own data ("Our IBAN is NL91 ABNA 0417 1643 00.",
# "We use account 20419-77.", or the input guard's placeholder for it): a sentence of theirs
# with a number or a redacted value in it is context, not what the question asks about. One
# without ("our team is in Australia") still counts.
_OURS = re.compile(r"\b(?:our|we|we're|us)\b", re.I)
_OWN_DIGITS = 4


def _states_own_data(sentence: str) -> bool:
    if not _OURS.search(sentence):
        return False
    return (
        sum(c.isdigit() for c in sentence) >= _OWN_DIGITS
        or without_placeholders(sentence) != sentence
    )


# A short sentence that completes the one before it with the value: "The default is INFO.",
# "The default is 22." after the option's description.
_SHORT_TAIL = 12  # words
# A next sentence that opens by referring back ("It must be 3 to 32 characters long") is
# about the one before however long it is: "it" alone shares no word with the question.
_REFERS = re.compile(r"(?:It|They|Its|Their|This|These|That|Those|He|She)\b")
_REFERRING_TAIL = 40


def _completes(question: str, tail: str) -> bool:
    """Whether a next sentence gives what its sentence lacks: a short one that fits, or a
    longer one referring back that fits without its years ("It is owned by Finance and was
    last updated in January 2025" says when, not how many)."""
    size = len(tail.split())
    if size <= _SHORT_TAIL:
        return fits(question, tail)
    if size > _REFERRING_TAIL or not fits(question, _YEAR.sub(" ", tail)):
        return False
    # Or one that says what the question asks about ("You can report a concern ... through
    # the ethics hotline" after "Harassment ... is never acceptable" for "where can I report
    # harassment?"): the two together hold the question's words.
    return bool(_REFERS.match(tail)) or bool(topic_words(question) & question_words(tail))


def completed_by_next(
    question: str,
    sentences: list[SourceSentence],
    chunks: list[RetrievedChunk] | None = None,
    pool: list[RetrievedChunk] | None = None,
) -> list[SourceSentence]:
    """More candidates: a sentence that does not give the kind of answer asked for joined
    with the short one after it that does (a manual describes an option, then says "The
    default is INFO." on its own): quoted together, word for word. Asked for a default, a
    sentence that states none is joined with the default stated a sentence or two later
    ("Gives the verbosity level ... The possible values are: ... The default is INFO."),
    read from the whole chunk (`pool`'s copy of a context chunk, `chunks` numbered as in
    `candidates`): the context's selection may have left the default out."""
    by_place = {(s.number, s.pos): s for s in sentences}
    # Part by part: "How long can the name be, and can we rename it?" is a figure question
    # in its first part, though "Choose a workspace name." fits the question as a whole.
    asked = parts(question)
    defaults = [p for p in asked if "default" in question_words(p)]
    whole = _whole_chunks(chunks or [], pool) if defaults else {}
    out: list[SourceSentence] = []
    for s in sentences:
        if s.header is not None:
            continue
        nxt = by_place.get((s.number, s.pos + 1))
        if (
            nxt is not None
            and nxt.header is None
            and any(not fits(p, s.text) and _completes(p, nxt.text) for p in asked)
        ):
            out.append(dataclasses.replace(s, text=f"{s.text} {nxt.text}"))
            continue
        if defaults and not _STATES_DEFAULT.search(s.text):
            run = _default_run(s.text, whole.get(s.number, []), defaults)
            if run:
                # Marked as the pool's: the quote joins the context (see `_reply`).
                pos = s.pos if s.pos >= _POOL else s.pos + _POOL
                out.append(dataclasses.replace(s, text=" ".join([s.text, *run]), pos=pos))
    return out


def _whole_chunks(
    chunks: list[RetrievedChunk], pool: list[RetrievedChunk] | None
) -> dict[int, list[str]]:
    """Each numbered chunk's sentences in order, from the pool's copy where it has one."""
    fuller = {c.chunk_id: c for c in pool or []}
    return {
        i: [x.text for x in chunk_sentences(i, fuller.get(c.chunk_id, c).text)]
        for i, c in enumerate(chunks, start=1)
    }


# "The default is GnuTLS.", "By default, Wget will ...", "defaults to 22".
_STATES_DEFAULT = re.compile(
    r"\b(?:the|its|current)\s+default\b|\bby default\b|\bdefaults? to\b|\bis the default\b",
    re.I,
)
_DEFAULT_AHEAD = 2  # sentences
_DEFAULT_WORDS = 45  # the quote after the described sentence, at most


def _default_run(text: str, whole: list[str], asked: list[str]) -> list[str]:
    """The sentences of its chunk (`whole`) from the one after `text` to the first within
    `_DEFAULT_AHEAD` that states a default fitting a part asking for one; [] where none
    does."""
    if text not in whole:
        return []
    at = whole.index(text)
    run: list[str] = []
    for nxt in whole[at + 1 : at + 1 + _DEFAULT_AHEAD]:
        run.append(nxt)
        if sum(len(t.split()) for t in run) > _DEFAULT_WORDS:
            return []
        if _STATES_DEFAULT.search(nxt) and any(fits(p, nxt) for p in asked):
            return run
    return []


def qualifiers(question: str, sentences: list[SourceSentence]) -> set[str]:
    """The question's names and figures that tell candidate sentences apart ("Business"
    among the plans' rows): found in some of them, but not in most."""
    # The question's figures tell rows apart too ("Tier 1" among the tiers' rows).
    named = name_words(question) | numbers(question)
    if not named or not sentences:
        return set()
    counts = dict.fromkeys(named, 0)
    for s in sentences:
        for w in named & _terms(_quoted(s)):
            counts[w] += 1
    return {w for w, n in counts.items() if 0 < n <= len(sentences) // 2}


def _named(s: SourceSentence, qual: set[str]) -> int:
    """How many of the names a sentence has; a table row's own name (its first cell) counts
    twice: "| Team | ... | Email (business hours) |" mentions Business, but is Team's row."""
    if not qual:
        return 0
    found = len(qual & _terms(_quoted(s)))
    if s.header is not None:
        found += len(qual & _terms(_cells(s.text)[0]))
    return found


def _terms(text: str) -> set[str]:
    return question_words(text) | numbers(text)


def name_words(text: str) -> set[str]:
    """The words of the names a text says, a possessive's "'s" left off: "Northwind
    Cloud's servers" names Northwind Cloud (with the "'s", "cloud's" is no word at all and
    "cloud" would count as what the question is about)."""
    return {w for e in names(text) for w in question_words(e)}


def topic_words(question: str) -> set[str]:
    """What a question is about, less its names: an answer must share one of these."""
    return question_words(question) - name_words(question)


# A sentence that is itself a question: an FAQ's "Q: ..." line, or one ending in "?".
_ASKED = re.compile(r"^\s*Q\s*:|\?\s*(?:\[\d{1,3}\]\s*)*$")


def answers(
    question: str,
    s: SourceSentence,
    min_lexical: float,
    min_similarity: float,
    min_semantic: float = 1.1,
) -> bool:
    """Whether a ranked sentence bears on the question enough to be quoted as its answer."""
    text = s.text if s.header is None else f"{s.header} {s.text}"
    if not fits(question, text):
        return False  # "how many" answered without a figure, "who" without a name
    if misses(question, s.text):
        return False  # another unit, the opposite, the premise, the document's scope
    if _ASKED.search(s.text):
        return False  # a question the source asks ("Q: Do you have a status page?")
    if is_title(text) and not any(k in (Kind.NAME, Kind.PERSON) for k in kinds(question)):
        return False  # a document's title shares words with any question about it
    q = question_words(question)
    shared = q & question_words(s.matched())
    topic = topic_words(question)
    # A topic word, not only a name: "This handbook explains how we work at Northwind
    # Cloud" shares words with any question about Northwind Cloud.
    if topic and not shared & topic:
        return False
    # A table row that names what the question names ("Madrid" in "| Tier 2 | Berlin,
    # Toronto, Madrid | EUR 160 | EUR 55 |") and has a word of its topic in its header
    # ("Meals per day"): the row is about it, however few of the other words it repeats.
    if s.header is not None and shared & topic and shared & name_words(question):
        return True
    # Close in meaning although it shares few words: a paraphrase ("all my money back" for
    # "refunded in full").
    if s.similarity >= min_semantic:
        return True
    if s.lexical < min_lexical:
        return False  # similarity alone ("about refunds") is no reason to quote a sentence
    if not s.specific:
        return False  # only the question's commonest words: about something else
    # Most of what the question is about, or close to it in meaning.
    if len(shared) >= math.ceil(0.5 * len(q)) or s.similarity >= min_similarity:
        return True
    # Or one of its names and most of its other words: the company's name a question says
    # ("does Northwind Cloud have an office ...") is seldom in the sentence that answers it.
    return bool(topic and shared - topic) and len(shared & topic) >= math.ceil(0.5 * len(topic))


# A sentence far ahead of every other one on the question's words answers it, though
# it repeats fewer of them than `answers` asks ("Any single work purchase above EUR 500
# needs approval from your manager" for "above what amount do I need my manager's OK?").
_STANDOUT_LEXICAL = 0.35
_STANDOUT_LEAD = 2.0


def _standout(question: str, ranked: list[SourceSentence]) -> list[SourceSentence]:
    if len(ranked) < 2:
        return []
    top, second = ranked[0], ranked[1]
    text = top.text if top.header is None else f"{top.header} {top.text}"
    if (
        top.lexical < _STANDOUT_LEXICAL
        or not top.specific
        or top.lexical < _STANDOUT_LEAD * max(second.lexical, 1e-9)
        or _ASKED.search(top.text)
        or is_title(text)
        or not fits(question, text)
        or misses(question, top.text)
        or not (topic_words(question) & question_words(top.matched()))
    ):
        return []
    return [top]


def paraphrased(
    question: str,
    sentences: list[SourceSentence],
    query_vector: np.ndarray,
    embed: Embed,
    min_similarity: float,
    margin: float,
) -> list[SourceSentence]:
    """Where no sentence shares enough of the question's words: the one sentence of the
    retrieved documents closest to it in meaning, if it is close (`min_similarity`) and
    stands out from the next closest by `margin` ("How soon after a staff member departs is
    their login switched off?" for "Accounts of people who leave the company are disabled
    within 24 hours": no word in common). Every sentence is embedded here (the ranking
    embeds only those sharing words); it must still give the kind of answer asked for and
    not be a title. [] otherwise."""
    if min_similarity > 1 or len(sentences) < 2:
        return []
    texts = [_quoted(s) for s in sentences]
    sims = embed(texts) @ query_vector
    order = sorted(range(len(sentences)), key=lambda i: -float(sims[i]))
    top, second = order[0], order[1]
    s = sentences[top]
    if float(sims[top]) < min_similarity or float(sims[top] - sims[second]) < margin:
        return []
    if not fits(question, texts[top]) or is_title(texts[top]) or misses(question, texts[top]):
        return []
    s.similarity = float(sims[top])
    return [s]


def covers(part: str, question: str, s: SourceSentence | str) -> bool:
    """Whether a sentence answers one part of a question: it gives that part's kind of
    answer and has one of the words only that part says (both parts may ask for a figure)."""
    text = s if isinstance(s, str) else s.text if s.header is None else f"{s.header} {s.text}"
    if not fits(part, text, kind_of(part)):
        return False
    others = set().union(*(question_words(p) for p in parts(question) if p != part))
    own = topic_words(part) - others
    return not own or bool(own & question_words(text))


def _sentences(number: int, chunk: RetrievedChunk) -> list[SourceSentence]:
    out = chunk_sentences(number, chunk.text)
    asked = faq_question(chunk.heading_path)
    for s in out:
        s.asked = asked
    return out


def candidates(
    chunks: list[RetrievedChunk], pool: list[RetrievedChunk] | None
) -> tuple[list[SourceSentence], list[RetrievedChunk]]:
    """The sentences an extract may quote, numbered as citations: the context's chunks
    first (their numbers), then the pool's chunks that are not among them. A pool chunk's
    sentences the prompt left out may be quoted too: the context is a short selection by
    shared words, and a paraphrased question's sentence is often not in it."""
    numbered = list(chunks)
    by_id = {c.chunk_id: i for i, c in enumerate(numbered, start=1)}
    out = [s for i, c in enumerate(numbered, start=1) for s in _sentences(i, c)]
    seen = {(s.number, s.text) for s in out}
    for c in pool or []:
        number = by_id.get(c.chunk_id)
        if number is None:
            numbered.append(c)
            number = by_id[c.chunk_id] = len(numbered)
        for s in _sentences(number, c):
            if (number, s.text) not in seen:
                seen.add((number, s.text))
                s.pos += _POOL  # after the context's own sentences of that chunk
                out.append(s)
    return out, numbered


# The question itself where a message leads in with something else first ("Call me on
# ... if needed, but first: what is the mileage rate?", "I've been here three years. How
# much notice do I give?"): its last clause asking something, after a sentence break.
_FOCUS = re.compile(
    r"(?:[.!:;]\s+)((?:what|what's|how|when|where|who|which|why|is|are|do|does|can|could|"
    r"will|would|should|may|am)\b[^.!:;?]*\?)\s*$",
    re.I,
)


def focus(question: str) -> str | None:
    """The asking clause of a message that leads in with something else, else None."""
    m = _FOCUS.search(question)
    return m.group(1) if m else None


def extractive_reply(
    question: str,
    chunks: list[RetrievedChunk],
    max_sentences: int = 2,
    min_lexical: float = 0.2,
    query_vector: np.ndarray | None = None,
    embed: Embed | None = None,
    min_similarity: float = 0.55,
    pool: list[RetrievedChunk] | None = None,
    min_semantic: float = 1.1,
    semantic_weight: float = 0.5,
    given: str = "",
    paraphrase: tuple[float, float] = (1.1, 0.0),
    search: Search | None = None,
) -> Extract | None:
    """The extract for `question` (see `_reply`); where nothing answers the whole message
    and it leads in with something else, the extract for its asking clause, whose words are
    not diluted by the lead-in's. The lead-in still counts for what may not be answered at
    all (someone else's data, a name or a year the sources do not know)."""
    everything = chunks + (pool or [])
    if not chunks or unknown_years(question, everything) or about_someone(question, everything):
        return None
    missing = unknown_names(question, everything)
    if missing:
        # A name a table leaves to its catch-all row ("Lisbon" in a trip's question, and
        # "| Tier 3 | All other cities | EUR 110 |"): asked as that row's own name.
        question = _as_catch_all(question, missing, everything) or question
        if unknown_names(question, everything):
            return None
    asking = without_introduction(question)
    if asking != question:
        question = asking
        if embed is not None and query_vector is not None:
            query_vector = embed([asking])[0]
    args = (max_sentences, min_lexical, query_vector, embed, min_similarity, pool)
    rest = (min_semantic, semantic_weight, given, paraphrase, search)
    built = _reply(question, chunks, *args, *rest)
    asked = focus(question)
    return built if built is not None or asked is None else _reply(asked, chunks, *args, *rest)


def _reply(
    question: str,
    chunks: list[RetrievedChunk],
    max_sentences: int,
    min_lexical: float,
    query_vector: np.ndarray | None,
    embed: Embed | None,
    min_similarity: float,
    pool: list[RetrievedChunk] | None,
    min_semantic: float,
    semantic_weight: float,
    given: str,
    paraphrase: tuple[float, float],
    search: Search | None = None,
) -> Extract | None:
    """The extract, once the whole message may be answered at all (`extractive_reply`
    checks that once): quoting from `chunks` (the context) and, where given, the rest of
    the retrieved `pool`. `Extract.chunks` is the context the citations count in: `chunks`,
    then any pool chunk an extract sentence came from (the caller makes it the context).
    `given` is an answer already given to part of the question (the model's): the names
    it gives are what a later part referring back ("that plan") is about. `paraphrase`
    (similarity, margin): see `paraphrased`, the last resort before refusing. `search`
    retrieves another query's chunks: a later part's second hop (`_part_picks`)."""
    sentences, numbered = candidates(chunks, pool)
    sentences += completed_by_next(question, sentences, numbered, pool)
    # Only sentences that can pass `answers` are worth embedding: those sharing enough
    # words, or, where paraphrases may be quoted, any that shares a word.
    embed_from = min_lexical if min_semantic > 1 else 1e-9
    ranked = rank_sentences(
        question, sentences, query_vector, embed, semantic_weight, embed_from=embed_from
    )
    relevant = [
        s for s in ranked if answers(question, s, min_lexical, min_similarity, min_semantic)
    ]
    if not relevant:
        relevant = _standout(question, ranked)
    if not relevant and embed is not None and query_vector is not None:
        relevant = paraphrased(question, sentences, query_vector, embed, *paraphrase)
    asked = parts(question)
    # "Which is the cheapest plan with SSO?": the row a comparison of the rows picks, which
    # no sentence says.
    superlative = None
    if len(asked) < 2 and asks_superlative(question, question):
        superlative, more = _superlative(question, question, sentences, numbered, search)
        sentences += more
    if superlative is not None:
        relevant = [superlative]
    # A two-part question is judged part by part below: against the whole, each part's
    # sentence has only half of its words.
    if not relevant and len(asked) < 2:
        return None
    # Of the sentences that answer, those naming what the question names ("Business")
    # first: the neighbouring row (Enterprise's) shares every other word.
    qual = qualifiers(question, sentences)
    # ... and of rules alike, the one whose threshold the question's case meets ("a
    # nine-hour flight": "6 hours or longer", not "shorter than 6 hours").
    relevant.sort(key=lambda s: (-_named(s, qual), not _applies(question, s)))
    picked = relevant[:1]
    for s in relevant[1:]:
        best = picked[0]
        if len(picked) >= max_sentences:
            break
        # A second sentence only when it is nearly as good (otherwise it dilutes the
        # answer), names as much of what was asked about, and says something else
        # (overlapping chunks repeat sentences; a sentence joined with the next holds it).
        # Nor the rule for other cases beside the one that applies ("shorter than 6
        # hours" beside "6 hours or longer" for a nine-hour flight).
        if (
            s.score >= 0.75 * best.score
            and _named(s, qual) >= _named(best, qual)
            and all(s.text not in p.text and p.text not in s.text for p in picked)
            and not (_applies(question, best) and contradicts(question, s.text, s.header))
        ):
            picked.append(s)
    picked = _with_compared_row(question, picked, ranked)
    # A question that asks two things gets a sentence for each where one answers it,
    # judged against that part alone (against the whole, the other part's words dilute it).
    if len(asked) > 1:
        by_part, answered = _part_picks(
            question,
            asked,
            sentences,
            qual,
            given,
            picked[:1],
            query_vector,
            embed,
            semantic_weight,
            embed_from,
            (min_lexical, min_similarity, min_semantic),
            _Hop(numbered, search) if search is not None else None,
        )
        if answered == len(asked):
            picked = by_part
        else:
            # A part nothing answers: the whole question's best sentences stay too.
            picked = by_part + [p for p in picked if all(p.text != b.text for b in by_part)]
    if not picked:
        return None
    picked += _calendar_neighbours(question, picked, sentences)
    picked.sort(key=lambda s: (s.number, s.pos))
    cited = sorted({s.number for s in picked})
    # Pool chunks not in the context are cited after it, numbered on from its last one.
    renumber = {n: n for n in cited if n <= len(chunks)}
    for k, n in enumerate([n for n in cited if n > len(chunks)], start=len(chunks) + 1):
        renumber[n] = k
    markers = [renumber[s.number] for s in picked]
    text = " ".join(
        f"{quote(question, s).rstrip()} [{m}]" for s, m in zip(picked, markers, strict=True)
    )
    # The context grows by the pool chunks quoted, each with only its quoted sentences
    # added: citations resolve against it, and the output guard checks against it.
    context = list(chunks)
    for n in cited:
        quoted = "\n".join(_quoted(s, "\n") for s in picked if s.number == n and s.pos >= _POOL)
        if not quoted:
            continue
        if n <= len(chunks):
            context[n - 1] = dataclasses.replace(
                chunks[n - 1], text=f"{chunks[n - 1].text}\n{quoted}"
            )
        else:
            context.append(dataclasses.replace(numbered[n - 1], text=quoted))
    return Extract(text, sorted(renumber.values()), picked, context, markers)


def _superlative(
    part: str,
    question: str,
    sentences: list[SourceSentence],
    numbered: list[RetrievedChunk],
    search: Search | None,
) -> tuple[SourceSentence | None, list[SourceSentence]]:
    """The row a superlative part asks for, and the sentences searched for to find it:
    where no retrieved table has prices to compare ("the cheapest plan" retrieves the
    plans' descriptions), the search asks for the prices too."""
    top = best_row(part, question, sentences)
    if top is not None or search is None or not asks_superlative(part, question):
        return top, []
    more = _Hop(numbered, search).more(f"{part} {PRICE_QUERY}")
    return best_row(part, question, sentences + more), more


def _applies(question: str, s: SourceSentence) -> bool:
    return applies(question, s.text, s.header)


# A question comparing two things: "more storage on Business than on Team", "Team vs
# Business", "compared with the Starter plan".
_COMPARES = re.compile(
    r"\b(?:compared? (?:to|with)|than|vs\.?|versus|differences? between|differ)\b", re.I
)


def _with_compared_row(
    question: str, picked: list[SourceSentence], ranked: list[SourceSentence]
) -> list[SourceSentence]:
    """Asked to compare two records of a table, the picked row and the row of the other
    one the question names (by its first cell, the row's name), from the same table: one
    row answers half of the comparison. `picked` unchanged where that is not the case."""
    if not picked or picked[0].header is None or not _COMPARES.search(question):
        return picked
    first = picked[0]
    others = name_words(question) - _terms(_cells(first.text)[0])
    if not others:
        return picked
    for s in ranked:
        if s.header != first.header or s.text == first.text:
            continue
        if _terms(_cells(s.text)[0]) & others:
            return [first, s]
    return picked


# A part of a question that refers back to what the previous part's answer names: "and what
# uptime does that plan guarantee?", "what is its response time?", "the limit there?".
_REFERS_BACK = re.compile(
    r"\b(?:that|this|those|these|its|it|they|them|their|there|the same|such)\b", re.I
)


def _part_picks(
    question: str,
    asked: list[str],
    sentences: list[SourceSentence],
    qual: set[str],
    given: str,
    anchor: list[SourceSentence],
    query_vector: np.ndarray | None,
    embed: Embed | None,
    semantic_weight: float,
    embed_from: float,
    limits: tuple[float, float, float],
    hops: _Hop | None = None,
) -> tuple[list[SourceSentence], int]:
    """A sentence for each part, in the question's order, and how many parts they answer.
    A part referring back to the one before ("which plan ..., and what uptime does that
    plan guarantee?") is about what that part's answer names, not what the question
    names: "Business", from the sentence answering the first part (or from `given`), picks
    the Business row among the plans' uptime rows, which may be in another document (the
    second retrieval hop). Where none of `sentences` answers such a part, `hops` searches
    for it with those names, and the sentences of the chunks it finds are candidates too."""
    picked: list[SourceSentence] = []
    compared: set[str] = set()  # rows a superlative picked: their price answers "how much"
    answered = 0
    asked_names = name_words(question)
    hop = name_words(given) - asked_names
    for k, part in enumerate(asked):
        refers = bool(_REFERS_BACK.search(part))
        want = qual | hop if refers else qual
        top, more = _superlative(
            part, question, sentences, *((hops.numbered, hops.search) if hops else ([], None))
        )
        sentences = sentences + more
        if top is not None and all(top.text != p.text for p in picked):
            picked.append(top)
            compared.add(top.text)
            answered += 1
            hop |= name_words(_quoted(top)) - asked_names
            continue
        vector = embed([part])[0] if embed is not None and query_vector is not None else None
        again = [dataclasses.replace(s) for s in sentences]
        ranked = rank_sentences(part, again, vector, embed, semantic_weight, embed_from)
        # An earlier part's sentence answers this part too only where it would on its own,
        # scored against this part: one shared word ("year" in "25 days of paid annual
        # leave per calendar year") covers "and how many of those can I take into next
        # year?" without answering it.
        on_its_own = {(s.number, s.pos, s.text): s for s in ranked}
        done = next(
            (
                p
                for p in picked
                if covers(part, question, p)
                and (
                    p.text in compared
                    or (
                        (mine := on_its_own.get((p.number, p.pos, p.text))) is not None
                        and answers(part, mine, *limits)
                    )
                )
            ),
            None,
        )
        if done is not None and (not refers or not hop or _named(done, hop)):
            answered += 1
            continue
        follow = _continues(part, picked or anchor, sentences, embed) if k else None
        if follow is not None and all(follow.text != p.text for p in picked):
            picked.append(follow)
            answered += 1
            hop |= name_words(_quoted(follow)) - asked_names
            continue
        # The question's names count for each part ("and how many seats does it include"
        # is about the plan the first part named); what an earlier part's answer named
        # comes first for a part that refers back to it.
        # The parts of one question are mostly about one passage: of the sentences that
        # answer a later part, those next to an earlier part's sentence come first ("... and
        # is there a deadline to use them?" is the sentence after the carry-over rule, not
        # another document's deadline field).
        ranked.sort(
            key=lambda s: (
                not _beside(s, picked),
                -_named(s, hop) if refers else 0,
                -_named(s, want),
                not _applies(question, s),
            )
        )
        found = _first_answering(part, question, ranked, picked, limits)
        said = _hop_names(picked, question) if refers and k else []
        # The part as about what it refers to: "what support channel comes with Team?" is
        # answered by Team's row, "... when I go to Toronto?" by the row naming Toronto.
        named = _REFERS_BACK.sub(said[0].title(), part, count=1) if said else part
        if said and (found is None or (hop and not _named(found, hop))):
            found = _first_answering(named, question, ranked, picked, limits) or found
        # Searched again also where what answers does not name what the part refers to
        # ("Hotel and meal limits depend on the city" for "... when I go there?").
        unnamed = found is None or bool(hop and not _named(found, hop))
        if unnamed and said and hops is not None:
            kinds_of = " ".join(asked_for(" ".join(asked[:k])))
            more = hops.more(f"{part} {' '.join(said)} {kinds_of}")
            if more:
                sentences = sentences + more
                fresh = [dataclasses.replace(s) for s in more]
                ranked = rank_sentences(named, fresh, vector, embed, semantic_weight, embed_from)
                ranked.sort(key=lambda s: (-_named(s, hop), -_named(s, want)))
                second = _first_answering(named, question, ranked, picked, limits)
                if second is not None and (found is None or _named(second, hop)):
                    found = second
        if found is None:
            continue
        picked.append(found)
        answered += 1
        hop |= name_words(_quoted(found)) - asked_names
    return picked, answered


Search = Callable[[str], list[RetrievedChunk]]


@dataclass
class _Hop:
    """The numbered chunks of an extract, and a search that adds to them."""

    numbered: list[RetrievedChunk]
    search: Search

    def more(self, query: str) -> list[SourceSentence]:
        """The sentences of the chunks `query` finds that are not numbered yet, numbered on
        (placed as a pool's: their quote joins the context)."""
        known = {c.chunk_id for c in self.numbered}
        out: list[SourceSentence] = []
        for c in self.search(query):
            if c.chunk_id in known:
                continue
            known.add(c.chunk_id)
            self.numbered.append(c)
            for s in _sentences(len(self.numbered), c):
                s.pos += _POOL
                out.append(s)
        return out


def _first_answering(
    part: str,
    question: str,
    ranked: list[SourceSentence],
    picked: list[SourceSentence],
    limits: tuple[float, float, float],
) -> SourceSentence | None:
    return next(
        (
            s
            for s in ranked
            if answers(part, s, *limits)
            and covers(part, question, s)
            and all(s.text != p.text for p in picked)
        ),
        None,
    )


# "Which plan ...", "what region ...": the noun after the question word, not "which is".
_WHICH = re.compile(r"\b(?:which|what)\s+([a-z][a-z-]+)\b", re.I)
_NOT_A_KIND = frozenset(
    "is are was were does do did can could will would should has have had the a an "
    "kind sort type happens".split()
)


def asked_for(question: str) -> list[str]:
    """The kinds of thing a question asks for by "which ..." ("which plan": plan), as said:
    searched with the name an earlier part's answer gave ("team plan")."""
    out = []
    for m in _WHICH.finditer(question):
        word = m.group(1).lower()
        if word not in _NOT_A_KIND and word not in out:
            out.append(word)
    return out


def _hop_names(picked: list[SourceSentence], question: str) -> list[str]:
    """What the earlier parts' sentences name that the question does not: a table row's
    own name (its first cell), or the names in a sentence."""
    asked = {n.lower() for n in names(question)}
    out: list[str] = []
    for s in picked:
        found = [_cells(s.text)[0]] if s.header is not None else sorted(names(_quoted(s)))
        out += [n for n in found if n.lower() not in asked and n not in out]
    return out


# How close in meaning the sentence after an answered part's sentence must be to a later
# part that shares none of its words ("does what I don't spend roll over?" and "Unused
# budget does not carry over."): measured with MiniLM on such pairs, the unrelated next
# sentences stayed at or below 0.40.
CONTINUES_SIMILARITY = 0.45


def _continues(
    part: str,
    before: list[SourceSentence],
    sentences: list[SourceSentence],
    embed: Embed | None = None,
) -> SourceSentence | None:
    """The sentence right after one answering an earlier part, where it answers this one:
    a later part short of words ("and is there a deadline to use them?", "and how soon do
    I have to take it?") is mostly about what the source says next ("Carried-over days
    must be used before 31 March"). It must give the part's kind of answer and share one of
    its topic words, or, for a part referring back, give a figure, a date or a name, or,
    with `embed`, say nearly what the part asks in other words."""
    kind = kind_of(part)
    refers = bool(_REFERS_BACK.search(part))
    topic = topic_words(part)
    close: list[tuple[SourceSentence, str]] = []
    for p in before:
        found = _after(p, 1, part, kind, sentences)
        if found is None:
            continue
        if topic & question_words(found[1]) or (refers and kind is not Kind.ANY):
            return found[0]
        close.append(found)
    if embed is None:
        return None
    # In other words, the answer may come a sentence later ("No credit card is needed to
    # start the trial. When the trial ends, the workspace switches to read-only").
    close += [f for p in before if (f := _after(p, 2, part, kind, sentences)) is not None]
    if not close:
        return None
    vectors = embed([part] + [text for _, text in close])
    best = max(range(len(close)), key=lambda i: float(vectors[0] @ vectors[i + 1]))
    if float(vectors[0] @ vectors[best + 1]) >= CONTINUES_SIMILARITY:
        return close[best][0]
    return None


def _after(
    p: SourceSentence, step: int, part: str, kind: Kind, sentences: list[SourceSentence]
) -> tuple[SourceSentence, str] | None:
    """The sentence `step` after `p` in its chunk, with its quoted text, where it is a
    statement (not a question or a title) giving `part`'s kind of answer. A table row has
    no such sentence: the next row is another record, not more about this one."""
    if p.header is not None:
        return None
    s = next((s for s in sentences if s.number == p.number and s.pos == p.pos + step), None)
    if s is None or s.header is not None or _ASKED.search(s.text):
        return None
    text = _quoted(s)
    return None if is_title(text) or not fits(part, text, kind) else (s, text)


def _beside(s: SourceSentence, picked: list[SourceSentence], reach: int = 2) -> bool:
    """Whether `s` is within `reach` sentences of a picked one, in the same chunk."""
    return any(s.number == p.number and 0 < abs(s.pos - p.pos) <= reach for p in picked)


# Asking when ("When is ...", "... and by when must ..."), not "told when an incident ...".
_WHEN = re.compile(
    r"(?:^|[,;?]\s*|\band\s+)(?:by |until |till )?when\b|\b(?:which|what) (?:day|date|month)\b",
    re.I,
)
# A day or a month by name ("May" only beside a day's number: it is a verb too).
_CALENDAR = re.compile(
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b|\b(?:january|february|march|april|"
    r"june|july|august|september|october|november|december)\b|\b\d{1,2} may\b|\bmay \d",
    re.I,
)


def _calendar_neighbours(
    question: str, picked: list[SourceSentence], sentences: list[SourceSentence]
) -> list[SourceSentence]:
    """Asked when, the sentence next to a quoted one that names the day or month, where no
    quoted sentence does: "Carried-over days must be used before 31 March" follows the
    sentence about carrying days over, "day: Sunday" the window's hours."""
    if not _WHEN.search(question) or any(_CALENDAR.search(_quoted(s)) for s in picked):
        return []
    out: list[SourceSentence] = []
    for p in picked:
        for s in sentences:
            if (
                s.number == p.number
                and abs(s.pos - p.pos) == 1
                and _CALENDAR.search(_quoted(s))
                and all(s.text != q.text for q in picked + out)
            ):
                out.append(s)
                break
        if out:
            break
    return out


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


# "without an annual commitment", "not including VAT": the words after it name what the
# question does not want, so a column named by them is the wrong one.
_EXCLUDING = re.compile(
    r"\b(?:without|excluding|except|not|no|rather than|instead of)\s+"
    r"((?:(?:an?|the|any)\s+)?[\w-]+(?:\s+[\w-]+)?)",
    re.I,
)


def _excluded_words(question: str) -> set[str]:
    words: set[str] = set()
    for m in _EXCLUDING.finditer(question):
        words |= question_words(m.group(1))
    return words


def row_cells(question: str, s: SourceSentence) -> str | None:
    """A table row quoted as the cells the question asks for, each with its column's name,
    after the row's own name: "plan: Starter, included_seats: 3" for "how many seats are
    included with the Starter plan?". Quoted whole, the row's other figures ("max_seats:
    10") answer a question nobody asked. None where the row is not a table row, or no
    column's name shares the question's words (the whole row is quoted then)."""
    if s.header is None:
        return None
    names_, values = _cells(s.header), _cells(s.text)
    if len(names_) != len(values) or len(values) < 3:
        return None
    chosen: set[int] = set()
    # Each part of the question its own columns ("how many seats ..., and what does each
    # extra seat cost?": included_seats, then extra_seat_usd).
    for part in parts(question):
        excluded = _excluded_words(part)
        q = question_words(part) - excluded
        overlap = [
            len(q & question_words(n)) - len(excluded & question_words(n)) for n in names_[1:]
        ]
        best = max(overlap, default=0)
        if best:
            chosen |= {i + 1 for i, n in enumerate(overlap) if n == best}
    chosen |= compared_columns(question, names_)
    if not chosen:
        return None
    return ", ".join(f"{names_[i]}: {values[i]}" for i in [0, *sorted(chosen)])


# An FAQ answer's "A:" label: the source's layout, not part of what it says.
_ANSWER_LABEL = re.compile(r"^\s*A\s*:\s*")


def quote(question: str, s: SourceSentence) -> str:
    """What an extract says for a sentence: a table row's asked-for cells, or the sentence."""
    return row_cells(question, s) or _ANSWER_LABEL.sub("", _quoted(s))


def _quoted(s: SourceSentence, sep: str = " ") -> str:
    return s.text if s.header is None else f"{s.header}{sep}{s.text}"
