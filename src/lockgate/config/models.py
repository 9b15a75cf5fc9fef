"""The model registry: chat models clients can name, and the embedding model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from lockgate.config._base import Strict
from lockgate.config.resilience import DeploymentSpec, ResilienceConfig


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


class EmbeddingSpec(Strict):
    backend: str = "minilm"  # a registered embedding backend, checked like ModelSpec.backend
    model_path: str | None = None
    upstream_model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    batch_size: int = Field(64, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    # Local MiniLM only: word pieces kept per text (128 lost a third of the recall on
    # 1,000-character chunks), and where int8 matmuls are used: "queries" (retrieval and
    # cache questions) cuts a question's embedding time ~3x at equal recall; guardrail
    # scanners, ingest and /v1/embeddings stay fp32 (BENCHMARKS.md, "Embedding variants").
    max_seq_length: int = Field(256, ge=8, le=512)
    int8: Literal["off", "queries", "all"] = "queries"


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
