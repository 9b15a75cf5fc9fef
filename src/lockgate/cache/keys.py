"""Request normalisation, cache scoping, and the lexical check behind semantic matches.

An entry is only ever reused inside its *scope*: tenant and roles (what the caller may see),
the model the caller addressed (and any routing override), the prompt template and version,
the guardrail policy and the request parameters that change the answer. Two requests with the
same scope and the same normalised text are an exact hit; the semantic cache compares
question embeddings only among entries of one scope."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_WS = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?.!]+$")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

# Question framing and function words: they change how a question is asked, not what it asks.
STOPWORDS = frozenset(
    """
    a an the and or of for to in on at by with from into as about per via
    i me my mine we our us you your yours it its this that these those there here
    is are was were be been being am do does did doing done have has had can could
    will would shall should may might must
    what whats what's how which when where who whom whose why
    please tell explain describe know want need like
    possible way ways steps step process able much
    s t
    """.split()
)
NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "without",
        "none",
        "cannot",
        "can't",
        "don't",
        "doesn't",
        "isn't",
        "aren't",
        "won't",
        "didn't",
        "nor",
    }
)


def normalise_text(text: str) -> str:
    """Case, Unicode form, whitespace and trailing punctuation do not change a question."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _WS.sub(" ", text).strip()
    return _TRAILING.sub("", text)


def _stem(word: str) -> str:
    # A deliberately crude stemmer: it only has to make "retained"/"retain" and
    # "uploads"/"upload" compare equal, never to produce real words.
    for suffix in ("ing", "ly", "ed", "es", "s"):
        if len(word) > len(suffix) + 1 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # submitted -> submitt -> submit
    return word[:-1] if len(word) > 2 and word.endswith("e") else word


@dataclass(frozen=True)
class Terms:
    content: frozenset[str]
    numbers: frozenset[str]
    negated: bool


def terms(text: str) -> Terms:
    words = _WORD.findall(normalise_text(text))
    negated = any(w in NEGATIONS or w.endswith("n't") for w in words)
    content = frozenset(
        _stem(w) for w in words if w not in STOPWORDS and w not in NEGATIONS and not w.isdigit()
    )
    return Terms(content, frozenset(_NUMBER.findall(" ".join(words))), negated)


def lexically_compatible(a: Terms, b: Terms) -> tuple[bool, str]:
    """Embeddings rate "refund policy for enterprise" and "... for consumers" as near-identical;
    what tells them apart is a content word swapped for another one. Reject a semantic match
    when each side has a content word the other lacks (a substitution), when the numbers
    differ, or when only one side is negated. Pure additions/removals on one side pass."""
    if a.numbers != b.numbers:
        return False, "numbers differ"
    if a.negated != b.negated:
        return False, "negation differs"
    only_a, only_b = a.content - b.content, b.content - a.content
    if only_a and only_b:
        return False, f"substituted terms: {sorted(only_a)} vs {sorted(only_b)}"
    return True, ""


def digest(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def scope_key(
    *,
    tenant: str,
    roles: Iterable[str],
    model: str,
    route_override: str | None,
    prompt: str | None,
    prompt_version: int | None,
    policy: str,
    params: dict[str, Any],
    groups: Iterable[str] = (),
    prompt_hash: str | None = None,
) -> str:
    # Groups decide which documents retrieval may use, so callers of one tenant with
    # different groups never share an answer.
    return digest(
        "scope-v3",
        tenant,
        sorted(set(roles)),
        sorted(set(groups)),
        model,
        route_override,
        prompt,
        prompt_version,
        prompt_hash,
        policy,
        params,
    )


def normalise_message(text: str) -> str:
    """Pass-through prompts may be code or case-sensitive data, so only what cannot change
    their meaning is normalised: Unicode form, line endings and trailing spaces."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    return "\n".join(line.rstrip() for line in text.strip().split("\n"))
