"""Guardrail policies: which scanners run on input, retrieved context and output, and for whom."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lockgate.config._base import Strict

log = logging.getLogger(__name__)


class ScannerRule(Strict):
    """One scanner in a policy: what it looks for is the scanner's job, what to do is here."""

    scanner: str
    action: Literal["allow", "flag", "redact", "escalate", "block"] = "block"
    threshold: float = Field(0.5, ge=0, le=1)
    params: dict[str, Any] = Field(default_factory=dict)


INJECTION_THRESHOLD = 0.555


def _default_input() -> list[ScannerRule]:
    return [
        ScannerRule(scanner="pii", action="redact"),
        # 0.5 is where the classifier's own validation-calibrated threshold lands (see
        # InjectionClassifier.score); this policy's 0.555 is `lockgate guard-calibrate` on the
        # two dev sets of benign look-alikes (400 requests that read like attacks) at a 2.5%
        # false-alarm budget, with the embedding stage on (it chose 0.5547). Another policy
        # calibrates on its own traffic the same way.
        ScannerRule(scanner="injection", action="block", threshold=INJECTION_THRESHOLD),
        ScannerRule(scanner="toxicity", action="block"),
    ]


def _default_context() -> list[ScannerRule]:
    return [
        # A retrieved chunk that carries instructions is dropped before it reaches the prompt.
        ScannerRule(scanner="injection", action="block"),
        # Card numbers, bank accounts, national ids and credentials in a document are never
        # what a question is about, and the output scan lets through what the sources
        # contain; they are masked before the prompt. E-mail addresses, phone numbers and
        # street addresses are left in: documents give them as contacts to pass on.
        ScannerRule(
            scanner="pii",
            action="redact",
            params={"types": ["CREDIT_CARD", "IBAN", "SSN", "SECRET"]},
        ),
    ]


def _default_output() -> list[ScannerRule]:
    return [
        ScannerRule(scanner="leak", action="block"),
        ScannerRule(scanner="pii", action="redact"),
        ScannerRule(scanner="toxicity", action="block"),
        ScannerRule(scanner="grounding", action="flag"),
    ]


class LinkPolicy(Strict):
    """Markdown images and links and raw HTML in answers and in retrieved chunks. A chat UI
    that renders markdown fetches every image the moment it shows the answer, with whatever
    the model was told to put in the URL (a document can tell it to); a link does the same on
    a click. Outside the allowed hosts, images and HTML that can fetch or navigate are
    removed, links keep only their text, and bare URLs are defanged
    (``hxxps://host[.]example/...``). A host allows itself and its subdomains."""

    enabled: bool = True
    # None by default: no external image is ever shown.
    image_hosts: list[str] = Field(default_factory=list)
    link_hosts: list[str] = Field(default_factory=list)

    @field_validator("image_hosts", "link_hosts")
    @classmethod
    def _hostnames(cls, hosts: list[str]) -> list[str]:
        out = []
        for raw in hosts:
            host = raw.strip().lower().removeprefix("*.").strip(".")
            if not host or any(c in host for c in "/:@ \t?#"):
                raise ValueError(f"'{raw}' is not a host name (give e.g. docs.example.com)")
            out.append(host)
        return out


class GuardPolicy(Strict):
    input: list[ScannerRule] = Field(default_factory=_default_input)
    context: list[ScannerRule] = Field(default_factory=_default_context)
    output: list[ScannerRule] = Field(default_factory=_default_output)
    refusal_message: str = "Sorry, I can't help with that request."
    links: LinkPolicy = Field(default_factory=LinkPolicy)
    # A scanner that errors or overruns its time budget. rule (fail closed, the default):
    # block and redact rules block (what was not found cannot be redacted), escalate rules
    # escalate, flag and allow rules flag. block: every failure blocks. allow: failures
    # pass (fail open; only for a policy whose scanners are advisory).
    on_error: Literal["rule", "block", "allow"] = "rule"


_warned_routes = False


class GuardrailsConfig(Strict):
    enabled: bool = True
    default_policy: str = "default"
    policies: dict[str, GuardPolicy] = Field(default_factory=lambda: {"default": GuardPolicy()})
    # Policy per app (header `x-lockgate-app` or `metadata.app`) and per requested model.
    apps: dict[str, str] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)
    # Each scanner's budget, counted from when it starts running (not while it waits for
    # a worker); a scan that overruns it is a failure (see GuardPolicy.on_error).
    scanner_timeout_ms: int = Field(250, ge=1)
    scanner_workers: int = Field(4, ge=1, le=64)  # threads all scans share
    # How long a scan may wait for a free worker before it counts as a failure.
    scanner_queue_timeout_ms: int = Field(10_000, ge=1)
    # A text longer than this is refused (blocked, with reason size_limit), not scanned in
    # part: the linear scanners stay well inside their budget up to here.
    max_scan_chars: int = Field(200_000, ge=1000)
    canary: bool = True

    @model_validator(mode="before")
    @classmethod
    def _old_routes_key(cls, data: Any) -> Any:
        # `routes` was this section's name for `models`; old configs keep working for now.
        if not isinstance(data, dict) or "routes" not in data:
            return data
        global _warned_routes
        if not _warned_routes:
            _warned_routes = True
            log.warning("config key 'guardrails.routes' is deprecated: call it 'guardrails.models'")
        data = dict(data)
        old, new = data.pop("routes"), data.get("models")
        # Both can meet when the YAML file has the old key and the environment the new one
        # (they are merged before validation): the new key wins per model.
        if isinstance(old, dict) and isinstance(new, dict):
            data["models"] = {**old, **new}
        elif new is None:
            data["models"] = old
        return data

    @model_validator(mode="after")
    def _policies_exist(self) -> GuardrailsConfig:
        named = {self.default_policy, *self.apps.values(), *self.models.values()}
        missing = sorted(n for n in named if n not in self.policies)
        if missing:
            raise ValueError(f"unknown guardrail policy: {', '.join(missing)}")
        return self
