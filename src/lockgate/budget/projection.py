"""`lockgate cost project`: monthly spend per model at N users, projected from the traffic the
traces saw, with and without the response cache and the small/large router, against what a
person doing the same tasks would cost.

The arithmetic, all from one window of traces (docs/costs.md):

- requests per user per day = requests / distinct principals / days with traffic (UTC days
  with at least one trace, so a quiet weekend does not dilute the rate);
- monthly requests at U users = U x that rate x `costs.days_per_month`, and every observed
  sum (cost, tokens, requests per model) is scaled by monthly requests / observed requests;
- without the cache, every cache hit would have been a paid call like the others: the paid
  calls' sums are divided by (1 - hit rate);
- without the router, a request the router sent to its small model is priced at the large
  model's prices for the same tokens (as `lockgate routing report` does);
- the peak is the busiest clock hour seen, scaled by U / distinct principals.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from lockgate import estimates
from lockgate.config import Settings
from lockgate.store import pending
from lockgate.store import tables as tb

if TYPE_CHECKING:
    from lockgate.services import Services

CACHE_LINE = "(cache hits)"


class NoTraffic(ValueError):
    """No traces in the window: there is nothing to project from."""


@dataclass
class ModelLine:
    """One model's monthly requests, tokens and cost in one scenario."""

    model: str
    requests: float = 0.0
    tokens_in: float = 0.0
    tokens_out: float = 0.0
    cost: float = 0.0


@dataclass
class Variant:
    """Spend with one combination of cache and router; `total` None where it cannot be
    estimated (every request was a cache hit: there is no paid call to price a miss by)."""

    name: str
    total: float | None
    by_model: list[ModelLine]


@dataclass
class Roi:
    tasks: float
    human_cost: float
    model_cost: float
    net_saving: float
    roi: float | None  # net saving per dollar spent on the models
    hours_saved: float | None


@dataclass
class Scenario:
    users: float
    monthly_requests: float
    average_rps: float
    peak_rps: float
    variants: list[Variant]
    roi: Roi | None
    cache_saving: float | None
    router_saving: float

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


@dataclass
class Observed:
    since: float
    requests: int
    users: int
    days: int
    requests_per_user_per_day: float
    cost: float
    cache_hit_rate: float
    routed_share_small: float | None  # of the routed requests, the share sent small
    model_share: dict[str, float]
    busiest_hour_requests: int


@dataclass
class Projection:
    users: int
    growth: float
    observed: Observed
    scenarios: list[Scenario]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Row:
    model: str
    cost: float
    tokens_in: int
    tokens_out: int
    hit: bool
    # The same request with the router switched off: its model and price.
    large_model: str
    large_cost: float


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _price(settings: Settings, model: str, tokens_in: int, tokens_out: int) -> float:
    spec = settings.models.get(model)
    if spec is None:
        return 0.0
    return estimates.cost(tokens_in, tokens_out, spec.price_input_per_1k, spec.price_output_per_1k)


def _read(
    engine: Engine, settings: Settings, since: float, tenant: str | None
) -> tuple[list[_Row], set[str], set[str], dict[int, int], tuple[int, int]]:
    pending.settle()
    t = tb.traces
    stmt = select(
        t.c.created_at,
        t.c.principal,
        t.c.model,
        t.c.backend,
        t.c.cost,
        t.c.tokens_in,
        t.c.tokens_out,
        t.c.cache,
        t.c.route,
    ).where(t.c.created_at >= since)
    if tenant is not None:
        stmt = stmt.where(t.c.tenant == tenant)
    rows: list[_Row] = []
    principals: set[str] = set()
    days: set[str] = set()
    hours: dict[int, int] = defaultdict(int)
    small = routed = 0
    with engine.connect() as conn:
        found = conn.execute(stmt).all()
    for r in found:
        principals.add(r.principal)
        days.add(datetime.fromtimestamp(float(r.created_at), UTC).strftime("%Y-%m-%d"))
        hours[int(float(r.created_at) // 3600)] += 1
        cache = _loads(r.cache) or {}
        hit = cache.get("status") == "hit"
        # The upstream model that ran (after routing / fallback) is what was billed.
        model = (r.backend or "").split(":", 1)[-1] or r.model or "-"
        cost = float(r.cost or 0.0)
        tin, tout = int(r.tokens_in or 0), int(r.tokens_out or 0)
        large_model, large_cost = model, cost
        route = _loads(r.route)
        if route and not hit:
            routed += 1
            if route.get("model") != route.get("large"):
                small += 1
                large_model = route["large"]
                large_cost = _price(settings, large_model, tin, tout)
        rows.append(_Row(model, cost, tin, tout, hit, large_model, large_cost))
    return rows, principals, days, hours, (small, routed)


def _lines(rows: list[_Row], scale: float, no_router: bool) -> list[ModelLine]:
    lines: dict[str, ModelLine] = {}
    for row in rows:
        name = row.large_model if no_router else row.model
        line = lines.setdefault(name, ModelLine(name))
        line.requests += scale
        line.tokens_in += row.tokens_in * scale
        line.tokens_out += row.tokens_out * scale
        line.cost += (row.large_cost if no_router else row.cost) * scale
    return sorted(lines.values(), key=lambda m: (-m.cost, m.model))


def _variant(
    name: str, rows: list[_Row], hits: int, n: int, scale: float, cache: bool, router: bool
) -> Variant:
    paid = [r for r in rows if not r.hit]
    if cache:
        lines = _lines(paid, scale, not router)
        if hits:
            lines.append(ModelLine(CACHE_LINE, requests=hits * scale))
    elif not paid:
        return Variant(name, None, [])
    else:
        # Each hit would have been a call like the paid ones: their sums, stretched over all.
        lines = _lines(paid, scale * n / len(paid), not router)
    for line in lines:
        line.requests = round(line.requests, 3)
        line.tokens_in = round(line.tokens_in, 1)
        line.tokens_out = round(line.tokens_out, 1)
        line.cost = round(line.cost, 6)
    return Variant(name, round(sum(m.cost for m in lines), 6), lines)


def _roi(settings: Settings, monthly_requests: float, model_cost: float) -> Roi | None:
    cfg = settings.costs
    if cfg.human_cost_per_task_usd is None:
        return None
    tasks = monthly_requests * cfg.tasks_per_request
    human = tasks * cfg.human_cost_per_task_usd
    hours = tasks * cfg.minutes_saved_per_task / 60 if cfg.minutes_saved_per_task else None
    net = human - model_cost
    return Roi(
        tasks=round(tasks, 3),
        human_cost=round(human, 6),
        model_cost=round(model_cost, 6),
        net_saving=round(net, 6),
        roi=round(net / model_cost, 4) if model_cost > 0 else None,
        hours_saved=None if hours is None else round(hours, 3),
    )


def _scenario(settings: Settings, rows: list[_Row], observed: Observed, users: float) -> Scenario:
    n = observed.requests
    monthly = users * observed.requests_per_user_per_day * settings.costs.days_per_month
    scale = monthly / n
    hits = sum(1 for r in rows if r.hit)
    variants = [
        _variant("cache+router", rows, hits, n, scale, cache=True, router=True),
        _variant("router only", rows, hits, n, scale, cache=False, router=True),
        _variant("cache only", rows, hits, n, scale, cache=True, router=False),
        _variant("neither", rows, hits, n, scale, cache=False, router=False),
    ]
    actual = variants[0].total or 0.0
    no_cache = variants[1].total
    return Scenario(
        users=users,
        monthly_requests=round(monthly, 3),
        average_rps=round(users * observed.requests_per_user_per_day / 86400, 6),
        peak_rps=round(observed.busiest_hour_requests / 3600 * users / observed.users, 6),
        variants=variants,
        roi=_roi(settings, monthly, actual),
        cache_saving=None if no_cache is None else round(no_cache - actual, 6),
        router_saving=round((variants[2].total or 0.0) - actual, 6),
    )


def observe(
    engine: Engine, settings: Settings, since: float = 0.0, tenant: str | None = None
) -> tuple[Observed, list[_Row]]:
    rows, principals, days, hours, (small, routed) = _read(engine, settings, since, tenant)
    if not rows:
        raise NoTraffic("no traces in the window: nothing to project from")
    n = len(rows)
    per_model: dict[str, int] = defaultdict(int)
    for row in rows:
        per_model[CACHE_LINE if row.hit else row.model] += 1
    observed = Observed(
        since=since,
        requests=n,
        users=len(principals),
        days=len(days),
        requests_per_user_per_day=round(n / len(principals) / len(days), 6),
        cost=round(sum(r.cost for r in rows), 8),
        cache_hit_rate=round(per_model.get(CACHE_LINE, 0) / n, 6),
        routed_share_small=round(small / routed, 6) if routed else None,
        model_share={m: round(c / n, 6) for m, c in sorted(per_model.items())},
        busiest_hour_requests=max(hours.values()),
    )
    return observed, rows


def project_from(
    engine: Engine,
    settings: Settings,
    users: int,
    growth: float = 1.0,
    since: float = 0.0,
    tenant: str | None = None,
) -> Projection:
    if users < 1:
        raise ValueError(f"users must be at least 1, not {users}")
    if not math.isfinite(growth) or growth <= 0:
        raise ValueError(f"growth must be a positive number, not {growth}")
    observed, rows = observe(engine, settings, since, tenant)
    counts = [float(users)] if growth == 1 else [float(users), users * growth]
    notes = [
        "requests per user per day = requests / distinct principals / UTC days with traffic",
        "without cache: every hit priced as an average paid call of the same mix",
        "without router: small-routed requests priced at the large model for the same tokens",
    ]
    if settings.costs.human_cost_per_task_usd is None:
        notes.append("no ROI: set costs.human_cost_per_task_usd")
    return Projection(
        users=users,
        growth=growth,
        observed=observed,
        scenarios=[_scenario(settings, rows, observed, u) for u in counts],
        notes=notes,
    )


def project(services: Services, users: int, growth: float = 1.0, since: float = 0.0) -> Projection:
    """The projection from every tenant's traces since `since` (the dashboard's call).
    ValueError on a bad `users`/`growth`; `NoTraffic` when there are no traces."""
    return project_from(services.engine, services.settings, users, growth, since)


def projected_peak_rps(services: Services) -> float | None:
    """The peak requests/s the deployment is sized for: at `costs.expected_users`, or at the
    users already seen; None without traffic to project from."""
    try:
        observed, _ = observe(services.engine, services.settings)
    except NoTraffic:
        return None
    users = services.settings.costs.expected_users or observed.users
    return observed.busiest_hour_requests / 3600 * users / observed.users


def parse_growth(text: str) -> float:
    """'10x', '10', '1.5X' -> the multiplier; ValueError on anything else."""
    raw = text.strip().lower().removesuffix("x").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"growth '{text}' is not a multiplier like 10x or 1.5") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"growth '{text}' must be a positive multiplier")
    return value
