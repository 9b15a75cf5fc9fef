"""Claims that match their source almost word for word and still say something else.

Word overlap and embeddings both score these as supported, because the claim keeps the
source's words and changes only the part that matters:

- a flipped polarity: "The name can be changed later." against "The name cannot be changed
  later.";
- a figure taken from the wrong field of structured text: "Extra seats on the Business plan
  cost 25 USD" where 25 is that row's ``included_seats`` and ``extra_seat_usd`` is 15;
- a swapped name in the one place `entities` does not look, the first word: "Starter
  customers get ..." against "Business and Enterprise customers get ...".

Each check returns what it found (for the trace) or nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockgate.guardrails.grounding import content_words, negated, numbers

# Content words that only carry polarity: left out when comparing what two sentences say.
NEGATION_WORDS = frozenset(content_words(
    "never none cannot without nothing nobody neither nor can't won't isn't aren't doesn't "
    "don't didn't wasn't weren't shouldn't mustn't no longer"
))
# A source sentence is "the same statement" as a claim when the claim covers this share of
# its (non-negation) content words.
SAME_STATEMENT = 0.75

# Clauses end at semicolons and contrasting conjunctions; commas mostly separate list items.
_CLAUSE = re.compile(r";\s+|,?\s+(?:but|although|though|unless|whereas|while)\s+", re.I)
_SEGMENT = re.compile(r";\s*|(?<=\S)\.\s+")
# "key: value" where the key is one to three words (identifiers such as
# ``plans.business.uptime_sla_percent`` or "Audit logs") at the start of a segment.
_FIELD = re.compile(r"^\s*([A-Za-z][\w.\-]*(?: [A-Za-z][\w\-]*){0,2})\s*:\s*(\S.*)$", re.S)
_KEY_SPLIT = re.compile(r"[._\-]+")
_OPENING = re.compile(r"^[\s\"'(\[*-]*([A-Z][a-z]+)\s+([A-Za-z][\w\-]*)")


@dataclass(frozen=True)
class Field:
    """One ``key: value`` of structured text, with the record's label ("plan: Business")
    folded into its words so that rows of one table stay apart."""

    words: frozenset[str]
    numbers: frozenset[str]


@dataclass(frozen=True)
class Table:
    """The fields of one chunk, and the figures it states outside any field."""

    fields: list[Field]
    loose: frozenset[str]


def fields(text: str) -> Table:
    out: list[Field] = []
    loose: set[str] = set()
    for line in text.splitlines():
        parsed = [_field(s) for s in re.split(r";\s*", line)]
        # A line of three or more ";"-separated fields is a table row; its first field
        # names the row.
        label = parsed[0][0] if len(parsed) >= 3 and parsed[0] is not None else frozenset()
        for seg in _SEGMENT.split(line):
            kv = _field(seg)
            if kv is not None and kv[1]:
                out.append(Field(kv[0] | label, kv[1]))
            else:
                loose |= numbers(seg)
    return Table(out, frozenset(loose))


def _field(segment: str) -> tuple[frozenset[str], frozenset[str]] | None:
    m = _FIELD.match(segment)
    if m is None or sum(c.isalpha() for c in m.group(1)) < 2:
        return None
    key = _KEY_SPLIT.sub(" ", m.group(1))
    value = m.group(2)
    words = {w for w in content_words(f"{key} {value}") if not w[0].isdigit()}
    return frozenset(words), frozenset(numbers(value))


def misplaced_figures(claim_words: set[str], claim_numbers: set[str],
                      tables: list[Table]) -> list[str]:
    """Figures of the claim that structured text holds only under a field that fits the
    claim worse than another field of the same chunk holding a figure the claim does not
    mention. A figure that a chunk holds in a fitting field, or also states outside its
    fields, or that no field holds at all, is left to the other checks."""
    if not claim_numbers:
        return []
    words = {w for w in claim_words if not w[0].isdigit()}

    def fit(f: Field) -> int:
        return len(f.words & words)

    wrong: set[str] = set()
    right: set[str] = set()
    for table in tables:
        best_rival = max((fit(f) for f in table.fields if not f.numbers & claim_numbers),
                         default=-1)
        for n in claim_numbers:
            holders = [fit(f) for f in table.fields if n in f.numbers]
            if holders:
                fits = max(holders) >= best_rival or n in table.loose
                (right if fits else wrong).add(n)
    return sorted(wrong - right)


def contradiction(claim: str, sentences: list[str]) -> str | None:
    """The source clause that states what a clause of the claim states, with the opposite
    polarity, when the closest such clause does. Clauses, not sentences: "Tokens expire after
    90 days, but not a longer one" must not make "Tokens expire after 90 days" a
    contradiction. Figures are left out (other checks compare them) and table rows are
    skipped ("sso: no" is a value, not a negation)."""
    mine = [(c, _words(c)) for c in _CLAUSE.split(claim)]
    best: tuple[int, str, str] | None = None
    for sentence in sentences:
        if len(fields(sentence).fields) >= 2:
            continue
        for text in _CLAUSE.split(sentence):
            theirs = _words(text)
            for clause, words in mine:
                shared = len(theirs & words)
                # Either side may carry extra detail: the claim restates the clause, or the
                # clause says all the claim says.
                small = min(len(theirs), len(words))
                if small < 2 or shared < SAME_STATEMENT * small:
                    continue
                if best is None or shared > best[0] or (
                        shared == best[0] and negated(text) == negated(clause)):
                    best = (shared, text, clause)
    if best is not None and negated(best[1]) != negated(best[2]):
        return best[1]
    return None


def _words(text: str) -> set[str]:
    return {w for w in content_words(text) - NEGATION_WORDS if not w[0].isdigit()}


def swapped_first_name(claim: str, source: str, source_tokens: set[str],
                       claim_tokens: set[str]) -> tuple[str, list[str]] | None:
    """(claim's first word, the source's names in its place) when the claim opens with a
    capitalised word the source lacks, and the source puts a name the claim lacks in front of
    the claim's second word: "Starter customers" against "Enterprise customers"."""
    m = _OPENING.match(claim)
    if m is None:
        return None
    first, second = m.group(1), m.group(2)
    if first.lower() in source_tokens or first.lower() in _COMMON_OPENERS:
        return None
    slot = re.compile(r"\b([A-Z][\w\-]*)\s+" + re.escape(second) + r"\b", re.I)
    theirs = sorted({
        name.lower() for name in (x.group(1) for x in slot.finditer(source))
        if name[0].isupper() and name.lower() not in claim_tokens
        and name.lower() not in _COMMON_OPENERS
    })
    return (first, theirs) if theirs else None


# Capitalised sentence openers that are not names (entities() already ignores "The", "If"..).
_COMMON_OPENERS = frozenset(
    """the a an in on at for and or but to from by with as it this that these those our your
    you we they he she his her their its my if when once each every all any some no not one
    only also please there here after before during while since because although unless
    until""".split()
)
