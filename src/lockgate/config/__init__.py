"""Lockgate's typed configuration, one module per domain; every public name is importable
from here (`from lockgate.config import Settings, ModelSpec`)."""

from lockgate.config._base import Strict
from lockgate.config.alerts import AlertingConfig, AlertRule, AlertWebhook
from lockgate.config.audit import AuditConfig
from lockgate.config.auth import AuthConfig, OidcClaims, OidcConfig
from lockgate.config.cache import CacheConfig
from lockgate.config.costs import CostsConfig
from lockgate.config.drift import DriftConfig, DriftThresholds, PinnedBaseline
from lockgate.config.encryption import EncryptionConfig
from lockgate.config.events import EventsConfig
from lockgate.config.feedback import FeedbackConfig
from lockgate.config.guardrails import GuardPolicy, GuardrailsConfig, LinkPolicy, ScannerRule
from lockgate.config.ingest import (
    AccessRule,
    AlertsConfig,
    ArchiveConfig,
    FetchConfig,
    IngestConfig,
    IngestQueueConfig,
    NearDuplicateConfig,
    NormalizeConfig,
    OcrConfig,
    RetryConfig,
    SourceSpec,
)
from lockgate.config.limits import (
    BatchConfig,
    BudgetRule,
    BudgetsConfig,
    Dimension,
    LimitsConfig,
    RateLimitRule,
)
from lockgate.config.models import (
    MINILM_MODEL_ID,
    EmbeddingRetry,
    EmbeddingSpec,
    ModelSpec,
    default_models,
)
from lockgate.config.privacy import PrivacyConfig, RetentionConfig
from lockgate.config.readiness import BackupPolicy, ReadinessConfig
from lockgate.config.releases import ReleaseBounds, ReleasesConfig
from lockgate.config.resilience import (
    BreakerConfig,
    DegradeConfig,
    DeploymentSpec,
    ResilienceConfig,
    StreamingConfig,
)
from lockgate.config.retrieval import (
    ExtractiveConfig,
    FreshnessConfig,
    GroundedConfig,
    RetrievalConfig,
    VectorEngineConfig,
)
from lockgate.config.review import (
    REVIEW_KINDS,
    AppReview,
    ReviewCallback,
    ReviewConfig,
    ReviewKind,
    ReviewMode,
    ReviewModes,
)
from lockgate.config.routing import QUESTION_TYPES, RouteTargets, RoutingConfig
from lockgate.config.server import ServerConfig
from lockgate.config.settings import (
    DEFAULT_PIPELINE,
    ConfigError,
    Settings,
    config_path,
    load_settings,
    masked,
)
from lockgate.config.shared import BreakersConfig, OnRedisError, RedisConfig
from lockgate.config.store import StoreConfig
from lockgate.config.tools import DeclaredTool, ToolsConfig

__all__ = [
    "OnRedisError",
    "RedisConfig",
    "AlertRule",
    "AlertWebhook",
    "AlertingConfig",
    "BackupPolicy",
    "ReadinessConfig",
    "AuthConfig",
    "OidcClaims",
    "OidcConfig",
    "DEFAULT_PIPELINE",
    "QUESTION_TYPES",
    "AlertsConfig",
    "AccessRule",
    "ArchiveConfig",
    "AuditConfig",
    "FetchConfig",
    "BatchConfig",
    "BreakerConfig",
    "BreakersConfig",
    "BudgetRule",
    "BudgetsConfig",
    "CacheConfig",
    "CostsConfig",
    "DriftConfig",
    "DriftThresholds",
    "PinnedBaseline",
    "EncryptionConfig",
    "EventsConfig",
    "FeedbackConfig",
    "PrivacyConfig",
    "RetentionConfig",
    "ReleaseBounds",
    "ReleasesConfig",
    "REVIEW_KINDS",
    "AppReview",
    "ReviewCallback",
    "ReviewConfig",
    "ReviewKind",
    "ReviewMode",
    "ReviewModes",
    "ConfigError",
    "DegradeConfig",
    "ExtractiveConfig",
    "DeclaredTool",
    "DeploymentSpec",
    "Dimension",
    "EmbeddingRetry",
    "EmbeddingSpec",
    "MINILM_MODEL_ID",
    "FreshnessConfig",
    "GroundedConfig",
    "GuardPolicy",
    "GuardrailsConfig",
    "IngestConfig",
    "IngestQueueConfig",
    "LinkPolicy",
    "LimitsConfig",
    "ModelSpec",
    "NearDuplicateConfig",
    "NormalizeConfig",
    "OcrConfig",
    "RateLimitRule",
    "ResilienceConfig",
    "RetrievalConfig",
    "VectorEngineConfig",
    "RetryConfig",
    "RouteTargets",
    "RoutingConfig",
    "ScannerRule",
    "ServerConfig",
    "Settings",
    "SourceSpec",
    "StoreConfig",
    "StreamingConfig",
    "ToolsConfig",
    "Strict",
    "config_path",
    "default_models",
    "load_settings",
    "masked",
]
