"""The model registry: chat models clients can name, and the embedding model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lockgate.config._base import Strict
from lockgate.config.resilience import BreakerConfig, DeploymentSpec, ResilienceConfig

# What the built-in `minilm` backend computes, as its publisher names it: a remote embedder
# declaring this model may fall back to it (see EmbeddingSpec.fallback).
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIMENSIONS = 384


class ModelSpec(Strict):
    """One entry of the model registry: a name clients use, mapped to a backend."""

    # A registered chat backend (llama_cpp, openai, mock, or a plugin's); checked when the
    # model registry is built, where the plugins are known.
    backend: str
    model_path: str | None = None
    upstream_model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(120.0, gt=0)
    context_window: int = Field(2048, ge=256)
    max_output_tokens: int = Field(512, ge=1)
    price_input_per_1k: float = Field(0.0, ge=0)
    price_output_per_1k: float = Field(0.0, ge=0)
    n_threads: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    # Several deployments behind one name, a fallback chain of other model names, and the
    # retry/breaker/queue settings (resilience.py).
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    fallbacks: list[str] = Field(default_factory=list)
    resilience: ResilienceConfig = ResilienceConfig()

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v


class EmbeddingRetry(Strict):
    """Retries of a remote embedder's requests (one batch each): connection errors,
    timeouts, 408, 429 and 5xx, with exponential backoff and full jitter; never another 4xx.
    The breaker counts the same failures and, open, fails requests without sending them."""

    # Attempts after the first for a batch of documents (ingest, /v1/embeddings).
    retries: int = Field(3, ge=0, le=10)
    # A question waits for its answer: fewer attempts, then the fallback (when configured).
    query_retries: int = Field(1, ge=0, le=10)
    backoff_base_ms: float = Field(200.0, ge=0)
    backoff_max_ms: float = Field(5000.0, ge=0)
    # A 429 asking for a longer pause than this fails the batch at once instead.
    retry_after_max_s: float = Field(30.0, ge=0)
    breaker: BreakerConfig = BreakerConfig()

    @model_validator(mode="after")
    def _backoff_order(self) -> EmbeddingRetry:
        if self.backoff_max_ms < self.backoff_base_ms:
            raise ValueError("backoff_max_ms must be at least backoff_base_ms")
        return self


class EmbeddingSpec(Strict):
    backend: str = "minilm"  # a registered embedding backend, checked like ModelSpec.backend
    model_path: str | None = None
    upstream_model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    # Texts per request (remote) or per forward pass (local).
    batch_size: int = Field(64, ge=1)
    # Remote only: seconds to wait for one answer, to connect, and for one answer to a
    # question (the query path falls back or fails rather than wait out `timeout_s`).
    timeout_s: float = Field(60.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    query_timeout_s: float = Field(10.0, gt=0)
    # Remote only: requests in flight at once from this process, over all callers.
    max_in_flight: int = Field(4, ge=1, le=256)
    retry: EmbeddingRetry = EmbeddingRetry()
    # The vector length every answer must have; None: learnt from the first answer (then
    # held to). `send_dimensions` also asks the server for it (OpenAI's text-embedding-3
    # and other Matryoshka models can shorten their vectors; most servers refuse the field).
    dimensions: int | None = Field(None, ge=1)
    send_dimensions: bool = False
    # Sent as `encoding_format` when set; base64 answers are a quarter of float JSON's size.
    # Vectors that arrive base64-encoded are decoded whatever this says.
    encoding_format: Literal["float", "base64"] | None = None
    # The model whose vector space these vectors are in, as its publisher names it. Only
    # read to check a fallback: the remote's `model_id` (or else its `upstream_model`) must
    # equal the fallback's (the `minilm` backend's is MINILM_MODEL_ID).
    model_id: str | None = None
    # Another embedder for QUERIES when this one fails (after its retries, or with its
    # breaker open): a backend name (`minilm`) or a full spec. Ingest never falls back:
    # vectors from two models in one index would make its scores meaningless. So the
    # fallback must be the same model (same `model_id` and `dimensions`), run elsewhere.
    fallback: EmbeddingSpec | None = None
    # Local MiniLM only: word pieces kept per text (128 lost a third of the recall on
    # 1,000-character chunks), and where int8 matmuls are used: "queries" (retrieval and
    # cache questions) cuts a question's embedding time ~3x at equal recall; guardrail
    # scanners, ingest and /v1/embeddings stay fp32 (BENCHMARKS.md, "Embedding variants").
    max_seq_length: int = Field(256, ge=8, le=512)
    int8: Literal["off", "queries", "all"] = "queries"

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @field_validator("fallback", mode="before")
    @classmethod
    def _backend_name(cls, v: object) -> object:
        # `fallback: minilm` is short for `fallback: {backend: minilm}`.
        return {"backend": v} if isinstance(v, str) else v

    def vector_model(self) -> str | None:
        """The declared model of these vectors (see `model_id`), None when unknown."""
        if self.model_id:
            return self.model_id
        if self.backend == "minilm":
            return MINILM_MODEL_ID if self.model_path is None else None
        return self.upstream_model

    def vector_dimensions(self) -> int | None:
        """The declared vector length, or the built-in MiniLM's; None when unknown."""
        if self.dimensions is not None:
            return self.dimensions
        if self.backend == "minilm" and self.model_path is None:
            return MINILM_DIMENSIONS
        return None

    @model_validator(mode="after")
    def _same_model_fallback(self) -> EmbeddingSpec:
        fb = self.fallback
        if fb is None:
            return self
        if fb.fallback is not None:
            raise ValueError("fallback: a fallback cannot have a fallback of its own")
        if self.dimensions is None:
            raise ValueError(
                "dimensions: required with a fallback (both embedders must give vectors "
                "of this length)"
            )
        theirs_dims = fb.vector_dimensions()
        if theirs_dims is not None and theirs_dims != self.dimensions:
            raise ValueError(
                f"fallback.dimensions: {theirs_dims} differs from dimensions "
                f"{self.dimensions}; a fallback must be the same model"
            )
        mine, theirs = self.vector_model(), fb.vector_model()
        if mine is None or theirs is None or mine.lower() != theirs.lower():
            raise ValueError(
                f"fallback: the fallback must compute the same model's vectors (model_id "
                f"{mine!r} here, {theirs!r} for the fallback); query vectors from another "
                f"model do not match the indexed ones. Declare the served model with model_id"
            )
        return self


def default_models() -> dict[str, ModelSpec]:
    """The built-in registry that configured `models` extend."""
    return {
        "gemma-3-270m": ModelSpec(
            backend="llama_cpp",
            context_window=4096,
            max_output_tokens=512,
            # Greedy decoding and a light repetition penalty: a grounded answer should copy
            # facts from the sources, which a strong penalty discourages.
            params={"temperature": 0.0, "top_p": 0.9, "repeat_penalty": 1.1},
        )
    }
