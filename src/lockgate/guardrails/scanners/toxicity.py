"""Toxicity and profanity, input and output.

Three detectors over one normalised view of the text (look-alike letters, accents, zero-width
characters and leetspeak undone, spaced-out letters joined; offsets kept so spans point at
the caller's text):

- word list (better-profanity's, curated in `guardrails.toxicity`): whole tokens only, so
  "Scunthorpe", "assessment" and "cockpit" never match; obfuscations are tried as variants
  of each token ("f.u.c.k", "sh1t", "f*ck", "fuuuck", "s h i t");
- phrase rules for insults and threats aimed at someone ("you are an idiot", "I will hurt
  you"), which a bag-of-words model scores weakly;
- alt-profanity-check's linear model (TF-IDF + calibrated SVM, loaded from its pinned wheel)
  over the whole text and each sentence: one finding over the whole text.

Everything is linear in the text and the text is capped (`max_chars`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams, params_of
from lockgate.guardrails.normalize import normalize
from lockgate.guardrails.toxicity import (
    MILD_SCORE,
    MODEL_MASK,
    PREFERRED,
    RULE_SCORE,
    RULES,
    WORD_SCORE,
    lexicon,
)
from lockgate.guardrails.toxicity.tfidf import WordTfidf

_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = "\"'`()[]{}<>,.;:?!~-_/\\"
_SEPARATORS = re.compile(r"[._\-~'`/\\,:;^]+")
_LEET_REST = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
    }
)
# "1" reads as "l" as often as "i" ("ki11", "a1"): try both.
_LEET_L = str.maketrans({"1": "l", "!": "l", "|": "l"})
_SUFFIXES = ("s", "es", "ed", "er", "ers", "ing", "in", "y")
# A joined run of spaced letters may carry a tail word: "f u c k y o u".
_RUN_TAILS = ("", "you", "u", "off", "ing", "er", "ers", "s", "ed", "me", "it", "this")
_FILLERS = frozenset("you yourself u off me it this that up face head hole".split())
_NAME = re.compile(r"[A-Z][a-z]+")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")
MAX_SENTENCES = 256


@dataclass
class _Hit:
    start: int
    end: int
    score: float
    detail: str


class ToxicityParams(ScannerParams):
    max_chars: int = Field(100_000, description="characters scanned")
    model: bool = Field(True, description="run the linear model besides the word list")
    # Model probabilities under this are not reported at all (noise in the trace).
    model_min: float = Field(0.3, description="lowest model probability reported")
    allow_words: list[str] = Field(default_factory=list, description="listed words not to report")
    extra_words: list[str] = Field(default_factory=list, description="more words to report")


class ToxicityScanner:
    name: ClassVar[str] = "toxicity"
    Params: ClassVar[type[ToxicityParams]] = ToxicityParams
    # A word list, phrase rules and a linear model over a capped text: see GuardEngine's
    # _inline.
    inline: ClassVar[bool] = True

    def __init__(self, params: ToxicityParams | Mapping[str, Any] | None = None) -> None:
        p = params_of(ToxicityParams, params)
        # Loaded here, once per scanner: the pickles come from the pinned wheel only.
        from profanity_check import profanity_check as pc

        self._vectorizer = pc.vectorizer
        self._model = pc.model
        self._linear = _fast_path(pc.vectorizer, pc.model)
        self._tfidf = WordTfidf.of(pc.vectorizer)
        self._cache: dict[str, tuple[str, float] | None] = {}
        self.max_chars = p.max_chars
        self.use_model = p.model
        self.model_min = p.model_min
        words = dict(lexicon())
        for w in p.allow_words:
            words.pop(w.lower(), None)
        for w in p.extra_words:
            words[w.lower()] = WORD_SCORE
        self.words = {w: s for w, s in words.items() if " " not in w}
        self.by_length: dict[int, list[str]] = {}
        rank = {w: i for i, w in enumerate(PREFERRED)}
        for w in sorted(self.words, key=lambda w: (rank.get(w, len(rank)), w)):
            self.by_length.setdefault(len(w), []).append(w)
        self._mask = re.compile(
            r"\b(?:" + "|".join(sorted(map(re.escape, MODEL_MASK), key=len, reverse=True)) + r")\b"
        )
        phrases = sorted((w for w in words if " " in w), key=len, reverse=True)
        self.phrase_scores = {p: words[p] for p in phrases}
        self.phrases = (
            re.compile(
                r"\b(?:"
                + "|".join(r"[\s\-_.]+".join(map(re.escape, p.split())) for p in phrases)
                + r")\b"
            )
            if phrases
            else None
        )

    @classmethod
    def build(cls, params: ToxicityParams, deps: ScannerDeps) -> ToxicityScanner:
        return cls(params)

    # -- word list -------------------------------------------------------------------------

    def _lookup(self, core: str) -> tuple[str, float] | None:
        # Words repeat a lot across and within texts; the answer depends on the word only.
        if core in self._cache:
            return self._cache[core]
        if len(self._cache) > 50_000:
            self._cache.clear()
        found = self._lookup_uncached(core)
        self._cache[core] = found
        return found

    def _lookup_uncached(self, core: str) -> tuple[str, float] | None:
        variants = {core, core.translate(_LEET_REST), core.translate(_LEET_L).translate(_LEET_REST)}
        for v in list(variants):
            joined = _SEPARATORS.sub("", v)
            variants.add(joined)
            variants.add(re.sub(r"(.)\1{2,}", r"\1\1", joined))
            variants.add(re.sub(r"(.)\1{2,}", r"\1", joined))
        for v in variants:
            score = self.words.get(v)
            if score is not None:
                return v, score
        for v in variants:
            for suffix in _SUFFIXES:
                stem = v[: -len(suffix)]
                # Short stems only take a plural "s" ("spic|ed" is "spiced"), and "assess" is
                # not "asses" + "s".
                if (
                    v.endswith(suffix)
                    and (len(stem) >= 5 or (len(stem) == 4 and suffix == "s"))
                    and not (suffix == "s" and stem.endswith("s"))
                    and self.words.get(stem) == WORD_SCORE
                ):
                    return stem, WORD_SCORE
        if "*" in core:
            return self._wildcard(core)
        for v in variants:
            found = self._compound(v)
            if found:
                return found
        return None

    def _compound(self, token: str) -> tuple[str, float] | None:
        """Two listed words run together, as spaced-out letters become once joined:
        "s t u p i d b i t c h" -> "stupidbitch", "f u c k y o u r s e l f" -> "fuckyourself".
        Both halves must be listed (or the second a filler word), so "cockpit" and
        "Scunthorpe" stay clean."""
        if not 6 <= len(token) <= 30 or not token.isalpha():
            return None
        for i in range(3, len(token) - 1):
            head, tail = token[:i], token[i:]
            h = self.words.get(head)
            if h is None:
                continue
            t = self.words.get(tail)
            if t is not None or tail in _FILLERS:
                score = max(h, t or 0.0)
                if score >= WORD_SCORE:
                    return f"{head} {tail}", score
        return None

    def _wildcard(self, core: str) -> tuple[str, float] | None:
        """'f*ck', 'sh*t', 'f**k': asterisks standing for letters of a listed word."""
        letters = sum(c.isalpha() for c in core)
        if not 3 <= len(core) <= 12 or letters < 2 or letters < len(core) / 2:
            return None
        if not core[0].isalpha():
            return None
        pattern = re.compile(re.escape(core).replace(r"\*", "[a-z]"))
        for w in self.by_length.get(len(core), []):
            if w[0] == core[0] and pattern.fullmatch(w):
                return w, self.words[w]
        return None

    @staticmethod
    def _is_name(original: str, start: int, end: int, view: Any) -> bool:
        """'Dick Johnson', 'Mr Dick': a capitalised word next to another capitalised word,
        not at the start of a sentence, is a name rather than an insult."""
        s, e = view.original_span(start, end)
        if not _NAME.fullmatch(original[s:e].strip(_EDGE_PUNCT)):
            return False
        before = original[max(0, s - 40) : s].rstrip()
        after = original[e : e + 40].lstrip()
        prev_word = before.split()[-1] if before.split() else ""
        next_word = after.split()[0] if after.split() else ""
        sentence_start = not before or before[-1] in ".!?:\n"
        return bool(
            (_NAME.fullmatch(next_word.strip(_EDGE_PUNCT)) and not sentence_start)
            or (_NAME.fullmatch(prev_word.strip(_EDGE_PUNCT)) and not sentence_start)
        )

    def _word_hits(self, folded: str, original: str, view: Any) -> list[_Hit]:
        hits: list[_Hit] = []
        run: list[tuple[int, int, str]] = []  # consecutive single-character tokens

        def flush_run() -> None:
            if len(run) >= 3:
                joined = "".join(c for _, _, c in run).translate(_LEET_REST)
                for tail in _RUN_TAILS:
                    if joined.endswith(tail):
                        head = joined[: len(joined) - len(tail)] if tail else joined
                        score = self.words.get(head)
                        if (
                            score is not None
                            and len(head) >= 3
                            and _has_letter(original, run[0][0], run[-1][1], view)
                        ):
                            hits.append(_Hit(run[0][0], run[-1][1], score, f"word: {head}"))
                            break
            run.clear()

        for m in _TOKEN.finditer(folded):
            raw = m.group(0)
            core = raw.strip(_EDGE_PUNCT) or raw
            if len(core) > 40:
                flush_run()
                continue
            if len(core) == 1 and (core.isalnum() or core in "@$!|+"):
                run.append((m.start(), m.end(), core))
                continue
            flush_run()
            # The span is the word itself, without the punctuation stripped around it.
            start = m.start() + (len(raw) - len(raw.lstrip(_EDGE_PUNCT)) if core != raw else 0)
            end = start + len(core)
            found = self._lookup(core)
            if found and not _has_letter(original, start, end, view):
                found = None  # "ticket 455" is a number, not leetspeak for a word
            if found and not self._is_name(original, start, end, view):
                hits.append(_Hit(start, end, found[1], f"word: {found[0]}"))
        flush_run()
        if self.phrases is not None:
            for m in self.phrases.finditer(folded):
                key = " ".join(re.split(r"[\s\-_.]+", m.group(0)))
                score = self.phrase_scores.get(key, WORD_SCORE)
                hits.append(_Hit(m.start(), m.end(), score, f"phrase: {key}"))
        # Rules also run with stretched letters squeezed ("wiiiill huuuurt"), spans mapped back.
        squeezed, index = _squeeze(folded)
        for kind, pattern in RULES:
            for m in pattern.finditer(squeezed):
                start, end = index[m.start()], index[m.end() - 1] + 1
                hits.append(_Hit(start, end, RULE_SCORE, f"{kind}: {m.group(0)}"))
        return hits

    # -- model -----------------------------------------------------------------------------

    def model_score(self, folded: str) -> float:
        """Highest probability over the whole text and each sentence, mild words masked."""
        folded = self._mask.sub(" ", folded)
        sentences = [s.strip() for s in _SENTENCE.findall(folded)[:MAX_SENTENCES]]
        batch = [folded, *(s for s in sentences if len(s) > 2)]
        features = (self._tfidf or self._vectorizer).transform(batch)
        if self._linear is not None:
            probs = _linear_proba(self._linear, features)
        else:
            probs = self._model.predict_proba(features)[:, 1]
        return float(np.max(probs))

    # -- scanner ---------------------------------------------------------------------------

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        sample = text[: self.max_chars]
        if not sample.strip():
            return []
        norm = normalize(sample, self.max_chars, decode=False)
        view = norm.views[0]
        folded = norm.folded
        findings: list[Finding] = []
        for h in self._word_hits(folded, sample, view):
            start, end = view.original_span(h.start, h.end)
            findings.append(Finding("TOXICITY", start, end, h.score, self.name, None, h.detail))
        if self.use_model and folded.strip():
            prob = self.model_score(folded)
            if prob >= self.model_min:
                findings.append(Finding("TOXICITY", 0, len(text), prob, self.name, None, "model"))
        return findings


_Linear = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _linear_proba(linear: _Linear, features: Any) -> np.ndarray:
    weights_t, intercepts, a, b = linear
    decision = np.asarray(features @ weights_t) + intercepts  # (texts, folds)
    return np.mean(1.0 / (1.0 + np.exp(a * decision + b)), axis=1)


def _fast_path(vectorizer: Any, model: Any) -> _Linear | None:
    """The model is a CalibratedClassifierCV over LinearSVCs with sigmoid calibration:
    averaging five sigmoids of five dot products. sklearn's predict_proba spends most of its
    time validating inputs (~5 ms per call); doing the arithmetic directly is the same result
    in ~0.2 ms. Checked against predict_proba here; any other model shape keeps sklearn's."""
    try:
        folds = model.calibrated_classifiers_
        # Stored (vocabulary, folds) and C-contiguous: `features @ weights.T` made scipy copy
        # the whole transposed matrix on every call (0.15 ms, against 0.005 ms).
        weights = np.ascontiguousarray(np.vstack([f.estimator.coef_[0] for f in folds]).T)
        intercepts = np.array([f.estimator.intercept_[0] for f in folds])
        a = np.array([f.calibrators[0].a_ for f in folds], dtype=np.float64)
        b = np.array([f.calibrators[0].b_ for f in folds], dtype=np.float64)
        linear = (weights, intercepts, a, b)
        probe = vectorizer.transform(["you are an idiot", "have a nice day", "shit", ""])
        if np.allclose(_linear_proba(linear, probe), model.predict_proba(probe)[:, 1], atol=1e-6):
            return linear
    except (AttributeError, IndexError, ValueError):
        pass
    return None


def _squeeze(text: str) -> tuple[str, list[int]]:
    """Runs of three or more equal letters cut to one; index maps back into `text`."""
    if not re.search(r"(.)\1\1", text):
        return text, list(range(len(text)))
    out: list[str] = []
    index: list[int] = []
    pos = 0
    for m in re.finditer(r"(.)\1{2,}", text):
        out.append(text[pos : m.start()])
        index.extend(range(pos, m.start()))
        out.append(m.group(1))
        index.append(m.start())
        pos = m.end()
    out.append(text[pos:])
    index.extend(range(pos, len(text)))
    return "".join(out), index


__all__ = ["MILD_SCORE", "ToxicityParams", "ToxicityScanner"]


def _has_letter(original: str, start: int, end: int, view: Any) -> bool:
    s, e = view.original_span(start, end)
    return any(ch.isalpha() for ch in original[s:e])
