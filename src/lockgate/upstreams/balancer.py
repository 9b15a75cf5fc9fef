"""How one deployment is picked among the usable ones of a model name."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockgate.upstreams.deployments import Deployment


def choose(strategy: str, candidates: Sequence[Deployment], rng: random.Random) -> Deployment:
    """`candidates` is non-empty and every one has a free slot.

    weighted:         random in proportion to `weight` (traffic split across accounts/regions).
    least_in_flight:  fewest requests running relative to weight; ties broken at random so
                      equal deployments share the load.
    latency:          lowest recent latency (EWMA); a deployment never measured goes first,
                      so a new or recovered one gets a chance to show its speed."""
    if len(candidates) == 1:
        return candidates[0]
    if strategy == "weighted":
        return rng.choices(list(candidates), weights=[d.weight for d in candidates], k=1)[0]
    if strategy == "latency":
        unmeasured = [d for d in candidates if d.latency_ms is None]
        if unmeasured:
            return rng.choice(unmeasured)
        return min(candidates, key=lambda d: (d.latency_ms or 0.0, d.in_flight))
    load = [d.in_flight / d.weight for d in candidates]
    best = min(load)
    return rng.choice([d for d, x in zip(candidates, load, strict=True) if x == best])
