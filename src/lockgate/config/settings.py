"""One typed configuration: defaults < `lockgate.yaml` < `LOCKGATE_…` environment variables.

Nested fields are overridden with a double underscore, e.g. `LOCKGATE_RETRIEVAL__TOP_K=8`.
Every default is the embedded one, so an empty config runs on SQLite and the bundled models.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lockgate.config.alerts import AlertingConfig
from lockgate.config.audit import AuditConfig
from lockgate.config.auth import AuthConfig
from lockgate.config.cache import CacheConfig
from lockgate.config.costs import CostsConfig
from lockgate.config.drift import DriftConfig
from lockgate.config.encryption import EncryptionConfig
from lockgate.config.events import EventsConfig
from lockgate.config.feedback import FeedbackConfig
from lockgate.config.guardrails import GuardrailsConfig
from lockgate.config.ingest import IngestConfig
from lockgate.config.limits import BatchConfig, BudgetsConfig, LimitsConfig
from lockgate.config.models import EmbeddingSpec, ModelSpec, default_models
from lockgate.config.privacy import PrivacyConfig, RetentionConfig
from lockgate.config.readiness import ReadinessConfig
from lockgate.config.releases import ReleasesConfig
from lockgate.config.retrieval import FreshnessConfig, GroundedConfig, RetrievalConfig
from lockgate.config.review import ReviewConfig
from lockgate.config.routing import RoutingConfig
from lockgate.config.server import ServerConfig
from lockgate.config.shared import BreakersConfig, RedisConfig
from lockgate.config.store import StoreConfig
from lockgate.config.telemetry import TelemetryConfig
from lockgate.config.tools import ToolsConfig
from lockgate.config.ui import UiConfig

# The parsed YAML file of the `load_settings` call in progress, read by `_YamlSource`.
_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_data", default=None)

# Each stage wraps the ones listed after it: request work runs top-down, answer work
# (citations, the output scan, storing in the cache) bottom-up.
DEFAULT_PIPELINE = (
    "rate_limit",
    "input_guard",
    "release",
    "prompt_select",  # resolves the grounded prompt's label: the cache key names the version
    "cache",
    "review",
    "tool_gate",
    "output_guard",
    "retrieve",
    "context_guard",
    "route",
    "build_prompt",
    "budget",
    "postprocess",
    "answer_check",  # an unsupported answer becomes an extractive one (or a refusal)
    "call_model",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOCKGATE_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Path(".lockgate")
    store: StoreConfig = StoreConfig()
    encryption: EncryptionConfig = EncryptionConfig()
    retention: RetentionConfig = RetentionConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    ingest: IngestConfig = IngestConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    grounded: GroundedConfig = GroundedConfig()
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    embeddings: EmbeddingSpec = EmbeddingSpec()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    cache: CacheConfig = CacheConfig()
    routing: RoutingConfig = RoutingConfig()
    limits: LimitsConfig = LimitsConfig()
    budgets: BudgetsConfig = BudgetsConfig()
    costs: CostsConfig = CostsConfig()
    batch: BatchConfig = BatchConfig()
    audit: AuditConfig = AuditConfig()
    events: EventsConfig = EventsConfig()
    tools: ToolsConfig = ToolsConfig()
    review: ReviewConfig = ReviewConfig()
    feedback: FeedbackConfig = FeedbackConfig()
    drift: DriftConfig = DriftConfig()
    releases: ReleasesConfig = ReleasesConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    alerts: AlertingConfig = AlertingConfig()
    readiness: ReadinessConfig = ReadinessConfig()
    ui: UiConfig = UiConfig()
    redis: RedisConfig = RedisConfig()
    breakers: BreakersConfig = BreakersConfig()
    models: dict[str, ModelSpec] = Field(default_factory=default_models)
    pipeline: list[str] = Field(default_factory=lambda: list(DEFAULT_PIPELINE))

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
        merged: dict[str, Any] = dict(default_models())
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
    def _semantic_models_known(self) -> Settings:
        unknown = [m for m in self.cache.semantic_models if m not in self.models]
        if unknown:
            raise ValueError(f"cache.semantic_models: unknown model(s) {', '.join(unknown)}")
        return self

    @model_validator(mode="after")
    def _fallbacks_known(self) -> Settings:
        for name, spec in self.models.items():
            for fb in spec.fallbacks:
                if fb == name or fb not in self.models:
                    raise ValueError(f"models.{name}.fallbacks: '{fb}' is not another model")
        return self

    @model_validator(mode="after")
    def _tool_gate_in_pipeline(self) -> Settings:
        # Without the gate, a call to a tool declared with side effects would go back to the
        # caller unapproved: refuse to start rather than silently open that door.
        if self.tools.gated and "tool_gate" not in self.pipeline:
            raise ValueError(
                "tools.declared has tools with side effects (or tools.undeclared is "
                "'approve'), but the pipeline has no 'tool_gate' stage to hold their calls "
                "for approval"
            )
        return self

    @model_validator(mode="after")
    def _redis_configured(self) -> Settings:
        if self.redis.url is None:
            for name, store in self.redis_users().items():
                if store == "redis":
                    raise ValueError(f"{name}.store is 'redis' but redis.url is not set")
        return self

    def redis_users(self) -> dict[str, str]:
        """The store of each mechanism that can keep its state in Redis."""
        return {
            "limits": self.limits.store,
            "budgets": self.budgets.store,
            "breakers": self.breakers.store,
            "cache": self.cache.store,
        }

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.home / 'lockgate.db').resolve()}"


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
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


_SECRET_WORDS = (
    "key",
    "secret",
    "password",
    "token",
    "authorization",
    "auth",
    "sig",
    "signature",
    "credential",
)


def masked(settings: Settings) -> dict[str, Any]:
    """The effective config as plain data with secret values hidden."""
    return _mask(settings.model_dump(mode="json"))


def _opaque(path: tuple[str, ...]) -> bool:
    # A backend's parameters (headers, credentials) are free-form: every value is hidden.
    # Scanner parameters (word lists, thresholds) are not secrets and stay readable.
    return path[-1:] == ("headers",) or (path[:1] == ("models",) and path[-1:] == ("params",))


def _mask(value: Any, key: str = "", opaque: bool = False, path: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        inside = opaque or _opaque(path)
        return {k: _mask(v, k, inside, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, opaque, path) for v in value]
    lowered = key.lower()
    # `api_key_env` names a variable, it does not hold the secret, so it stays visible.
    if not isinstance(value, str) or not value or lowered.endswith("_env"):
        return value
    if opaque or any(w in lowered for w in _SECRET_WORDS):
        return "****"
    if "://" in value:
        web = value.lower().startswith(("http://", "https://", "s3://"))
        return _mask_url(value, web and lowered.endswith(("url", "uri")))
    return value


def _mask_url(value: str, whole_path: bool) -> str:
    """Scheme, user and host stay readable; passwords and every query value are hidden, and
    for a web address field (`*_url`, `uri`) the path too: webhook and presigned URLs carry
    their secret there (a database URL's path is only the database name)."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}:****@{host}" if parts.password else f"{parts.username}@{host}"
    path = parts.path
    if whole_path and path not in ("", "/"):
        path = "/****"
    query = "&".join(f"{k}=****" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, host, path, query, ""))
