"""What a guardrail scanner is: text plus context in, findings out.

A scanner only detects. What happens next (allow, flag, redact, block, escalate) is the
policy's decision, so the same scanner serves different apps with different thresholds.

A scanner plugin registers (through `register_scanners`) a class that names itself (`name`),
declares its policy params (`Params`, a `ScannerParams` model) and builds an instance from
validated params and the shared `ScannerDeps` (`build`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from lockgate.models.base import EmbeddingBackend

Direction = Literal["in", "out", "context"]
Action = Literal["allow", "flag", "redact", "escalate", "block"]

# Higher wins when several rules fire on one text.
SEVERITY: dict[str, int] = {"allow": 0, "flag": 1, "redact": 2, "escalate": 3, "block": 4}


@dataclass(frozen=True)
class Finding:
    type: str  # EMAIL, PHONE, ..., INJECTION, TOXICITY, TOPIC, LEAK, UNGROUNDED
    start: int
    end: int
    score: float
    scanner: str = ""
    # What replaces the span when the policy redacts; None means a typed placeholder.
    replacement: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "scanner": self.scanner,
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "detail": self.detail,
        }


@dataclass
class ScanContext:
    direction: Direction
    principal: str = "anonymous"
    # Retrieved chunk texts the answer may rely on (grounding, PII justified by context).
    chunks: list[str] = field(default_factory=list)
    # The caller's own input, so output PII the caller supplied is not treated as a leak.
    user_text: str = ""
    system_prompt: str = ""
    canary: str | None = None
    # A stream: what was already released of the answer before the text scanned now (and
    # before the tail a stream scans again with it), squeezed to lower-case letters and
    # digits, so a canary spelled out over many pieces is still seen whole.
    canary_trail: str = ""
    # Scanners may report per-text measurements here (e.g. the answer's groundedness).
    metrics: dict[str, float] = field(default_factory=dict)


class Scanner(Protocol):
    """A scanner may also set `stream_window = False`: a stream's pieces then reach it alone,
    not behind the tail of the text already released (see `guardrails.continuation`); and
    `inline = True` when it is pure-Python work linear in the (capped) text: it then runs on
    the calling thread rather than the scanner pool (see `GuardEngine._run_rules`)."""

    name: str

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]: ...


class ScannerParams(BaseModel):
    """Base of every scanner's `Params`. A key the scanner does not know is an error at
    start-up, not a typo that silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class ScannerDeps:
    """Shared, already-loaded resources a scanner may use."""

    embedder: EmbeddingBackend


class ScannerType(Protocol):
    """What `register_scanners` registers under a name: usually the scanner class itself."""

    @property
    def Params(self) -> type[ScannerParams]: ...

    def build(self, params: Any, deps: ScannerDeps) -> Scanner:
        """An instance from params already validated with `Params`."""
        ...


P = TypeVar("P", bound=ScannerParams)


def params_of(model: type[P], given: P | Mapping[str, Any] | None) -> P:
    """Validated params, from a `Params` instance or from a plain mapping (a scanner built
    directly, as tests and benches do, rather than from a policy)."""
    if isinstance(given, model):
        return given
    return model.model_validate(dict(given or {}))


@dataclass
class ScannerOutcome:
    scanner: str
    action: Action
    findings: list[Finding]
    latency_ms: float
    error: str | None = None
    # A rewrite that only made the text safe (links taken out of an answer), not a verdict
    # on it: it changes the text, but not the turn's action that caching and routing read.
    rewrite: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = {
            "scanner": self.scanner,
            "action": self.action,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "findings": [f.as_dict() for f in self.findings],
        }
        if self.rewrite:
            out["rewrite"] = True
        return out


@dataclass
class GuardResult:
    direction: Direction
    action: Action
    outcomes: list[ScannerOutcome]
    text: str  # the text after redaction (unchanged unless the action redacted)

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.findings]

    @property
    def verdict(self) -> Action:
        """The most severe action of the scanners themselves, rewrites left out."""
        action: Action = "allow"
        for o in self.outcomes:
            if not o.rewrite and SEVERITY[o.action] > SEVERITY[action]:
                action = o.action
        return action

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "action": self.action,
            "findings": [f.as_dict() for f in self.findings],
            "scanners": [o.as_dict() for o in self.outcomes],
        }
