"""Privacy settings: how long records are kept before the scheduled purge removes them, and
what log lines may say."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field, model_validator

from lockgate.config._base import Strict

log = logging.getLogger(__name__)


class RetentionConfig(Strict):
    # Days each record type is kept; None keeps it until deleted by hand.
    traces_days: float | None = Field(30.0, gt=0)
    # Review queue items, decided or not (the decisions stay in the audit log).
    reviews_days: float | None = Field(90.0, gt=0)
    # Reviewers' corrections are evaluation data, kept until deleted by default; erasure of
    # a person still removes theirs.
    corrections_days: float | None = Field(None, gt=0)
    # Users' ratings of answers, with their comments and corrections.
    feedback_days: float | None = Field(365.0, gt=0)
    cache_days: float | None = Field(30.0, gt=0)  # expired entries go at once regardless
    batches_days: float | None = Field(30.0, gt=0)  # finished batches, their items and files
    files_days: float | None = Field(30.0, gt=0)
    # How often the gateway runs the purge; 0 leaves it to `lockgate privacy purge`.
    purge_interval_s: float = Field(3600.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _old_escalations_key(cls, data: Any) -> Any:
        # Escalations became review items; a config written before keeps its retention.
        if not isinstance(data, dict) or "escalations_days" not in data:
            return data
        log.warning(
            "config key 'retention.escalations_days' is deprecated: call it "
            "'retention.reviews_days'"
        )
        data = dict(data)
        old = data.pop("escalations_days")
        data.setdefault("reviews_days", old)
        return data


class PrivacyConfig(Strict):
    # Replace e-mail addresses, card and phone numbers, IBANs, secrets… in every log line of
    # Lockgate and uvicorn with placeholders (<EMAIL>, <CREDIT_CARD>…): log lines quote user
    # text (request paths, error messages) more often than anyone plans.
    redact_logs: bool = True
