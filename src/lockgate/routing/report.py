"""`lockgate routing report`: share of routed requests per model, and cost against always
sending them to the large model.

"Always large" is priced from each request's own token counts at the large model's prices:
the same prompt and an answer of the same length. That is the usual approximation (a larger
model's answer is rarely shorter), and it is stated in the report. Cache hits are counted
apart: they cost nothing whichever model would have answered."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Engine, select

from lockgate import estimates
from lockgate.config import Settings
from lockgate.store import pending
from lockgate.store import tables as tb


def _price(settings: Settings, model: str, tokens_in: int, tokens_out: int) -> float:
    spec = settings.models.get(model)
    if spec is None:
        return 0.0
    return estimates.cost(tokens_in, tokens_out, spec.price_input_per_1k, spec.price_output_per_1k)


def routing_report(
    engine: Engine, settings: Settings, since: float = 0.0, tenant: str | None = None
) -> dict[str, Any]:
    pending.settle()
    t = tb.traces
    stmt = select(t.c.route, t.c.cache, t.c.cost, t.c.tokens_in, t.c.tokens_out, t.c.status).where(
        t.c.created_at >= since, t.c.route.is_not(None)
    )
    if tenant is not None:
        stmt = stmt.where(t.c.tenant == tenant)
    per_model: Counter[str] = Counter()
    per_tier: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    cost: dict[str, float] = defaultdict(float)
    actual = always_large = 0.0
    routed = 0
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    for row in rows:
        route = json.loads(row.route) if isinstance(row.route, str) else row.route
        if not route or row.status != "ok":
            continue
        routed += 1
        model = route["model"]
        per_model[model] += 1
        per_tier[route["tier"]] += 1
        for reason in route.get("reasons") or []:
            # Group "retrieval confidence 0.31 < 0.45" and friends by their signal name.
            reasons[_signal(reason)] += 1
        spent = float(row.cost or 0.0)
        actual += spent
        cost[model] += spent
        always_large += _price(settings, route["large"], row.tokens_in or 0, row.tokens_out or 0)
    saved = always_large - actual
    return {
        "routed_requests": routed,
        "share": {m: round(n / routed, 4) for m, n in per_model.most_common()} if routed else {},
        "requests": dict(per_model),
        "tiers": dict(per_tier),
        "large_reasons": {k: v for k, v in reasons.most_common() if v},
        "cost": round(actual, 6),
        "cost_by_model": {m: round(c, 6) for m, c in cost.items()},
        "always_large_cost": round(always_large, 6),
        "saved": round(saved, 6),
        "saved_pct": round(100 * saved / always_large, 2) if always_large else 0.0,
        "note": "always-large priced from each request's own token counts at the large "
        "model's prices",
    }


def _signal(reason: str) -> str:
    for key in (
        "prompt",
        "question type",
        "conversation depth",
        "retrieval confidence",
        "guardrail action",
        "override",
        "request does not fit",
    ):
        if reason.startswith(key):
            return key
    return reason
