"""The overview's numbers, computed from the traces table per time bucket: request rate,
latency and time-to-first-token percentiles, errors, tokens, cost, cache hits, routing,
guardrail findings, unsupported claims; feedback from the feedback table. Rows are read once
(bounded) and folded in Python, so the same code runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from lockgate.store import pending
from lockgate.store import tables as tb

MAX_ROWS = 200_000  # a window larger than this is summarised from its newest rows


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


@dataclass
class Bucket:
    start: float
    requests: int = 0
    errors: int = 0
    latency: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    tokens: int = 0
    cost: float = 0.0
    cache_seen: int = 0
    cache_hits: int = 0
    findings: int = 0
    grounded_scores: list[float] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)

    def row(self, seconds: float) -> dict[str, Any]:
        n = self.requests
        return {
            "start": self.start,
            "requests": n,
            "rps": n / seconds,
            "error_rate": self.errors / n if n else None,
            "p50_ms": percentile(self.latency, 50),
            "p95_ms": percentile(self.latency, 95),
            "p99_ms": percentile(self.latency, 99),
            "ttft_p50_ms": percentile(self.ttft, 50),
            "ttft_p95_ms": percentile(self.ttft, 95),
            "ttft_p99_ms": percentile(self.ttft, 99),
            "tokens": self.tokens,
            "cost": self.cost,
            "cost_per_request": self.cost / n if n else None,
            "cost_per_1k": self.cost / n * 1000 if n else None,
            "cache_hit_rate": self.cache_hits / self.cache_seen if self.cache_seen else None,
            "findings": self.findings,
            "unsupported_rate": (
                1 - sum(self.grounded_scores) / len(self.grounded_scores)
                if self.grounded_scores
                else None
            ),
            "feedback": sum(self.ratings) / len(self.ratings) if self.ratings else None,
        }


def _is_error(status: Any, http_status: Any) -> bool:
    return (isinstance(http_status, int) and http_status >= 500) or status == "error"


def overview(
    engine: Engine, since: float, until: float, buckets: int, tenant: str | None
) -> dict[str, Any]:
    """Per-bucket rows and window totals for traces created in [since, until)."""
    pending.settle()
    width = (until - since) / buckets
    rows = [Bucket(since + i * width) for i in range(buckets)]
    total = Bucket(since)
    tiers: Counter[str] = Counter()
    scanners: Counter[str] = Counter()
    t = tb.traces
    stmt = (
        select(
            t.c.created_at,
            t.c.status,
            t.c.http_status,
            t.c.latency_ms,
            t.c.ttft_ms,
            t.c.tokens_in,
            t.c.tokens_out,
            t.c.cost,
            t.c.cache,
            t.c.route,
            t.c.guardrails,
            t.c.groundedness,
        )
        .where(t.c.created_at >= since, t.c.created_at < until)
        .order_by(t.c.created_at.desc())
        .limit(MAX_ROWS)
    )
    if tenant is not None:
        stmt = stmt.where(t.c.tenant == tenant)
    f = tb.feedback
    fstmt = select(f.c.created_at, f.c.rating).where(
        f.c.created_at >= since, f.c.created_at < until
    )
    if tenant is not None:
        fstmt = fstmt.where(f.c.tenant == tenant)
    with engine.connect() as conn:
        traces = conn.execute(stmt).all()
        ratings = conn.execute(fstmt.limit(MAX_ROWS)).all()
    for r in traces:
        b = rows[min(buckets - 1, int((r.created_at - since) / width))]
        for acc in (b, total):
            acc.requests += 1
            acc.errors += _is_error(r.status, r.http_status)
            if r.latency_ms is not None:
                acc.latency.append(float(r.latency_ms))
            if r.ttft_ms is not None:
                acc.ttft.append(float(r.ttft_ms))
            acc.tokens += int(r.tokens_in or 0) + int(r.tokens_out or 0)
            acc.cost += float(r.cost or 0.0)
            if r.groundedness is not None:
                acc.grounded_scores.append(float(r.groundedness))
        cache = _json(r.cache)
        if isinstance(cache, dict):
            hit = cache.get("status") == "hit"
            for acc in (b, total):
                acc.cache_seen += 1
                acc.cache_hits += hit
        route = _json(r.route)
        if isinstance(route, dict) and route.get("tier"):
            tiers[str(route["tier"])] += 1
        for entry in _json(r.guardrails) or []:
            findings = entry.get("findings") if isinstance(entry, dict) else None
            for found in findings or []:
                name = str(found.get("scanner", "?")) if isinstance(found, dict) else "?"
                scanners[name] += 1
                b.findings += 1
                total.findings += 1
    for rated in ratings:
        b = rows[min(buckets - 1, int((rated.created_at - since) / width))]
        b.ratings.append(int(rated.rating))
        total.ratings.append(int(rated.rating))
    return {
        "since": since,
        "until": until,
        "bucket_s": width,
        "buckets": [b.row(width) for b in rows],
        "total": total.row(until - since),
        "tiers": dict(tiers.most_common()),
        "scanners": dict(scanners.most_common()),
        "truncated": len(traces) >= MAX_ROWS,
    }
