"""Small vs large: pick the model for one request from cheap signals, and say why.

Every signal is computed without a model call (a few regexes and numbers the pipeline already
has), so routing costs microseconds. The rule is conservative: a request goes to the small
model only when *no* signal asks for the large one; each signal that does is named in the
reason, which lands in the trace."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from lockgate.config import RoutingConfig

# Ordered: the first pattern that matches names the type. Harder types come first so that
# "how do I compare..." is a comparison, not a procedure.
_TYPE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "code",
        re.compile(
            r"```|\b(code|function|script|regex|sql|python|javascript|stack ?trace|compile|"
            r"debug|implement)\b"
        ),
    ),
    (
        "creative",
        re.compile(r"\b(write|draft|compose|poem|story|rewrite|translate|slogan|email to)\b"),
    ),
    (
        "comparison",
        re.compile(
            r"\b(compare|comparison|versus|vs\.?|difference between|differ|better|pros and "
            r"cons|trade-?offs?)\b"
        ),
    ),
    (
        "reasoning",
        re.compile(
            r"\b(why|explain why|analy[sz]e|evaluate|implications?|should (i|we)|recommend|"
            r"summari[sz]e|step by step|calculate|estimate|what if|reason)\b"
        ),
    ),
    ("procedural", re.compile(r"^(how (do|can|should|would) (i|we|you)|how to|steps to)\b")),
    (
        "lookup",
        re.compile(
            r"^(what|when|where|who|which|is|are|does|do|can|how (many|much|long|often)|"
            r"list)\b"
        ),
    ),
]


def question_type(text: str) -> str:
    lowered = " ".join(text.casefold().split())
    for name, pattern in _TYPE_PATTERNS:
        if pattern.search(lowered):
            return name
    return "other"


@dataclass
class Signals:
    prompt_tokens: int
    question_type: str
    turns: int
    retrieval: float | None = None
    guard_action: str = "allow"


@dataclass
class Decision:
    model: str
    tier: str  # "small" | "large"
    reason: str
    small: str
    large: str
    signals: Signals
    override: str | None = None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["signals"] = asdict(self.signals)
        return out


class Router:
    def __init__(self, config: RoutingConfig) -> None:
        self.config = config

    def targets(self, requested: str) -> tuple[str, str] | None:
        route = self.config.routes.get(requested)
        return (route.small, route.large) if route and self.config.enabled else None

    def decide(
        self, requested: str, signals: Signals, override: str | None = None
    ) -> Decision | None:
        targets = self.targets(requested)
        if targets is None:
            return None
        small, large = targets
        cfg = self.config
        if override and cfg.allow_override:
            tier = override if override in ("small", "large") else None
            if tier is None:
                # A model name may be given directly, but only one of this route's two.
                tier = "small" if override == small else "large" if override == large else None
            if tier is not None:
                model = small if tier == "small" else large
                return Decision(
                    model,
                    tier,
                    f"override: {override}",
                    small,
                    large,
                    signals,
                    override,
                    ["override"],
                )
        reasons = []
        if signals.prompt_tokens > cfg.max_small_prompt_tokens:
            reasons.append(f"prompt {signals.prompt_tokens} tokens > {cfg.max_small_prompt_tokens}")
        if signals.question_type in cfg.large_question_types:
            reasons.append(f"question type '{signals.question_type}'")
        if signals.turns > cfg.max_small_turns:
            reasons.append(f"conversation depth {signals.turns} turns > {cfg.max_small_turns}")
        if signals.retrieval is not None and signals.retrieval < cfg.min_small_retrieval:
            reasons.append(
                f"retrieval confidence {signals.retrieval:.2f} < {cfg.min_small_retrieval:.2f}"
            )
        if signals.guard_action in cfg.large_guard_actions:
            reasons.append(f"guardrail action '{signals.guard_action}'")
        if reasons:
            return Decision(
                large, "large", "; ".join(reasons), small, large, signals, reasons=reasons
            )
        why = (
            f"{signals.question_type} question, {signals.prompt_tokens} tokens, "
            f"{signals.turns} turn(s)"
        )
        if signals.retrieval is not None:
            why += f", retrieval confidence {signals.retrieval:.2f}"
        return Decision(small, "small", why, small, large, signals)
