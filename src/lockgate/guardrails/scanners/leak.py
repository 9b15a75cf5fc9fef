"""System-prompt leak: the answer contains the canary, or long verbatim runs of the prompt.

Two independent checks, both linear in the text:
- the canary (a random token the gateway plants in the system prompt), also when the model
  spells it with spaces, dashes or different case;
- verbatim reuse of the system prompt: any run of `min_words` consecutive words (default 8)
  shared with the prompt (case and punctuation ignored), and, for prompts that are mostly
  symbols or code, any common substring of at least `min_chars` characters (whitespace
  collapsed). Overlapping matches are merged so one leaked paragraph is one finding."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import ScannerDeps, register

_WORD = re.compile(r"[^\W_]+")
_SQUASH = re.compile(r"[\s\-_.·•|]+")


class LeakScanner:
    name = "leak"

    def __init__(self, params: dict[str, Any]) -> None:
        self.min_words = max(3, int(params.get("min_words", 8)))
        # 0 turns the character check off.
        self.min_chars = int(params.get("min_chars", 80))
        self.max_chars = int(params.get("max_chars", 200_000))
        self.max_prompt_chars = int(params.get("max_prompt_chars", 100_000))
        # The same system prompt comes with every request of an app: index it once.
        self._cache: OrderedDict[str, tuple[set[int], set[str]]] = OrderedDict()

    def _index(self, prompt: str) -> tuple[set[int], set[str]]:
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
        self._cache[prompt] = (shingles, grams)
        if len(self._cache) > 32:
            self._cache.popitem(last=False)
        return shingles, grams

    def _canary(self, text: str, canary: str) -> list[Finding]:
        found: list[Finding] = []
        low = text.lower()
        start = low.find(canary.lower())
        if start != -1:
            found.append(Finding("LEAK", start, start + len(canary), 1.0, self.name, None,
                                 "canary"))
            return found
        # Spelled out with separators ("c-a-n-a-r-y", "CAN ARY"): compare with them removed,
        # mapping positions back through the kept characters.
        keep = [i for i, ch in enumerate(low) if not _SQUASH.fullmatch(ch)]
        squashed = "".join(low[i] for i in keep)
        target = _SQUASH.sub("", canary.lower())
        pos = squashed.find(target) if target else -1
        if pos != -1:
            found.append(Finding("LEAK", keep[pos], keep[pos + len(target) - 1] + 1, 1.0,
                                 self.name, None, "canary (obfuscated)"))
        return found

    def _verbatim(self, text: str, prompt: str) -> list[Finding]:
        shingles, grams = self._index(prompt)
        spans: list[tuple[int, int]] = []
        words = list(_WORD.finditer(text))
        n = self.min_words
        lowered = [m.group(0).lower() for m in words]
        for i in range(len(words) - n + 1):
            if hash(tuple(lowered[i : i + n])) in shingles:
                spans.append((words[i].start(), words[i + n - 1].end()))
        if grams:
            flat, offsets = _collapse_with_offsets(text)
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
                        spans.append((offsets[lo], offsets[hi - 1] + 1))
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
            out.append(Finding("LEAK", s, e, score, self.name, None,
                               f"{n_words} words verbatim from the system prompt"))
        return out

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        sample = text[: self.max_chars]
        findings: list[Finding] = []
        if ctx.canary:
            findings.extend(self._canary(sample, ctx.canary))
        if ctx.system_prompt.strip():
            findings.extend(self._verbatim(sample, ctx.system_prompt))
        return findings


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def _collapse_with_offsets(text: str) -> tuple[str, list[int]]:
    out: list[str] = []
    offsets: list[int] = []
    prev_space = False
    for i, ch in enumerate(text.lower()):
        if ch.isspace():
            if prev_space:
                continue
            ch, prev_space = " ", True
        else:
            prev_space = False
        out.append(ch)
        offsets.append(i)
    return "".join(out), offsets


@register("leak")
def build(params: dict[str, Any], deps: ScannerDeps) -> LeakScanner:
    return LeakScanner(params)
