"""The small/large router."""

from __future__ import annotations

from pydantic import Field, model_validator

from lockgate.config._base import Strict

# What the router's question classifier can answer; `large_question_types` picks among them.
QUESTION_TYPES = ("lookup", "procedural", "reasoning", "comparison", "creative", "code", "other")


class RouteTargets(Strict):
    small: str
    large: str


class RoutingConfig(Strict):
    """Requests for a model named in `routes` go to its `large` model unless every signal says
    the `small` one is enough. With no routes the stage does nothing."""

    enabled: bool = True
    routes: dict[str, RouteTargets] = Field(default_factory=dict)
    # A caller may force a tier (`lockgate.route: small|large`) in the request body.
    allow_override: bool = True
    # Signals, each of which on its own sends a request to the large model:
    max_small_prompt_tokens: int = Field(600, ge=1)
    max_small_turns: int = Field(3, ge=1)
    # Best cosine similarity of the retrieved chunks below which the question is considered
    # hard (the answer has to be pieced together), so it goes to the large model.
    min_small_retrieval: float = Field(0.45, ge=-1, le=1)
    large_question_types: list[str] = Field(
        default_factory=lambda: ["reasoning", "comparison", "creative", "code"]
    )
    # Guardrail outcomes on the input that send the request to the large model, which follows
    # safety instructions more reliably.
    large_guard_actions: list[str] = Field(default_factory=lambda: ["flag", "escalate", "redact"])

    @model_validator(mode="after")
    def _types_known(self) -> RoutingConfig:
        unknown = sorted(set(self.large_question_types) - set(QUESTION_TYPES))
        if unknown:
            raise ValueError(f"unknown question type(s): {', '.join(unknown)}")
        return self
