"""Near-duplicate collapsing compares SimHashes as arrays: it must keep the first matching
home, the same-group allowance and items without a hash exactly as the pairwise rule."""

from __future__ import annotations

import random

from lockgate.ingest import neardup


def pairwise(items: list[tuple[int, int | None, int | None]], max_bits: int, extra: int = 8):
    kept: dict[int, list[int]] = {}
    homes: list[tuple[int, int, int | None]] = []
    for key, h, group in items:
        if h is not None:
            home = next(
                (
                    k
                    for k, kh, kg in homes
                    if neardup.hamming(h, kh)
                    <= max_bits + (extra if group is not None and kg == group else 0)
                ),
                None,
            )
            if home is not None:
                kept[home].append(key)
                continue
            homes.append((key, h, group))
        kept[key] = []
    return kept


def test_collapse_matches_the_pairwise_rule() -> None:
    rng = random.Random(7)
    merged = 0
    for _ in range(200):
        bases = [rng.getrandbits(64) for _ in range(4)]
        items: list[tuple[int, int | None, int | None]] = []
        for key in range(rng.randint(0, 50)):
            h = rng.choice(bases)
            for _ in range(rng.randint(0, 20)):
                h ^= 1 << rng.randint(0, 63)
            signed = h - (1 << 64) if h >= 1 << 63 else h  # as simhash() returns them
            items.append((key, None if rng.random() < 0.1 else signed, rng.choice([None, 1, 2])))
        max_bits = rng.randint(0, 16)
        got = neardup.collapse(items, max_bits)
        assert got == pairwise(items, max_bits)
        merged += sum(len(v) for v in got.values())
    assert merged > 100  # the cases do exercise collapsing, not only distinct hashes
