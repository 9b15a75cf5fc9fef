"""One typed configuration: defaults < `lockgate.yaml` < `LOCKGATE_…` environment variables.

Nested fields are overridden with a double underscore, e.g. `LOCKGATE_RETRIEVAL__TOP_K=8`.
Every default is the embedded one, so an empty config runs on SQLite and the bundled models.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lockgate.config_budget import BatchConfig, BudgetsConfig, LimitsConfig
from lockgate.config_cache_routing import CacheConfig, RoutingConfig
from lockgate.config_formats import ArchiveConfig, OcrConfig
from lockgate.config_quality import FreshnessConfig, QualityIngestFields
from lockgate.config_resilience import (
    DegradeConfig,
    DeploymentSpec,
    ResilienceConfig,
    StreamingConfig,
)

_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_data", default=None)


class _Strict(BaseModel):
    # A typo in a config key must fail loudly at start-up rather than be silently ignored.
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
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
    # Issue 4a: several deployments behind one name, a fallback chain of other model names,
    # and the retry/breaker/queue settings (config_resilience.py).
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    fallbacks: list[str] = Field(default_factory=list)
    resilience: ResilienceConfig = ResilienceConfig()

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v


class EmbeddingSpec(_Strict):
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


class StoreConfig(_Strict):
    url: str | None = None  # default: sqlite file under LOCKGATE_HOME


class IngestConfig(QualityIngestFields):  # strict too; quality/source fields live there
    chunk_target_chars: int = Field(1000, ge=100)
    chunk_overlap_chars: int = Field(150, ge=0)
    max_file_mb: float = Field(100.0, gt=0)
    follow_symlinks: bool = False
    ocr: OcrConfig = OcrConfig()  # issue 5a: OCR of scans and images
    archives: ArchiveConfig = ArchiveConfig()  # issue 5a: zip-bomb limits

    @field_validator("chunk_overlap_chars")
    @classmethod
    def _overlap_small(cls, v: int) -> int:
        if v > 2000:
            raise ValueError("overlap larger than 2000 characters makes every chunk a copy")
        return v


class RetrievalConfig(_Strict):
    top_k: int = Field(5, ge=1, le=100)
    candidates: int = Field(50, ge=1, le=1000)
    rrf_k: int = Field(60, ge=1)
    bm25_weight: float = Field(1.0, ge=0)
    vector_weight: float = Field(1.0, ge=0)
    # From this many chunks on, vector search scans only the `ivf_probe` nearest k-means
    # lists. Off by default: on real MiniLM vectors of similar texts, probing 10 % of the
    # lists kept under half of the exact top 10 (BENCHMARKS.md), while the exact scan of
    # 100k chunks is ~10 ms. For millions of chunks, with a high probe, or a vector DB.
    ivf_min_rows: int | None = Field(None, ge=1)
    ivf_probe: int = Field(32, ge=1)
    # Query terms found in more than this share of chunks are left out of the BM25 query
    # when rarer terms remain: they barely move BM25 scores but make FTS5 score most rows.
    bm25_max_df: float = Field(0.05, gt=0, le=1)


class GroundedConfig(_Strict):
    """The `lockgate` model: retrieval-augmented answers with citations."""

    model: str = "gemma-3-270m"
    prompt: str = "grounded_answer"
    prompt_version: int | None = None  # None: the newest version shipped
    context_chunks: int = Field(3, ge=1, le=20)
    context_chars: int = Field(3000, ge=200)
    # Cosine similarity of the best chunk under which the assistant refuses instead of guessing.
    min_relevance: float = Field(0.3, ge=-1, le=1)
    max_tokens: int = Field(192, ge=1)
    refusal_message: str = "I can't answer that from the available documents."
    degrade: DegradeConfig = DegradeConfig()  # issue 4a: extractive answer when models are down


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(1000, ge=1)
    streaming: StreamingConfig = StreamingConfig()  # issue 4a: first-token grace, keep-alives


class ScannerRule(_Strict):
    """One scanner in a policy: what it looks for is the scanner's job, what to do is here."""

    scanner: str
    action: Literal["allow", "flag", "redact", "escalate", "block"] = "block"
    threshold: float = Field(0.5, ge=0, le=1)
    params: dict[str, Any] = Field(default_factory=dict)


def _default_input() -> list[ScannerRule]:
    return [
        ScannerRule(scanner="pii", action="redact"),
        # 0.5 is the classifier's validation-calibrated threshold (see InjectionClassifier.score);
        # it was trained with benign RAG-style imperatives and chit-chat as hard negatives.
        ScannerRule(scanner="injection", action="block"),
        ScannerRule(scanner="toxicity", action="block"),
    ]


def _default_context() -> list[ScannerRule]:
    # A retrieved chunk that carries instructions is dropped before it reaches the prompt.
    return [ScannerRule(scanner="injection", action="block")]


def _default_output() -> list[ScannerRule]:
    return [
        ScannerRule(scanner="leak", action="block"),
        ScannerRule(scanner="pii", action="redact"),
        ScannerRule(scanner="toxicity", action="block"),
        ScannerRule(scanner="grounding", action="flag"),
    ]


class GuardPolicy(_Strict):
    input: list[ScannerRule] = Field(default_factory=_default_input)
    context: list[ScannerRule] = Field(default_factory=_default_context)
    output: list[ScannerRule] = Field(default_factory=_default_output)
    refusal_message: str = "Sorry, I can't help with that request."
    # A scanner that errors or overruns its time budget: block (fail closed) or allow.
    on_error: Literal["block", "allow"] = "allow"


class GuardrailsConfig(_Strict):
    enabled: bool = True
    default_policy: str = "default"
    policies: dict[str, GuardPolicy] = Field(default_factory=lambda: {"default": GuardPolicy()})
    # Policy per app (header `x-lockgate-app` or `metadata.app`) and per requested model.
    apps: dict[str, str] = Field(default_factory=dict)
    routes: dict[str, str] = Field(default_factory=dict)
    scanner_timeout_ms: int = Field(250, ge=1)
    max_scan_chars: int = Field(1_000_000, ge=1000)
    canary: bool = True

    @model_validator(mode="after")
    def _policies_exist(self) -> GuardrailsConfig:
        named = {self.default_policy, *self.apps.values(), *self.routes.values()}
        missing = sorted(n for n in named if n not in self.policies)
        if missing:
            raise ValueError(f"unknown guardrail policy: {', '.join(missing)}")
        return self


def _default_models() -> dict[str, ModelSpec]:
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOCKGATE_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Path(".lockgate")
    store: StoreConfig = StoreConfig()
    ingest: IngestConfig = IngestConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    grounded: GroundedConfig = GroundedConfig()
    server: ServerConfig = ServerConfig()
    embeddings: EmbeddingSpec = EmbeddingSpec()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    cache: CacheConfig = CacheConfig()  # issue 4b: exact and semantic response cache
    routing: RoutingConfig = RoutingConfig()  # issue 4b: small vs large router
    limits: LimitsConfig = LimitsConfig()  # issue 4c: requests/tokens per minute
    budgets: BudgetsConfig = BudgetsConfig()  # issue 4c: spend caps per day/month
    batch: BatchConfig = BatchConfig()  # issue 4c: /v1/files and /v1/batches
    models: dict[str, ModelSpec] = Field(default_factory=_default_models)
    pipeline: list[str] = Field(
        default_factory=lambda: [
            "validate",
            "rate_limit",
            "input_guard",
            "cache_lookup",
            "retrieve",
            "context_guard",
            "route",
            "build_prompt",
            "budget",
            "call_model",
            "postprocess",
            "output_guard",
            "cache_store",
        ]
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @field_validator("models", mode="before")
    @classmethod
    def _merge_models(cls, value: Any) -> Any:
        # Configured models extend the built-in registry; `name: null` removes a built-in.
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = dict(_default_models())
        for name, spec in value.items():
            if spec is None:
                merged.pop(name, None)
            else:
                merged[name] = spec
        return merged

    @model_validator(mode="after")
    def _grounded_model_known(self) -> Settings:
        if self.grounded.model not in self.models:
            raise ValueError(
                f"grounded.model '{self.grounded.model}' is not in models "
                f"(known: {', '.join(self.models) or 'none'})"
            )
        return self

    @model_validator(mode="after")
    def _routes_known(self) -> Settings:
        for name, route in self.routing.routes.items():
            for tier in ("small", "large"):
                target = getattr(route, tier)
                if target not in self.models:
                    raise ValueError(f"routing.routes.{name}.{tier}: unknown model '{target}'")
        return self

    @model_validator(mode="after")
    def _fallbacks_known(self) -> Settings:
        for name, spec in self.models.items():
            for fb in spec.fallbacks:
                if fb == name or fb not in self.models:
                    raise ValueError(f"models.{name}.fallbacks: '{fb}' is not another model")
        return self

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.home / 'lockgate.db').resolve()}"


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class ConfigError(Exception):
    """Raised with a message naming the offending key and the reason."""


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("LOCKGATE_CONFIG")
    if env:
        return Path(env)
    default = Path("lockgate.yaml")
    return default if default.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    cfg_path = config_path(path)
    data: dict[str, Any] = {}
    if cfg_path is not None:
        try:
            raw = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {cfg_path}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{cfg_path}: invalid YAML: {exc}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{cfg_path}: top level must be a mapping")
        data = raw
    token = _yaml_data.set(data)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc
    finally:
        _yaml_data.reset(token)


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"invalid config key '{key}': {msg}" if key else f"invalid config: {msg}")
    return "\n".join(lines)


_SECRET_WORDS = ("key", "secret", "password", "token")


def masked(settings: Settings) -> dict[str, Any]:
    """The effective config as plain data with secret values hidden."""
    return _mask(settings.model_dump(mode="json"))


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    lowered = key.lower()
    # `api_key_env` names a variable, it does not hold the secret, so it stays visible.
    if isinstance(value, str) and value and not lowered.endswith("_env"):
        if any(w in lowered for w in _SECRET_WORDS):
            return "****"
        if "://" in value:
            value = re.sub(r"(?i)((?:password|secret|token|key)=)[^&]+", r"\1****", value)
        if "://" in value and "@" in value:
            scheme, rest = value.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:****@{host}"
    return value
