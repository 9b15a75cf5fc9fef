"""The monitor: judge the rollout release against the current one over a window, and roll it
back when it does worse than the configured bounds allow.

Both sides are read from the traces (and the ratings given to them): the rollout release's
turns since it entered rollout within the last `window_s`, the current release's (with no
current release, the turns no release served: the baseline) over the last `window_s`. A
metric is judged only when both sides have enough turns (`min_requests`; ratings:
`min_feedback`; groundedness scores: `min_grounded`), so a quiet window never decides. Only
the rollout release is ever judged: the current one is what the other is measured against,
and rolling it back would leave nothing proven to serve."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lockgate.config import ReleasesConfig
from lockgate.releases.manage import Releases
from lockgate.releases.model import ReleaseError

if TYPE_CHECKING:
    from lockgate.store.releases import WindowStats

log = logging.getLogger("lockgate.releases")
# Exactly at a bound is within it: 0.8 - 0.7 is 0.10000000000000009 in floating point.
_EPS = 1e-9
MONITOR = "monitor"  # the actor the audit log names for an automatic rollback


def summary(s: WindowStats) -> dict[str, Any]:
    n = s.requests
    return {
        "requests": n,
        "error_rate": round(s.errors / n, 4) if n else None,
        "rated": s.rated,
        "negative_feedback_rate": round(s.negative / s.rated, 4) if s.rated else None,
        "grounded": s.grounded,
        "groundedness": round(s.groundedness_sum / s.grounded, 4) if s.grounded else None,
        "cost_per_request": round(s.cost / n, 8) if n else None,
        "p95_latency_ms": None if s.p95_latency_ms is None else round(s.p95_latency_ms, 3),
    }


@dataclass(frozen=True)
class Breach:
    metric: str
    candidate: float
    baseline: float
    limit: float  # the worst the candidate may be

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "candidate": round(self.candidate, 6),
                "baseline": round(self.baseline, 6), "limit": round(self.limit, 6)}

    def text(self) -> str:
        return (f"{self.metric} {self.candidate:.4g} against {self.baseline:.4g} "
                f"(limit {self.limit:.4g})")


@dataclass
class Verdict:
    release: str
    stage: str
    against: str | None  # None: the turns served by no release
    candidate: dict[str, Any]
    baseline: dict[str, Any]
    judged: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # metrics without enough data yet
    breaches: list[Breach] = field(default_factory=list)
    rolled_back: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "stage": self.stage,
            "against": self.against,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "judged": self.judged,
            "waiting": self.waiting,
            "breaches": [b.as_dict() for b in self.breaches],
            "rolled_back": self.rolled_back,
        }


def compare(
    cand: WindowStats, base: WindowStats, cfg: ReleasesConfig
) -> tuple[list[str], list[str], list[Breach]]:
    """(judged, waiting, breaches) of the candidate against the baseline."""
    b = cfg.bounds
    judged: list[str] = []
    waiting: list[str] = []
    breaches: list[Breach] = []

    def judge(metric: str, ready: bool, c: float, base_v: float, limit: float) -> None:
        if not ready:
            waiting.append(metric)
            return
        judged.append(metric)
        if c > limit + _EPS:
            breaches.append(Breach(metric, c, base_v, limit))

    enough = cand.requests >= cfg.min_requests and base.requests >= cfg.min_requests
    if enough:
        ce, be = cand.errors / cand.requests, base.errors / base.requests
        judge("error_rate", True, ce, be, be + b.error_rate_increase)
        cc, bc = cand.cost / cand.requests, base.cost / base.requests
        # Nothing to scale from a free baseline (a local model): cost is not judged then.
        judge("cost_per_request", bc > 0, cc, bc, bc * b.cost_ratio)
        cp, bp = cand.p95_latency_ms, base.p95_latency_ms
        if cp is not None and bp is not None:
            limit = max(bp * b.p95_latency_ratio, bp + b.p95_latency_slack_ms)
            judge("p95_latency_ms", True, cp, bp, limit)
    else:
        waiting += ["error_rate", "cost_per_request", "p95_latency_ms"]
    rated = cand.rated >= cfg.min_feedback and base.rated >= cfg.min_feedback
    cn = cand.negative / cand.rated if cand.rated else 0.0
    bn = base.negative / base.rated if base.rated else 0.0
    judge("negative_feedback_rate", rated, cn, bn, bn + b.negative_feedback_increase)
    scored = cand.grounded >= cfg.min_grounded and base.grounded >= cfg.min_grounded
    cg = cand.groundedness_sum / cand.grounded if cand.grounded else 0.0
    bg = base.groundedness_sum / base.grounded if base.grounded else 0.0
    # Lower is worse: compared as the drop below the baseline.
    if scored:
        judged.append("groundedness")
        if bg - cg > b.groundedness_drop + _EPS:
            breaches.append(Breach("groundedness", cg, bg, bg - b.groundedness_drop))
    else:
        waiting.append("groundedness")
    return judged, waiting, breaches


class Monitor:
    def __init__(self, releases: Releases, cfg: ReleasesConfig) -> None:
        self.releases = releases
        self.cfg = cfg

    def check(self, act: bool = True, now: float | None = None) -> Verdict | None:
        """Judge the rollout release (None when there is none); roll it back on a breach
        when `act` and `auto_rollback` allow."""
        store = self.releases.store
        current, rollout = store.active()
        if rollout is None:
            return None
        now = time.time() if now is None else now
        since = now - self.cfg.window_s
        cand = store.window(rollout.name, max(since, rollout.rollout_since or since))
        against = current.name if current is not None else None
        base = store.window(against, since)
        judged, waiting, breaches = compare(cand, base, self.cfg)
        verdict = Verdict(
            rollout.name, rollout.stage, against, summary(cand), summary(base),
            judged, waiting, breaches,
        )
        if breaches and act and self.cfg.auto_rollback:
            reason = "; ".join(b.text() for b in breaches)
            metrics = {"candidate": verdict.candidate, "baseline": verdict.baseline,
                       "breaches": [b.as_dict() for b in breaches]}
            try:
                self.releases.rollback(
                    rollout.name, f"monitor: {reason}", MONITOR, automatic=True,
                    against=against, metrics=metrics,
                )
                verdict.rolled_back = True
                log.warning("release %s rolled back: %s", rollout.name, reason)
            except ReleaseError as exc:  # moved meanwhile (promoted, rolled back by hand)
                log.info("release %s not rolled back: %s", rollout.name, exc)
        return verdict


async def watch_forever(monitor: Monitor, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(monitor.check)
        except Exception:  # noqa: BLE001 - a failed check is retried at the next interval
            log.exception("release monitor check failed")


def start(monitor: Monitor, interval_s: float) -> asyncio.Task[None] | None:
    return asyncio.create_task(watch_forever(monitor, interval_s)) if interval_s > 0 else None


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
