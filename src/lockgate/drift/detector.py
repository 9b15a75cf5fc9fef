"""Compare a recent window of a tenant's grounded traffic with a baseline window, signal by
signal, against the thresholds of `drift.thresholds`.

Query embeddings are computed here, at check time, from a sample of the windows' questions
(`drift.sample_size` per window) with the same query embedder retrieval uses, rather than
stored per turn. Why: a stored vector would be one more copy of every question (embeddings
can be inverted into text) that privacy export, erasure and retention would all have to
cover, plus a table and a write on the answer path; re-embedding needs none of that, follows
the traces' own retention and erasure, and costs a few seconds of CPU per check (MiniLM on a
few hundred short questions) once an hour. A check also always compares vectors of one model,
even after the embedder changes.

Signals (each with both sample sizes; fewer than `drift.min_samples` in either window is
"insufficient_data", never a breach):

- query_centroid: cosine distance of the two windows' mean question embeddings;
- query_mmd: unbiased squared MMD of the embeddings (RBF kernel, median bandwidth);
- retrieval_score_psi: PSI of the best vector similarity per retrieving turn, in bins at the
  baseline's quantiles — as many as keep about 20 baseline scores a bin, 2 to 10, because PSI
  over sparse bins reads sampling noise as drift;
- refusal_rate, groundedness_rate (answered turns citing sources), no_relevant_document_rate
  (no retrieved chunk at `grounded.min_relevance`, or refused for want of sources): the
  absolute difference of the shares;
- feedback_mean: the absolute difference of the mean ratings given in each window."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lockgate.config.drift import DriftConfig
from lockgate.drift import stats
from lockgate.drift.windows import Window, WindowData, WindowLoader
from lockgate.observability.events import DriftDetected

if TYPE_CHECKING:
    from lockgate.services import Services

Status = Literal["ok", "drift", "insufficient_data"]
SIGNALS: tuple[str, ...] = (
    "query_centroid",
    "query_mmd",
    "retrieval_score_psi",
    "refusal_rate",
    "groundedness_rate",
    "no_relevant_document_rate",
    "feedback_mean",
)
_PER_BIN = 20
_MAX_BINS = 10


@dataclass(frozen=True)
class SignalResult:
    name: str
    # What each window looks like on this signal (a rate, a mean; None for the embeddings).
    baseline: float | None
    recent: float | None
    statistic: float | None
    threshold: float
    status: Status
    n_baseline: int
    n_recent: int

    @property
    def breached(self) -> bool:
        return self.status == "drift"

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {
            "signal": self.name,
            "baseline": r(self.baseline),
            "recent": r(self.recent),
            "statistic": r(self.statistic),
            "threshold": self.threshold,
            "status": self.status,
            "n_baseline": self.n_baseline,
            "n_recent": self.n_recent,
        }


@dataclass(frozen=True)
class DriftReport:
    tenant: str
    app: str | None
    recent: Window
    baseline: Window
    signals: list[SignalResult] = field(default_factory=list)

    @property
    def breached(self) -> list[SignalResult]:
        return [s for s in self.signals if s.breached]

    def signal(self, name: str) -> SignalResult:
        return next(s for s in self.signals if s.name == name)

    def event(self) -> DriftDetected | None:
        """The event announcing this report's breaches; None when nothing breached."""
        hits = self.breached
        if not hits:
            return None
        return DriftDetected(
            "",
            tenant=self.tenant,
            app=self.app,
            signals=tuple(s.name for s in hits),
            values={s.name: round(s.statistic or 0.0, 6) for s in hits},
            thresholds={s.name: s.threshold for s in hits},
            recent=self.recent.as_dict(),
            baseline=self.baseline.as_dict(),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "app": self.app,
            "recent": self.recent.as_dict(),
            "baseline": self.baseline.as_dict(),
            "drift": bool(self.breached),
            "signals": [s.as_dict() for s in self.signals],
        }


def _result(
    name: str,
    threshold: float,
    n_baseline: int,
    n_recent: int,
    min_samples: int,
    compute: Callable[[], tuple[float | None, float | None, float]],
) -> SignalResult:
    if n_baseline < min_samples or n_recent < min_samples:
        return SignalResult(
            name, None, None, None, threshold, "insufficient_data", n_baseline, n_recent
        )
    base, recent, statistic = compute()
    status: Status = "drift" if statistic >= threshold else "ok"
    return SignalResult(name, base, recent, statistic, threshold, status, n_baseline, n_recent)


def psi_bins(n_baseline: int) -> int:
    return max(2, min(_MAX_BINS, n_baseline // _PER_BIN))


class DriftDetector:
    def __init__(
        self,
        loader: WindowLoader,
        embed: Callable[[list[str]], np.ndarray],
        config: DriftConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.loader = loader
        self.embed = embed
        self.config = config
        self.clock = clock

    @classmethod
    def from_services(cls, services: Services) -> DriftDetector:
        s = services.settings
        loader = WindowLoader(
            services.engine, services.cipher, s.grounded.min_relevance, s.drift.sample_size
        )
        # The embedder loads on the first check with enough questions, not before.
        return cls(loader, lambda texts: services.query_embedder.embed(texts), s.drift)

    def windows(
        self,
        now: float | None = None,
        recent_s: float | None = None,
        baseline_s: float | None = None,
    ) -> tuple[Window, Window]:
        """(recent, baseline). The baseline is the pinned period unless a length is given."""
        end = self.clock() if now is None else now
        recent = Window(end - (recent_s or self.config.recent_seconds), end)
        pinned = self.config.pinned_baseline
        if pinned is not None and baseline_s is None:
            return recent, Window(pinned.start.timestamp(), pinned.end.timestamp())
        length = baseline_s or self.config.baseline_seconds
        return recent, Window(recent.start - length, recent.start)

    def report(
        self,
        tenant: str,
        app: str | None = None,
        now: float | None = None,
        recent_s: float | None = None,
        baseline_s: float | None = None,
    ) -> DriftReport:
        recent_w, baseline_w = self.windows(now, recent_s, baseline_s)
        base = self.loader.load(tenant, baseline_w, app)
        recent = self.loader.load(tenant, recent_w, app)
        signals = self._embedding_signals(base, recent) + self._traffic_signals(base, recent)
        return DriftReport(tenant, app, recent_w, baseline_w, signals)

    def _embed(self, questions: list[str]) -> np.ndarray:
        return np.asarray(self.embed(questions), dtype=np.float64)

    def _embedding_signals(self, base: WindowData, recent: WindowData) -> list[SignalResult]:
        th, k = self.config.thresholds, self.config.min_samples
        nb, nr = len(base.questions), len(recent.questions)
        embedded: list[np.ndarray] = []  # both windows, embedded on first use only

        def vectors() -> tuple[np.ndarray, np.ndarray]:
            if not embedded:
                embedded.extend([self._embed(base.questions), self._embed(recent.questions)])
            return embedded[0], embedded[1]

        def centroid() -> tuple[None, None, float]:
            return None, None, stats.centroid_cosine_distance(*vectors())

        def mmd() -> tuple[None, None, float]:
            return None, None, stats.mmd_rbf(*vectors())

        return [
            _result("query_centroid", th.query_centroid, nb, nr, k, centroid),
            _result("query_mmd", th.query_mmd, nb, nr, k, mmd),
        ]

    def _traffic_signals(self, base: WindowData, recent: WindowData) -> list[SignalResult]:
        th, k = self.config.thresholds, self.config.min_samples

        def scores() -> tuple[float, float, float]:
            bins = psi_bins(len(base.top_scores))
            value = stats.psi(base.top_scores, recent.top_scores, bins=bins)
            return float(np.mean(base.top_scores)), float(np.mean(recent.top_scores)), value

        def share(b: list[bool], r: list[bool]) -> Callable[[], tuple[float, float, float]]:
            return lambda: (stats.rate(b), stats.rate(r), abs(stats.rate_difference(b, r)))

        def ratings() -> tuple[float, float, float]:
            b, r = [float(x) for x in base.feedback], [float(x) for x in recent.feedback]
            return float(np.mean(b)), float(np.mean(r)), abs(stats.mean_difference(b, r))

        return [
            _result(
                "retrieval_score_psi",
                th.retrieval_score_psi,
                len(base.top_scores),
                len(recent.top_scores),
                k,
                scores,
            ),
            _result(
                "refusal_rate",
                th.refusal_rate,
                len(base.refused),
                len(recent.refused),
                k,
                share(base.refused, recent.refused),
            ),
            _result(
                "groundedness_rate",
                th.groundedness_rate,
                len(base.grounded),
                len(recent.grounded),
                k,
                share(base.grounded, recent.grounded),
            ),
            _result(
                "no_relevant_document_rate",
                th.no_relevant_document_rate,
                len(base.no_relevant),
                len(recent.no_relevant),
                k,
                share(base.no_relevant, recent.no_relevant),
            ),
            _result(
                "feedback_mean",
                th.feedback_mean,
                len(base.feedback),
                len(recent.feedback),
                k,
                ratings,
            ),
        ]
