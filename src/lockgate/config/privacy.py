"""Privacy settings: how long records are kept before the scheduled purge removes them, and
what log lines may say."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict


class RetentionConfig(Strict):
    # Days each record type is kept; None keeps it until deleted by hand.
    traces_days: float | None = Field(30.0, gt=0)
    escalations_days: float | None = Field(90.0, gt=0)
    cache_days: float | None = Field(30.0, gt=0)  # expired entries go at once regardless
    batches_days: float | None = Field(30.0, gt=0)  # finished batches, their items and files
    files_days: float | None = Field(30.0, gt=0)
    # How often the gateway runs the purge; 0 leaves it to `lockgate privacy purge`.
    purge_interval_s: float = Field(3600.0, ge=0)


class PrivacyConfig(Strict):
    # Replace e-mail addresses, card and phone numbers, IBANs, secrets… in every log line of
    # Lockgate and uvicorn with placeholders (<EMAIL>, <CREDIT_CARD>…): log lines quote user
    # text (request paths, error messages) more often than anyone plans.
    redact_logs: bool = True
