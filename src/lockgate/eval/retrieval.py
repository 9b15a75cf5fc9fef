"""Ranking metrics over retrieved source names, with binary relevance.

`retrieved` is the ranked list (best first) of the sources that retrieval returned, `expected`
the sources a correct answer needs. A retrieved name matches an expected one when one of them
is the other with leading folders removed, compared by whole path components: "refund-policy.md"
matches "policies/refund-policy.md" (either way round), "old-refund-policy.md" does not, and
neither does "archive/refund-policy.md" against "policies/refund-policy.md". Back slashes count
as slashes and a leading "./" is ignored; the comparison is case-sensitive.

Each expected source is found at most once: when several retrieved items (say, chunks of one
file) match the same expected source, only the first one counts as relevant, so recall and nDCG
never exceed 1. With no expected sources, nothing can be found and every metric is 0.0; so is
any metric with k < 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["hit_at_k", "matches", "mrr", "ndcg_at_k", "recall_at_k", "relevance"]


def _parts(name: str) -> tuple[str, ...]:
    parts = [p for p in name.strip().replace("\\", "/").split("/") if p and p != "."]
    return tuple(parts)


def matches(retrieved: str, expected: str) -> bool:
    """Whether `retrieved` names the `expected` source (path-suffix match, see the module)."""
    a, b = _parts(retrieved), _parts(expected)
    if not a or not b:
        return False
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    return longer[len(longer) - len(shorter) :] == shorter


def relevance(retrieved: Sequence[str], expected: Iterable[str]) -> list[int]:
    """1 or 0 per retrieved item: 1 where it is the first match of a not yet found source."""
    remaining = list(dict.fromkeys(expected))
    out: list[int] = []
    for name in retrieved:
        hit = next((e for e in remaining if matches(name, e)), None)
        if hit is None:
            out.append(0)
        else:
            remaining.remove(hit)
            out.append(1)
    return out


def _expected_count(expected: Iterable[str]) -> int:
    return len([e for e in dict.fromkeys(expected) if _parts(e)])


def hit_at_k(retrieved: Sequence[str], expected: Iterable[str], k: int) -> float:
    """1.0 when any expected source is among the first k retrieved, else 0.0."""
    if k < 1:
        return 0.0
    return 1.0 if any(relevance(retrieved[:k], expected)) else 0.0


def recall_at_k(retrieved: Sequence[str], expected: Iterable[str], k: int) -> float:
    """Share of the expected sources found among the first k retrieved."""
    expected = list(expected)
    total = _expected_count(expected)
    if k < 1 or total == 0:
        return 0.0
    return sum(relevance(retrieved[:k], expected)) / total


def mrr(retrieved: Sequence[str], expected: Iterable[str], k: int | None = None) -> float:
    """Reciprocal rank of the first relevant item (1-based), within the first k when given.

    This is the value for one query; the mean over queries is the caller's average."""
    if k is not None and k < 1:
        return 0.0
    ranked = retrieved if k is None else retrieved[:k]
    for rank, rel in enumerate(relevance(ranked, expected), start=1):
        if rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], expected: Iterable[str], k: int) -> float:
    """Normalised discounted cumulative gain at k with binary gains.

    DCG@k = sum over ranks i = 1..k of rel_i / log2(i + 1); the ideal DCG puts all
    min(|expected|, k) relevant items first. nDCG = DCG / ideal DCG, in [0, 1]."""
    expected = list(expected)
    total = _expected_count(expected)
    if k < 1 or total == 0:
        return 0.0
    rels = relevance(retrieved[:k], expected)
    dcg = sum(rel / math.log2(i + 1) for i, rel in enumerate(rels, start=1))
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(total, k) + 1))
    return dcg / ideal
