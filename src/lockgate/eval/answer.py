"""Answer metrics: an answer (the candidate) against a reference answer.

Text is compared as words. `words` lowercases and drops punctuation (every Unicode punctuation
character, plus the ASCII symbols in `string.punctuation`) before splitting on white space.
`normalise` also removes the articles "a", "an" and "the", as the SQuAD evaluation script does;
`contains` and `token_f1` compare normalised text (SQuAD), `rouge_l` and `bleu` compare words
(articles kept, as those metrics are usually reported).

Empty input: when both sides have no words the texts agree and a score is 1.0; when only one
side is empty the score is 0.0 (the SQuAD convention). `contains` with nothing expected is False.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "bleu",
    "contains",
    "corpus_bleu",
    "embedding_similarity",
    "normalise",
    "rouge_l",
    "token_f1",
    "words",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCT = frozenset(string.punctuation)

# Chen & Cherry (2014), smoothing 1: a zero n-gram match count is replaced by this epsilon.
BLEU_EPSILON = 0.1


def _strip_punctuation(text: str) -> str:
    return "".join(
        " " if ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text
    )


def words(text: str) -> list[str]:
    """Lowercased words with punctuation removed."""
    return _strip_punctuation(text.lower()).split()


def normalise(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", " ".join(words(text))).split())


def contains(answer: str, expected: str) -> bool:
    """Whether the normalised `expected` occurs in the normalised `answer` as whole words."""
    needle = normalise(expected)
    if not needle:
        return False
    return f" {needle} " in f" {normalise(answer)} "


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: harmonic mean of precision and recall of the shared normalised tokens
    (counted with multiplicity)."""
    pred, ref = normalise(prediction).split(), normalise(reference).split()
    if not pred or not ref:
        return 1.0 if pred == ref else 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str, reference: str, beta: float = 1.0) -> float:
    """ROUGE-L F-measure (Lin, 2004): with L the longest common subsequence of words,
    P = L / len(candidate), R = L / len(reference), F = (1 + b^2) P R / (R + b^2 P)."""
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return 1.0 if cand == ref else 0.0
    lcs = _lcs(cand, ref)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(cand), lcs / len(ref)
    return (1 + beta**2) * p * r / (r + beta**2 * p)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _references(references: str | Iterable[str]) -> list[list[str]]:
    refs = [references] if isinstance(references, str) else list(references)
    return [words(r) for r in refs]


def _closest_length(cand_len: int, refs: list[list[str]]) -> int:
    # The reference length closest to the candidate's; on a tie the shorter one (as in NLTK).
    return min((abs(len(r) - cand_len), len(r)) for r in refs)[1]


def _clipped(cand: list[str], refs: list[list[str]], n: int) -> tuple[int, int]:
    counts = _ngrams(cand, n)
    best: Counter[tuple[str, ...]] = Counter()
    for ref in refs:
        best |= _ngrams(ref, n)
    matched = sum(min(c, best[g]) for g, c in counts.items())
    return matched, sum(counts.values())


def _brevity_penalty(cand_len: int, ref_len: int) -> float:
    if cand_len == 0:
        return 0.0
    return 1.0 if cand_len > ref_len else math.exp(1 - ref_len / cand_len)


def bleu(candidate: str, references: str | Iterable[str], max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al., 2002) with smoothing 1 of Chen & Cherry (2014).

    p_n is the clipped n-gram precision (each candidate n-gram counted at most as often as in
    the reference that has it most often), for n = 1..max_n with uniform weights. A p_n with
    no match is smoothed to BLEU_EPSILON / (number of candidate n-grams, at least 1), so one
    missing order does not zero the score. BP = 1 when the candidate is longer than the
    closest reference length r, else exp(1 - r / c). BLEU = BP * exp(mean(log p_n)).
    Matches NLTK's sentence_bleu with SmoothingFunction().method1."""
    cand, refs = words(candidate), _references(references)
    if not refs:
        return 0.0
    if not cand or all(not r for r in refs):
        return 1.0 if not cand and any(not r for r in refs) else 0.0
    if _clipped(cand, refs, 1)[0] == 0:
        return 0.0  # no word in common: nothing to smooth (as in NLTK)
    logs = []
    for n in range(1, max_n + 1):
        matched, total = _clipped(cand, refs, n)
        total = max(total, 1)
        logs.append(math.log((matched or BLEU_EPSILON) / total))
    bp = _brevity_penalty(len(cand), _closest_length(len(cand), refs))
    return bp * math.exp(sum(logs) / max_n)


def corpus_bleu(
    candidates: Sequence[str], references: Sequence[str | Iterable[str]], max_n: int = 4
) -> float:
    """Corpus BLEU-4: the clipped n-gram counts and the lengths are summed over all pairs
    before the precisions and the brevity penalty are taken; no smoothing (any p_n of zero
    gives 0.0). `references[i]` is one reference or several for `candidates[i]`."""
    if len(candidates) != len(references):
        raise ValueError("one reference (or list of references) per candidate")
    matched = [0] * max_n
    totals = [0] * max_n
    cand_len = ref_len = 0
    for candidate, reference in zip(candidates, references, strict=True):
        cand, refs = words(candidate), _references(reference)
        if not refs:
            continue
        cand_len += len(cand)
        ref_len += _closest_length(len(cand), refs)
        for n in range(1, max_n + 1):
            m, t = _clipped(cand, refs, n)
            matched[n - 1] += m
            totals[n - 1] += t
    if cand_len == 0 or any(m == 0 for m in matched):
        return 0.0
    logs = sum(math.log(m / t) for m, t in zip(matched, totals, strict=True))
    return _brevity_penalty(cand_len, ref_len) * math.exp(logs / max_n)


def embedding_similarity(a: str, b: str, embed: Callable[[str], Iterable[float]]) -> float:
    """Cosine similarity of `embed(a)` and `embed(b)`, in [-1, 1].

    Two blank texts are identical (1.0); one blank text, or a zero vector, gives 0.0, and then
    `embed` is not called for a blank text. Vectors of different lengths raise ValueError."""
    if not a.strip() or not b.strip():
        return 1.0 if not a.strip() and not b.strip() else 0.0
    u = [float(x) for x in embed(a)]
    v = [float(x) for x in embed(b)]
    if len(u) != len(v):
        raise ValueError(f"embeddings differ in length: {len(u)} and {len(v)}")
    nu = math.sqrt(sum(x * x for x in u))
    nv = math.sqrt(sum(x * x for x in v))
    if nu == 0.0 or nv == 0.0:
        return 0.0
    cos = sum(x * y for x, y in zip(u, v, strict=True)) / (nu * nv)
    return max(-1.0, min(1.0, cos))
