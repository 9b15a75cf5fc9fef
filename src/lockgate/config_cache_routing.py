"""Config for issue 4b: the response cache and the small/large router.

Kept out of `config.py` so the shared settings module only grows by a few fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CacheConfig(_Strict):
    enabled: bool = True
    # Seconds an entry lives; grounded answers also die as soon as a source document changes.
    ttl_s: float = Field(24 * 3600, gt=0)
    # Pass-through answers are not tied to documents, so they get their own (shorter) TTL.
    passthrough_ttl_s: float = Field(3600, gt=0)
    passthrough: bool = True
    semantic: bool = True
    # Cosine similarity of the question embeddings (MiniLM) at or above which a cached entry
    # is a candidate; a lexical check then rejects near-misses (see cache/keys.py). Chosen on
    # bench/data/paraphrases.jsonl (BENCHMARKS.md "Cache and router").
    similarity: float = Field(0.90, ge=0, le=1)
    # Semantic matching for pass-through requests compares the last user message among
    # entries with the same earlier conversation.
    semantic_passthrough: bool = False
    max_entries: int = Field(100_000, ge=1)
    # How often a gateway process reloads a scope's vectors to see entries other processes
    # wrote (SQLite today, Redis later).
    semantic_refresh_s: float = Field(30.0, ge=0)
    # Characters per streamed piece when a hit is replayed as a stream.
    stream_chunk_chars: int = Field(24, ge=1)


class RouteTargets(_Strict):
    small: str
    large: str


class RoutingConfig(_Strict):
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
        from lockgate.routing.router import QUESTION_TYPES

        unknown = sorted(set(self.large_question_types) - set(QUESTION_TYPES))
        if unknown:
            raise ValueError(f"unknown question type(s): {', '.join(unknown)}")
        return self
