"""A load test's numbers from its samples: throughput, latency and TTFT percentiles, errors by
status, cost, and the generator's own health (CPU use, schedule lag) with warnings when it
may have been the bottleneck."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from lockgate.loadtest.generator import Run

# Above this share of one core, or this much lateness, the generator may be what limited
# the run: say so rather than report its limits as the deployment's.
CPU_WARN_SHARE = 0.5
LAG_WARN_S = 0.020


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


@dataclass
class LoadReport:
    url: str
    scenario: str
    rps_target: float
    duration: float
    requests: int
    ok: int
    rps_sent: float  # the arrival rate actually held
    rps_achieved: float  # successful answers per second of the whole run
    wall_s: float
    latency_ms: dict[str, float | None]  # p50/p95/p99/max of successful requests
    ttft_ms: dict[str, float | None]
    errors: dict[str, int]  # outcome -> count, successes excluded
    error_rate: float
    cost: float | None  # None: the deployment reported no cost
    cost_per_1k_requests: float | None
    tokens_in: int
    tokens_out: int
    lag_ms: dict[str, float | None]
    generator_cpu: float  # CPU seconds of the generator thread per second of wall time
    process_cpu: float
    connections: int
    projected_peak_rps: float | None = None
    projected_load_multiple: float | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(run: Run, url: str, scenario: str) -> LoadReport:
    samples = run.samples
    good = [s for s in samples if s.outcome.startswith("2")]
    outcomes = Counter(s.outcome for s in samples if not s.outcome.startswith("2"))
    latencies = [s.latency for s in good if s.latency is not None]
    ttfts = [s.ttft for s in good if s.ttft is not None]
    lags = [s.lag for s in samples]
    costs = [s.cost for s in samples if s.cost is not None]
    cost = round(sum(costs), 8) if costs else None
    n = len(samples)
    wall = max(run.wall, 1e-9)
    report = LoadReport(
        url=url,
        scenario=scenario,
        rps_target=run.rps,
        duration=run.duration,
        requests=n,
        ok=len(good),
        rps_sent=round((n - 1) / run.send_span, 3) if n > 1 and run.send_span > 0 else float(n),
        rps_achieved=round(len(good) / wall, 3),
        wall_s=round(run.wall, 3),
        latency_ms={
            "p50": _ms(percentile(latencies, 0.5)),
            "p95": _ms(percentile(latencies, 0.95)),
            "p99": _ms(percentile(latencies, 0.99)),
            "max": _ms(max(latencies, default=None)),
        },
        ttft_ms={
            "p50": _ms(percentile(ttfts, 0.5)),
            "p95": _ms(percentile(ttfts, 0.95)),
            "p99": _ms(percentile(ttfts, 0.99)),
        },
        errors=dict(outcomes.most_common()),
        error_rate=round(sum(outcomes.values()) / n, 6) if n else 0.0,
        cost=cost,
        cost_per_1k_requests=None if cost is None else round(cost / n * 1000, 6),
        tokens_in=sum(s.tokens_in for s in samples),
        tokens_out=sum(s.tokens_out for s in samples),
        lag_ms={
            "p50": _ms(percentile(lags, 0.5)),
            "p99": _ms(percentile(lags, 0.99)),
            "max": _ms(max(lags, default=None)),
        },
        generator_cpu=round(run.cpu_thread / wall, 4),
        process_cpu=round(run.cpu_process / wall, 4),
        connections=run.connections,
    )
    report.warnings = _warnings(report, lags)
    return report


def _warnings(report: LoadReport, lags: list[float]) -> list[str]:
    out = []
    if report.generator_cpu > CPU_WARN_SHARE:
        out.append(
            f"the generator used {report.generator_cpu * 100:.0f}% of a core: it may be the "
            "bottleneck; run it on another machine or lower --rps"
        )
    p99 = percentile(lags, 0.99) or 0.0
    if p99 > LAG_WARN_S:
        out.append(
            f"the generator fell behind its schedule (p99 lag {p99 * 1000:.1f} ms): the "
            "arrival rate was not held"
        )
    tenth = max(1, len(lags) // 10)
    early, late = lags[:tenth], lags[-tenth:]
    if len(lags) >= 20 and sum(late) / len(late) - sum(early) / len(early) > LAG_WARN_S / 2:
        out.append("the schedule lag grew during the run: the generator was falling behind")
    return out


def with_projection(report: LoadReport, peak_rps: float | None) -> LoadReport:
    """The run against the projected peak ("stress test at 3x projected load")."""
    report.projected_peak_rps = None if peak_rps is None else round(peak_rps, 6)
    if peak_rps:
        report.projected_load_multiple = round(report.rps_achieved / peak_rps, 3)
    return report
