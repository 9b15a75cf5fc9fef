"""Typed events the engine emits. Subscribers (the trace store, the audit log, later
telemetry exporters) receive them through the `track_event` hook; none is a branch in the
engine. Events are plain data so that any subscriber can serialise them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    name: ClassVar[str] = "event"
    # Recorded in the audit log (observability/audit.py) under `name` when true; the fields
    # named in `audit_omit` stay out of it (texts that may hold personal data or secrets).
    audit: ClassVar[bool] = False
    audit_omit: ClassVar[tuple[str, ...]] = ()
    trace_id: str

    def properties(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TurnFinished(Event):
    """A turn ended, however it ended; `trace` is the full trace row."""

    name: ClassVar[str] = "turn.finished"
    endpoint: str
    status: str
    http_status: int
    trace: dict[str, Any]
    # The caller's W3C `traceparent`, when it sent one (span exporters continue its trace).
    traceparent: str | None = None


@dataclass(frozen=True)
class GuardFinding(Event):
    """A guardrail policy acted (anything but allow) on one text of a turn."""

    name: ClassVar[str] = "guard.finding"
    audit: ClassVar[bool] = True
    audit_omit: ClassVar[tuple[str, ...]] = ("text",)
    principal: str
    tenant: str
    direction: str
    action: str
    scanners: tuple[str, ...]
    target: str
    text: str


@dataclass(frozen=True)
class RateLimited(Event):
    name: ClassVar[str] = "limits.rate_limited"
    audit: ClassVar[bool] = True
    principal: str
    model: str


@dataclass(frozen=True)
class BudgetRefused(Event):
    name: ClassVar[str] = "budget.refused"
    audit: ClassVar[bool] = True
    principal: str
    project: str
    message: str


@dataclass(frozen=True)
class BudgetAlert(Event):
    """Spend under one budget crossed its soft threshold (once per scope and period)."""

    name: ClassVar[str] = "budget.alert"
    audit: ClassVar[bool] = True
    kind: str
    scope: str
    period: str
    spent: float
    threshold: float


@dataclass(frozen=True)
class ConfigLoaded(Event):
    """A gateway started with this effective configuration (`digest`: SHA-256 of it with
    secrets masked), so that a change of config shows in the audit log as a new digest."""

    name: ClassVar[str] = "config.loaded"
    audit: ClassVar[bool] = True
    digest: str
    prompts: dict[str, str]  # template id -> SHA-256 of its text


@dataclass(frozen=True)
class AuthSucceeded(Event):
    """A credential proved who is calling. `method` is `api_key` or `oidc`; `key_id` is the
    key's id or the token's subject, never a secret."""

    name: ClassVar[str] = "auth.succeeded"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    method: str
    key_id: str | None
    client: str
    path: str
    # Successes of the same key from the same client since the last one recorded.
    repeats: int = 0


@dataclass(frozen=True)
class AuthFailed(Event):
    """A request was refused for want of a valid credential, or because its client failed
    too often (`code` `too_many_auth_failures`). `reason` is for auditors, not the caller."""

    name: ClassVar[str] = "auth.failed"
    audit: ClassVar[bool] = True
    code: str
    reason: str
    key_id: str | None
    client: str
    path: str


@dataclass(frozen=True)
class AccessDenied(Event):
    """An authenticated (or anonymous) caller asked for something its roles do not grant:
    refused with 403 before any handler ran (or a CLI command with exit 3). Recorded once per
    key, scope and path per `auth.success_event_interval_s`, with how many were held back."""

    name: ClassVar[str] = "auth.denied"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    key_id: str | None
    scope: str
    method: str
    path: str
    client: str
    repeats: int = 0


@dataclass(frozen=True)
class ToolCallGated(Event):
    """A model called tools that need approval, and the approval provider decided (or could
    not). Audited: it is who was allowed to act through a tool, and who was not."""

    name: ClassVar[str] = "tools.gated"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    tools: tuple[str, ...]
    outcome: str
    review_id: str | None


@dataclass(frozen=True)
class ReviewQueued(Event):
    """An answer or a tool call entered the human review queue. `principal` is the caller;
    no text of the item is in the event (the item keeps it, sealed)."""

    name: ClassVar[str] = "review.queued"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    review_id: str
    kind: str
    mode: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ReviewClaimed(Event):
    name: ClassVar[str] = "review.claimed"
    audit: ClassVar[bool] = True
    principal: str  # the reviewer
    tenant: str
    review_id: str
    expires_at: float


@dataclass(frozen=True)
class ReviewDecided(Event):
    """A reviewer approved, edited or rejected an item. `final_sha256` is the SHA-256 of what
    the caller is given (answer text or tool arguments), so the log proves which text was
    approved without holding it."""

    name: ClassVar[str] = "review.decided"
    audit: ClassVar[bool] = True
    principal: str  # the reviewer
    tenant: str
    review_id: str
    kind: str
    decision: str
    caller: str
    final_sha256: str | None


@dataclass(frozen=True)
class ReviewCallbackSent(Event):
    """A decision was POSTed to the app's callback URL, or could not be."""

    name: ClassVar[str] = "review.callback"
    audit: ClassVar[bool] = True
    tenant: str
    review_id: str
    host: str
    delivered: bool
    status: int | None
    attempts: int
    error: str | None


@dataclass(frozen=True)
class DriftDetected(Event):
    """A scheduled drift check found signals of a tenant's (or one app's) recent traffic past
    their thresholds against the baseline window (`lockgate.drift`). Announced once per set of
    signals within `drift.cooldown_seconds`; the values are statistics, never texts."""

    name: ClassVar[str] = "drift.detected"
    audit: ClassVar[bool] = True
    tenant: str
    app: str | None
    signals: tuple[str, ...]
    values: dict[str, float]
    thresholds: dict[str, float]
    recent: dict[str, float]  # {"start", "end"}: epoch seconds
    baseline: dict[str, float]


@dataclass(frozen=True)
class ExperimentRecorded(Event):
    """An evaluation run was stored (`lockgate eval run`); its answers stay in the store."""

    name: ClassVar[str] = "eval.recorded"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    experiment_id: str
    dataset_sha256: str
    cases: int
    pass_rate: float


@dataclass(frozen=True)
class ExperimentLabelled(Event):
    """A label (a gate's baseline) now names this experiment."""

    name: ClassVar[str] = "eval.labelled"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    experiment_id: str
    label: str


@dataclass(frozen=True)
class PromptPushed(Event):
    """A new version of a registry prompt was stored (`lockgate prompts push`). `principal`
    is who pushed; `hash` is the SHA-256 of its canonical content."""

    name: ClassVar[str] = "prompt.pushed"
    audit: ClassVar[bool] = True
    principal: str
    prompt: str
    version: int
    hash: str
    source: str


@dataclass(frozen=True)
class PromptLabelMoved(Event):
    """A prompt's label now points at another version: `action` is `label` (moved by hand)
    or `rollback` (moved back to where it was before)."""

    name: ClassVar[str] = "prompt.label"
    audit: ClassVar[bool] = True
    principal: str
    prompt: str
    label: str
    action: str
    from_version: int | None
    to_version: int


@dataclass(frozen=True)
class ReleaseStageChanged(Event):
    """A release was created, or moved stage (pilot, percentage, full; retired, restored)."""

    name: ClassVar[str] = "release.stage_changed"
    audit: ClassVar[bool] = True
    principal: str  # who: a key's principal, the CLI operator, or "monitor"
    release: str
    from_stage: str | None
    to_stage: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ReleaseRolledBack(Event):
    """A release was rolled back, by a person or by the monitor (`automatic`), with the
    reason and, from the monitor, the window's metrics of both sides and the bounds broken."""

    name: ClassVar[str] = "release.rolled_back"
    audit: ClassVar[bool] = True
    principal: str
    release: str
    from_stage: str
    reason: str
    automatic: bool
    against: str | None  # the release compared with (None: turns served by no release)
    metrics: dict[str, Any]
    restored: str | None  # the release made current again (a rollback of the current one)


@dataclass(frozen=True)
class BreakerOpened(Event):
    """An upstream deployment's circuit breaker opened: its requests are skipped until the
    breaker's cool-down has passed (upstreams/breaker.py). `from_state` is `closed`, or
    `half_open` when a probe failed."""

    name: ClassVar[str] = "breaker.opened"
    deployment: str
    from_state: str


@dataclass(frozen=True)
class EvalGateFailed(Event):
    """`lockgate eval gate` refused a candidate: it regressed past the allowed drop."""

    name: ClassVar[str] = "eval.gate_failed"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    baseline: str
    candidate: str
    max_drop: float
    failures: tuple[str, ...]


@dataclass(frozen=True)
class EvalGatePassed(Event):
    """`lockgate eval gate` let a candidate through (the readiness report's last gate)."""

    name: ClassVar[str] = "eval.gate_passed"
    audit: ClassVar[bool] = True
    principal: str
    tenant: str
    baseline: str
    candidate: str
    max_drop: float
