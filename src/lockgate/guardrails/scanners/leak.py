"""System-prompt leak: the answer contains the canary, or long verbatim runs of the prompt.

Two independent checks, both linear in the text:
- the canary (a random token the gateway plants in the system prompt), also when the model
  spells it with spaces, dashes, line breaks or different case, gives its random body alone,
  reverses it, base64- or hex-encodes it, or splits it into pieces; in a stream, also across
  the pieces released before (`ScanContext.canary_trail`);
- verbatim reuse of the system prompt: any run of `min_words` consecutive words (default 8)
  shared with the prompt (case and punctuation ignored), and, for prompts that are mostly
  symbols or code, any common substring of at least `min_chars` characters (whitespace
  collapsed). Overlapping matches are merged so one leaked paragraph is one finding."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams, params_of
from lockgate.guardrails.canary import find, original_span, squeeze, squeezed_with_offsets

_WORD = re.compile(r"[^\W_]+")
# The shape of a planted canary (`lg-` and 12 hex digits). One in an answer that is not this
# request's canary came from a system prompt all the same (another version, another app's),
# or is a guess at one: suspicious either way.
_CANARY_SHAPE = re.compile(r"(?<![0-9A-Za-z])lg-[0-9a-f]{12}(?![0-9A-Za-z])", re.IGNORECASE)


class LeakParams(ScannerParams):
    min_words: int = Field(
        8, description="shortest run of prompt words reported as verbatim (at least 3)"
    )
    min_chars: int = Field(
        80, description="shortest common substring reported, for symbol/code prompts; 0: off"
    )
    max_chars: int = Field(100_000, description="answer characters read")
    max_prompt_chars: int = Field(100_000, description="system prompt characters indexed")


class LeakScanner:
    name: ClassVar[str] = "leak"
    Params: ClassVar[type[LeakParams]] = LeakParams
    # Set lookups over a capped answer: see GuardEngine's _inline.
    inline: ClassVar[bool] = True

    def __init__(self, params: LeakParams | Mapping[str, Any] | None = None) -> None:
        p = params_of(LeakParams, params)
        self.min_words = max(3, p.min_words)
        self.min_chars = p.min_chars
        self.max_chars = p.max_chars
        self.max_prompt_chars = p.max_prompt_chars
        # The same system prompt comes with every request of an app: index it once.
        self._cache: OrderedDict[str, tuple[set[str], set[int], set[str]]] = OrderedDict()

    @classmethod
    def build(cls, params: LeakParams, deps: ScannerDeps) -> LeakScanner:
        return cls(params)

    def _index(self, prompt: str) -> tuple[set[str], set[int], set[str]]:
        hit = self._cache.get(prompt)
        if hit is not None:
            self._cache.move_to_end(prompt)
            return hit
        words = [w.lower() for w in _WORD.findall(prompt[: self.max_prompt_chars])]
        n = self.min_words
        shingles = {hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)}
        grams: set[str] = set()
        if self.min_chars:
            flat = _collapse(prompt[: self.max_prompt_chars])
            k = self.min_chars // 2
            grams = {flat[i : i + k] for i in range(len(flat) - k + 1)}
        self._cache[prompt] = (set(words), shingles, grams)
        if len(self._cache) > 32:
            self._cache.popitem(last=False)
        return set(words), shingles, grams

    def _canary(self, text: str, canary: str, trail: str = "") -> list[Finding]:
        low = text.lower()
        start = low.find(canary.lower())
        if start != -1:
            return [Finding("LEAK", start, start + len(canary), 1.0, self.name, None, "canary")]
        # Spelled out with separators ("c-a-n-a-r-y", "CAN ARY", one character per line),
        # encoded, reversed or split up: see `lockgate.guardrails.canary`. (A regex built
        # from each request's random canary cost a fresh compile per scan: 2-5 ms.)
        squeezed = squeeze(text)
        hit = find(squeezed, canary)
        if hit is not None:
            _, runs = squeezed_with_offsets(text)
            begin, end = original_span(runs, hit.start, hit.end)
            detail = "canary (obfuscated)" if hit.form == "canary" else f"canary ({hit.form})"
            return [Finding("LEAK", begin, end, 1.0, self.name, None, detail)]
        if trail:
            # A stream: the pieces released before this one, squeezed, come first.
            hit = find(trail + squeezed, canary)
            if hit is not None and hit.end > len(trail):
                detail = f"canary ({hit.form}, across streamed pieces)"
                return [Finding("LEAK", 0, len(text), 1.0, self.name, None, detail)]
        return []

    def _verbatim(self, text: str, prompt: str) -> list[Finding]:
        vocab, shingles, grams = self._index(prompt)
        spans: list[tuple[int, int]] = []
        words = list(_WORD.finditer(text))
        n = self.min_words
        lowered = [m.group(0).lower() for m in words]
        run = 0  # consecutive words that occur in the prompt at all: only those can match
        for j, w in enumerate(lowered):
            run = run + 1 if w in vocab else 0
            if run >= n and hash(tuple(lowered[j - n + 1 : j + 1])) in shingles:
                spans.append((words[j - n + 1].start(), words[j].end()))
        if grams:
            flat = _collapse(text)
            offsets: list[int] = []  # built only once something matched
            k = self.min_chars // 2
            # A common substring of length >= min_chars contains an aligned window of k
            # characters starting at a multiple of k, so checking those is enough to find it;
            # the run is then extended both ways to measure it.
            i = 0
            while i + k <= len(flat):
                if flat[i : i + k] in grams:
                    lo, hi = i, i + k
                    while lo > 0 and flat[lo - 1 : lo - 1 + k] in grams:
                        lo -= 1
                    while hi < len(flat) and flat[hi - k + 1 : hi + 1] in grams:
                        hi += 1
                    if hi - lo >= self.min_chars:
                        if not offsets:
                            flat, offsets = _collapse_with_offsets(text)
                        s, e = offsets[lo], offsets[hi - 1] + 1
                        while s < e and text[s].isspace():
                            s += 1
                        spans.append((s, e))
                    i = hi
                    continue
                i += k
        if not spans:
            return []
        spans.sort()
        merged = [list(spans[0])]
        for s, e in spans[1:]:
            if s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        out = []
        for s, e in merged:
            n_words = len(_WORD.findall(text[s:e]))
            # Longer verbatim runs are surer leaks; one shingle is already a strong signal.
            score = min(1.0, 0.8 + 0.2 * n_words / (4 * n))
            out.append(
                Finding(
                    "LEAK",
                    s,
                    e,
                    score,
                    self.name,
                    None,
                    f"{n_words} words verbatim from the system prompt",
                )
            )
        return out

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        sample = text[: self.max_chars]
        findings: list[Finding] = []
        if ctx.canary:
            findings.extend(self._canary(sample, ctx.canary, ctx.canary_trail))
        findings.extend(_canary_shaped(sample, ctx.canary))
        if ctx.system_prompt.strip():
            findings.extend(self._verbatim(sample, ctx.system_prompt))
        return findings


def _canary_shaped(text: str, canary: str | None) -> list[Finding]:
    if "lg-" not in text.lower():
        return []
    own = (canary or "").lower()
    return [
        Finding("LEAK", m.start(), m.end(), 0.6, "leak", None, "canary-shaped token")
        for m in _CANARY_SHAPE.finditer(text)
        if m.group(0).lower() != own
    ]


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def _collapse_with_offsets(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with whitespace runs collapsed to one space, and each kept
    character's index in `text` (built per word, not per character, for speed)."""
    parts: list[str] = []
    offsets: list[int] = []
    for m in re.finditer(r"\S+", text.lower()):
        if parts:
            parts.append(" ")
            offsets.append(m.start() - 1)
        parts.append(m.group(0))
        offsets.extend(range(m.start(), m.end()))
    return "".join(parts), offsets
