"""Vocabulary look-up for the classifier's n-grams without building the n-gram strings.

Why: a 500-token prompt has ~7,000 character 3/4/5-grams. Slicing each into a Python string
and looking it up in a dict was most of the injection scanner's time (~3.5 ms of ~6 ms).
Here each character n-gram is a 64-bit polynomial hash of its code points, computed for the
whole text at once with numpy, and found in the sorted hashes of the vocabulary's terms with
one `searchsorted`. Words and word bigrams (a few hundred) still go through the dict.

The result is the same id list as looking up every string of `classifier.gram_list` (a term
of 3-5 characters is registered both as a possible character n-gram and, when it looks like
one, as a "w:"/"b:" word term, exactly as the string look-up merges them). Two different
n-grams share a hash with probability ~1e-15 per text; `GramIndex` refuses to build (and the
classifier falls back to strings) if two vocabulary terms collide."""

from __future__ import annotations

from itertools import repeat

import numpy as np

CHAR_N = (3, 4, 5)
_P = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier; arithmetic wraps mod 2**64
_SEED = {n: np.uint64(0x632BE59BD9B4E019 + n) for n in CHAR_N}


def char_hashes(padded: str, n: int) -> np.ndarray:
    """Hash of every length-``n`` window of ``padded``, in order (uint64)."""
    cps = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    m = len(cps) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.full(m, _SEED[n], dtype=np.uint64)
    for k in range(n):
        h = h * _P + cps[k : k + m]
    return h


class GramIndex:
    def __init__(self, terms: list[str]) -> None:
        self.words: dict[str, int] = {}
        keys: list[int] = []
        ids: list[int] = []
        for i, t in enumerate(terms):
            if t.startswith(("w:", "b:")):
                self.words[t] = i
            if len(t) in CHAR_N:
                keys.append(int(char_hashes(t, len(t))[0]))
                ids.append(i)
        key_arr = np.asarray(keys, dtype=np.uint64)
        order = np.argsort(key_arr, kind="stable")
        self.keys = key_arr[order]
        self.ids = np.asarray(ids, dtype=np.int64)[order]
        if len(self.keys) and bool(np.any(self.keys[1:] == self.keys[:-1])):
            raise ValueError("two vocabulary n-grams share a hash")

    def lookup(self, word_terms: list[str], padded: str) -> np.ndarray:
        """Vocabulary ids (with repeats) of the word terms and of every character n-gram of
        ``padded``; n-grams outside the vocabulary are dropped."""
        get = self.words.get
        # map() with a second iterable calls get(g, -1) without a Python frame per term.
        out = [np.fromiter(map(get, word_terms, repeat(-1, len(word_terms))), dtype=np.int64,
                           count=len(word_terms))]
        if len(self.keys):
            # Order does not matter (ids are counted), and sorted queries search faster.
            h = np.sort(np.concatenate([char_hashes(padded, n) for n in CHAR_N]))
            pos = np.searchsorted(self.keys, h)
            pos[pos == len(self.keys)] = 0
            out.append(np.where(self.keys[pos] == h, self.ids[pos], -1))
        ids = np.concatenate(out)
        return ids[ids >= 0]
