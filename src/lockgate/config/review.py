"""Human review: which answers and tool calls wait for a reviewer, per kind and per app, and
where the decision is sent."""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from lockgate.config._base import Strict
from lockgate.config.ingest import FetchConfig

# groundedness: a grounded answer below the threshold; guardrail: a guardrail rule with action
# `escalate` fired on the turn; tool_call: a call to a tool declared `side_effects: true`.
ReviewKind = Literal["groundedness", "guardrail", "tool_call"]
REVIEW_KINDS: tuple[ReviewKind, ...] = ("groundedness", "guardrail", "tool_call")
# hold: nothing is delivered until a reviewer approves; deliver: delivered at once, with a
# warning, and reviewed after; off: not queued.
ReviewMode = Literal["hold", "deliver", "off"]


class ReviewModes(Strict):
    groundedness: ReviewMode = "deliver"
    guardrail: ReviewMode = "deliver"
    tool_call: ReviewMode = "hold"


class ReviewCallback(Strict):
    """Where an app hears about decisions: a POST of the decision, signed with HMAC-SHA256."""

    url: str = Field(min_length=1, max_length=2048)
    # The signing secret: from the environment variable `secret_env` (so it stays out of the
    # file), or `secret` itself (masked by `config show`). Without one nothing is sent: an
    # unsigned decision could be forged by anyone who can reach the receiver.
    secret_env: str = "LOCKGATE_REVIEW_WEBHOOK_SECRET"
    secret: str | None = Field(None, min_length=16)
    timeout_s: float = Field(5.0, gt=0, le=60)
    attempts: int = Field(3, ge=1, le=10)
    # The same egress policy as URL ingest: loopback, private, link-local (cloud metadata)
    # and CGNAT addresses are refused unless allowed here by host or network.
    fetch: FetchConfig = FetchConfig()

    @field_validator("url")
    @classmethod
    def _web_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        return v

    def signing_key(self) -> bytes | None:
        value = os.environ.get(self.secret_env, "") or self.secret or ""
        return value.encode() if value else None


class AppReview(Strict):
    """One app's review rules; what it does not set comes from the section above it."""

    groundedness_threshold: float | None = Field(None, ge=0, le=1)
    modes: dict[ReviewKind, ReviewMode] = Field(default_factory=dict)
    callback: ReviewCallback | None = None


class ReviewConfig(Strict):
    enabled: bool = True
    # A grounded answer whose groundedness (the share of its claims the grounding scanner
    # found supported) is below this is queued. None: groundedness queues nothing. Needs the
    # grounding scanner in the output policy, which the default policy has.
    groundedness_threshold: float | None = Field(None, ge=0, le=1)
    modes: ReviewModes = ReviewModes()
    # Per app (header `x-lockgate-app`): overrides of the threshold and modes, and a callback.
    apps: dict[str, AppReview] = Field(default_factory=dict)
    # How long a claim keeps other reviewers off an item.
    claim_ttl_s: float = Field(900.0, gt=0, le=7 * 86400)
    # How long a reviewer's approval of a tool call answers the same call (same caller, tool
    # and arguments) when the caller sends the conversation again.
    tool_approval_window_s: float = Field(3600.0, gt=0, le=30 * 86400)
    # What a caller gets instead of a held answer (the review id is appended), and after
    # a rejection.
    pending_message: str = Field("This answer is awaiting human review.", min_length=1)
    rejected_message: str = Field(
        "This answer was withheld after human review.", min_length=1
    )

    def mode(self, app: str | None, kind: ReviewKind) -> ReviewMode:
        if not self.enabled:
            return "off"
        rules = self.apps.get(app) if app else None
        if rules is not None and kind in rules.modes:
            return rules.modes[kind]
        mode: ReviewMode = getattr(self.modes, kind)
        return mode

    def threshold(self, app: str | None) -> float | None:
        rules = self.apps.get(app) if app else None
        if rules is not None and rules.groundedness_threshold is not None:
            return rules.groundedness_threshold
        return self.groundedness_threshold

    def callback(self, app: str | None) -> ReviewCallback | None:
        rules = self.apps.get(app) if app else None
        return rules.callback if rules is not None else None
