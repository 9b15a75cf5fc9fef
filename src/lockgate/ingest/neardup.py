"""Near-duplicate detection: MinHash over word shingles for documents, SimHash for chunks.

Documents: 128 multiply-shift hash functions over 3-word shingles; the share of equal
signature slots estimates Jaccard similarity. Candidate pairs come from LSH banding (32 bands
of 4 rows, so pairs above ~0.45 similarity almost always share a band) and are then checked
against the threshold, so grouping stays linear in the number of documents.

Chunks: a 64-bit SimHash of word unigrams and bigrams; two chunks within a few bits are the
same passage with small edits (a changed number, a reworded clause).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

NUM_PERM = 128
BANDS = 32
SHINGLE = 3
_WORD = re.compile(r"\w+", re.UNICODE)
_rng = np.random.default_rng(0x10C6A7E)  # fixed: signatures must be comparable across runs
_A = _rng.integers(0, 2**64 - 1, NUM_PERM, dtype=np.uint64, endpoint=True) | np.uint64(1)
_B = _rng.integers(0, 2**64 - 1, NUM_PERM, dtype=np.uint64, endpoint=True)


def _h64(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "big")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    toks = words(text)
    if len(toks) < size:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i : i + size]) for i in range(len(toks) - size + 1)}


def minhash(text: str) -> np.ndarray:
    """uint32[NUM_PERM] signature; all-max for a text with no words."""
    sig = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint64)
    hashes = np.fromiter((_h64(s) for s in shingles(text)), dtype=np.uint64)
    for start in range(0, hashes.size, 4096):
        x = hashes[start : start + 4096]
        # (a·x + b) mod 2^64 with odd 64-bit a, top 32 bits: multiply-shift hashing, a universal
        # family; numpy's uint64 arithmetic wraps, which is the mod for free.
        vals = (_A[:, None] * x[None, :] + _B[:, None]) >> np.uint64(32)
        sig = np.minimum(sig, vals.min(axis=1))
    return sig.astype(np.uint32)


def to_bytes(sig: np.ndarray) -> bytes:
    return sig.astype("<u4").tobytes()


def from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<u4")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def groups(signatures: dict[int, np.ndarray], threshold: float) -> list[list[int]]:
    """Connected components (size >= 2) of ids whose estimated Jaccard >= threshold."""
    rows = NUM_PERM // BANDS
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for key, sig in signatures.items():
        for band in range(BANDS):
            buckets[(band, sig[band * rows : (band + 1) * rows].tobytes())].append(key)
    parent = {k: k for k in signatures}

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    checked: set[tuple[int, int]] = set()
    for members in buckets.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pair = (min(a, b), max(a, b))
                if pair in checked:
                    continue
                checked.add(pair)
                if similarity(signatures[a], signatures[b]) >= threshold:
                    parent[find(a)] = find(b)
    comps: dict[int, list[int]] = defaultdict(list)
    for k in signatures:
        comps[find(k)].append(k)
    return [sorted(c) for c in comps.values() if len(c) > 1]


def simhash(text: str) -> int:
    """64-bit SimHash as a signed integer (it is stored in a signed 64-bit column)."""
    toks = words(text)
    feats = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
    if not feats:
        return 0
    hs = np.fromiter((_h64(f) for f in feats), dtype=np.uint64, count=len(feats))
    bits = np.arange(63, -1, -1, dtype=np.uint64)
    ones = ((hs[:, None] >> bits[None, :]) & np.uint64(1)).astype(np.int64)
    acc = 2 * ones.sum(axis=0) - len(feats)
    value = 0
    for bit in acc:
        value = (value << 1) | int(bit > 0)
    return value - (1 << 64) if value >= 1 << 63 else value


_MASK64 = 0xFFFFFFFFFFFFFFFF


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def collapse(
    items: Sequence[tuple[int, int | None, int | None]], max_bits: int, same_group_bits: int = 8
) -> dict[int, list[int]]:
    """Given (id, simhash, document group) in preference order, map each kept id to the ids
    it absorbs. Chunks of documents already known to be versions of one another (same
    group) may differ by `same_group_bits` more: SimHash of a short chunk moves several
    bits for one changed date or number."""
    kept: dict[int, list[int]] = {}
    # Each item is compared with every kept one: as arrays, since retrieval collapses
    # hundreds of candidates per search (pairwise in Python that was most of a search).
    n = len(items)
    home_ids = np.zeros(n, dtype=np.int64)
    home_hash = np.zeros(n, dtype=np.uint64)
    home_group = np.zeros(n, dtype=np.int64)
    home_grouped = np.zeros(n, dtype=bool)
    homes = 0
    for key, h, group in items:
        if h is not None:
            if homes:
                bits = np.bitwise_count(home_hash[:homes] ^ np.uint64(h & _MASK64))
                limit = np.full(homes, max_bits, dtype=np.int64)
                if group is not None:
                    same = home_grouped[:homes] & (home_group[:homes] == group)
                    limit[same] += same_group_bits
                near = np.flatnonzero(bits <= limit)
                if near.size:
                    kept[int(home_ids[near[0]])].append(key)
                    continue
            home_ids[homes], home_hash[homes] = key, np.uint64(h & _MASK64)
            if group is not None:
                home_group[homes], home_grouped[homes] = group, True
            homes += 1
        kept[key] = []
    return kept


def newest(candidates: Iterable[tuple[int, str | None, float]]) -> int:
    """The id with the latest (declared/effective date, then mtime); ties to the higher id."""
    return max(candidates, key=lambda c: (c[1] or "", c[2], c[0]))[0]


def supersession(
    signatures: dict[int, np.ndarray],
    dates: dict[int, tuple[str | None, float]],
    threshold: float,
) -> tuple[list[list[int]], dict[int, tuple[int, int | None]]]:
    """The near-duplicate groups, and for every member its (group id, superseded by): the
    group id is its lowest member id, and every member but the newest (by `dates`:
    declared/effective date, then mtime) is superseded by the newest, which maps to None."""
    found = groups(signatures, threshold)
    assign: dict[int, tuple[int, int | None]] = {}
    for members in found:
        top = newest((m, *dates[m]) for m in members)
        for m in members:
            assign[m] = (members[0], None if m == top else top)
    return found, assign
