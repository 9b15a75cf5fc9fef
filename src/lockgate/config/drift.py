"""Drift detection: how often the gateway compares a recent window of traffic with a baseline
window, how long the windows are, and the threshold each signal must cross to count as drift
(`lockgate.drift`, docs/drift.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from lockgate.config._base import Strict


class DriftThresholds(Strict):
    """Per signal, the statistic at which it counts as drifted (breached when reached)."""

    # 1 - cosine similarity of the mean query embeddings of the two windows.
    query_centroid: float = Field(0.2, gt=0, le=2)
    # Unbiased squared MMD of the query embeddings, RBF kernel with a median bandwidth.
    query_mmd: float = Field(0.05, gt=0)
    # Population-stability index of the best retrieval score per turn (0.25: a major shift).
    retrieval_score_psi: float = Field(0.25, gt=0)
    # Rates: the absolute difference of the recent and the baseline share.
    refusal_rate: float = Field(0.15, gt=0, le=1)
    groundedness_rate: float = Field(0.15, gt=0, le=1)
    no_relevant_document_rate: float = Field(0.15, gt=0, le=1)
    # Feedback: the absolute difference of the mean ratings (1-5).
    feedback_mean: float = Field(0.5, gt=0, le=4)


class PinnedBaseline(Strict):
    """A fixed baseline period (a known-good week) instead of the one before the recent window."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> PinnedBaseline:
        if self.end <= self.start:
            raise ValueError("drift.pinned_baseline: end must be after start")
        return self


class DriftConfig(Strict):
    enabled: bool = True
    # How often `lockgate serve` checks every tenant (the first check one interval after start).
    interval_seconds: float = Field(3600.0, gt=0)
    recent_seconds: float = Field(86400.0, gt=0)
    # The baseline is the `baseline_seconds` just before the recent window, unless pinned.
    baseline_seconds: float = Field(7 * 86400.0, gt=0)
    pinned_baseline: PinnedBaseline | None = None
    # A signal with fewer samples than this in either window is "insufficient data".
    min_samples: int = Field(30, ge=2)
    # Query embeddings are computed at check time from at most this many traces per window.
    sample_size: int = Field(500, ge=2, le=20000)
    # Also check each app of a tenant on its own (x-lockgate-app), next to the whole tenant.
    per_app: bool = False
    # A breach of the same signals for the same tenant (and app) is announced once per cooldown.
    cooldown_seconds: float = Field(86400.0, ge=0)
    thresholds: DriftThresholds = DriftThresholds()
