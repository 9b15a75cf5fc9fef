"""Everything a command or the gateway needs, built once from the settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from lockgate.auth.keys import ApiKeys
from lockgate.auth.oidc import OidcVerifier
from lockgate.auth.scopes import ScopeMatrix, matrix_of
from lockgate.config import ConfigError, Settings
from lockgate.crypto.envelope import FieldCipher
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.registry import ScannerDeps
from lockgate.models import openmp
from lockgate.models.base import EmbeddingModel
from lockgate.prompts.registry import PromptRegistry
from lockgate.retrieval.hybrid import HybridRetriever
from lockgate.retrieval.index import VectorIndex
from lockgate.retrieval.vector import NumpyVectorIndex
from lockgate.store.audit import AuditLog
from lockgate.store.db import make_engine
from lockgate.store.documents import DocumentStore
from lockgate.store.fulltext import TextIndex, text_index_for
from lockgate.store.keys import KeyStore
from lockgate.store.migrations import migrate
from lockgate.store.reviews import ReviewStore
from lockgate.store.runs import IngestRunStore
from lockgate.store.traces import TraceStore
from lockgate.upstreams.registry import ModelRegistry, build_embedder

if TYPE_CHECKING:
    from lockgate.alerts.service import AlertService
    from lockgate.batch.batches import BatchStore
    from lockgate.batch.files import FileStore
    from lockgate.budget.ledger import Budgets
    from lockgate.budget.limits import RateLimiter
    from lockgate.cache.service import ResponseCache
    from lockgate.engine.approvals import ToolApprovals
    from lockgate.engine.cpu import CpuGate
    from lockgate.observability.events import Event
    from lockgate.prompts.resolver import PromptResolver
    from lockgate.releases.active import ActiveReleases
    from lockgate.releases.manage import Releases
    from lockgate.releases.monitor import Monitor
    from lockgate.review.queue import ReviewQueue
    from lockgate.routing.router import Router
    from lockgate.sharedstate.client import Redis
    from lockgate.store.experiments import ExperimentStore
    from lockgate.store.feedback import FeedbackStore
    from lockgate.store.loadtests import LoadtestStore
    from lockgate.store.privacy import PrivacyStore, Retention
    from lockgate.store.prompts import PromptStore
    from lockgate.store.releases import ReleaseStore
    from lockgate.upstreams.shared import SharedBreakers


@dataclass
class Services:
    settings: Settings
    # An already loaded embedder to use instead of building one (tests and benches share
    # one warm model between many configurations).
    preloaded_embedder: EmbeddingModel | None = None

    def close(self) -> bool:
        """Write every event this process queued (traces, audit entries), then close the
        store's connections; False when the queue was not written within
        `events.shutdown_timeout_s`. The services stay usable (connections reopen)."""
        from lockgate.observability import dispatch

        flushed = dispatch.flush()
        if "vectors" in self.__dict__:
            self.vectors.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
        return flushed

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.store_url)
        migrate(engine)
        return engine

    @cached_property
    def text_index(self) -> TextIndex:
        return text_index_for(self.engine, max_df=self.settings.retrieval.bm25_max_df)

    @cached_property
    def documents(self) -> DocumentStore:
        return DocumentStore(self.engine, self.text_index)

    @cached_property
    def runs(self) -> IngestRunStore:
        return IngestRunStore(self.engine)

    @cached_property
    def cipher(self) -> FieldCipher:
        """Seals what callers wrote and models answered in traces, cache entries and review
        items (AES-GCM, a data key per tenant wrapped by the master key)."""
        from lockgate.crypto.factory import build_cipher
        from lockgate.store.data_keys import SqlDataKeyStore

        cfg = self.settings.encryption
        key_file = cfg.master_key_file or self.settings.home / "master.key"
        return build_cipher(
            cfg.enabled,
            cfg.master_key_env,
            key_file,
            cfg.create_key_file,
            cfg.previous_key_env,
            SqlDataKeyStore(self.engine),
        )

    @cached_property
    def scopes(self) -> ScopeMatrix:
        """Which scopes each role grants (defaults overridden by `auth.role_scopes`)."""
        return matrix_of(self.settings.auth)

    @cached_property
    def traces(self) -> TraceStore:
        return TraceStore(self.engine, self.cipher)

    @cached_property
    def embedder(self) -> EmbeddingModel:
        if self.preloaded_embedder is not None:
            return self.preloaded_embedder
        return build_embedder(self.settings.embeddings)

    @cached_property
    def query_embedder(self) -> EmbeddingModel:
        """Questions for retrieval and the response cache (int8 MiniLM by default)."""
        return self.embedder.for_queries()

    @cached_property
    def vectors(self) -> VectorIndex:
        cfg = self.settings.retrieval
        if cfg.vector.engine == "milvus":
            from lockgate.retrieval.milvus import MilvusVectorIndex

            token = None
            if cfg.vector.token_env:
                token = os.environ.get(cfg.vector.token_env)
                if not token:
                    raise ConfigError(
                        f"retrieval.vector.token_env names {cfg.vector.token_env}, which is not set"
                    )
            return MilvusVectorIndex(self.documents, cfg.vector, token)
        return NumpyVectorIndex(
            self.documents, ivf_min_rows=cfg.ivf_min_rows, ivf_probe=cfg.ivf_probe
        )

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(
            self.documents,
            self.text_index,
            self.vectors,
            self.query_embedder,
            self.settings.retrieval,
            self.settings.freshness,
            self.settings.ingest.near_duplicates.chunk_max_bits,
        )

    @cached_property
    def models(self) -> ModelRegistry:
        if any(s is not None and s.backend == "llama_cpp" for s in self.settings.models.values()):
            # This process may generate in-process: decided before the embedder's first
            # multi-threaded call (models/openmp.py), so build the registry early.
            openmp.reserve_for_generation()
        return ModelRegistry(
            self.settings, on_breaker=self._breaker_moved, shared_breakers=self.shared_breakers
        )

    @cached_property
    def redis(self) -> Redis:
        """The Redis connection pool of this process (redis.url must be set)."""
        from lockgate.engine.shared_state import SharedStateRefused
        from lockgate.sharedstate.client import Redis

        return Redis(self.settings.redis, SharedStateRefused)

    @cached_property
    def shared_breakers(self) -> SharedBreakers | None:
        if self.settings.breakers.store != "redis":
            return None
        from lockgate.upstreams.shared import SharedBreakers

        return SharedBreakers(self.redis, self.settings.breakers)

    def _breaker_moved(self, deployment: str, from_state: str, to_state: str) -> None:
        # An opening is news for alerting; half-open and closed follow from the cool-down.
        if to_state == "open":
            from lockgate.observability.events import BreakerOpened

            self.emit([BreakerOpened("", deployment=deployment, from_state=from_state)])

    @cached_property
    def alerts(self) -> AlertService:
        """Alert rules, their history and webhooks (docs/alerts.md)."""
        from lockgate.alerts.service import AlertService

        return AlertService.from_services(self)

    @cached_property
    def privacy(self) -> PrivacyStore:
        from lockgate.store.privacy import PrivacyStore

        return PrivacyStore(self.engine, self.traces, self.review_store, self.feedback)

    def retention(self) -> Retention:
        from lockgate.store.privacy import Retention

        r = self.settings.retention
        return Retention.days(
            traces=r.traces_days,
            reviews=r.reviews_days,
            corrections=r.corrections_days,
            cache=r.cache_days,
            batches=r.batches_days,
            files=r.files_days,
            feedback=r.feedback_days,
        )

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.engine, self.settings.audit.key())

    @cached_property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(KeyStore(self.engine))

    @cached_property
    def oidc(self) -> OidcVerifier:
        if self.settings.auth.oidc is None:
            raise RuntimeError("auth.oidc is not configured")
        return OidcVerifier(self.settings.auth.oidc)

    @cached_property
    def feedback(self) -> FeedbackStore:
        """Users' ratings of answers."""
        from lockgate.store.feedback import FeedbackStore

        return FeedbackStore(self.engine, self.cipher)

    @cached_property
    def loadtests(self) -> LoadtestStore:
        """Load test runs (`lockgate loadtest`); the readiness report reads the latest."""
        from lockgate.store.loadtests import LoadtestStore

        return LoadtestStore(self.engine)

    @cached_property
    def experiments(self) -> ExperimentStore:
        """Evaluation runs and their cases (`lockgate eval`)."""
        from lockgate.store.experiments import ExperimentStore

        return ExperimentStore(self.engine, self.cipher)

    @cached_property
    def releases(self) -> ReleaseStore:
        """Staged releases: their bundles, stages and history."""
        from lockgate.store.releases import ReleaseStore

        return ReleaseStore(self.engine)

    @cached_property
    def active_releases(self) -> ActiveReleases:
        """The releases serving now, re-read every `releases.cache_ttl_s` in this process."""
        from lockgate.releases.active import ActiveReleases

        return ActiveReleases(self.releases, self.settings.releases.cache_ttl_s)

    @cached_property
    def release_admin(self) -> Releases:
        """Create, promote and roll back releases, each change announced (and audited)."""
        from lockgate.releases.manage import Releases

        models = tuple(self.settings.models)

        def prompt_versions(name: str) -> list[int]:
            return [v.seq for v in self.prompt_store.versions(name)]

        return Releases(self.releases, models, self.emit, self.active_releases, prompt_versions)

    @cached_property
    def release_monitor(self) -> Monitor:
        from lockgate.releases.monitor import Monitor

        return Monitor(self.release_admin, self.settings.releases)

    @cached_property
    def review_store(self) -> ReviewStore:
        return ReviewStore(self.engine, self.cipher)

    @cached_property
    def reviews(self) -> ReviewQueue:
        """The human review queue: answers the review stage puts up, tool calls, decisions."""
        from lockgate.review.queue import ReviewQueue

        return ReviewQueue(self.review_store, self.settings.review, emit=self.emit)

    def emit(self, events: list[Event]) -> None:
        """Hand events to the subscribers (the audit log among them, written by the event
        writer: observability/dispatch.py), as the engine does."""
        from lockgate.engine.run import emit

        emit(events, self)

    @cached_property
    def guard(self) -> GuardEngine:
        return GuardEngine(self.settings.guardrails, ScannerDeps(self.embedder))

    @cached_property
    def tool_approvals(self) -> ToolApprovals:
        """The approval provider a plugin gives (`tool_approvals` hook), else one that
        approves nothing: a side-effect tool call is never returned unapproved."""
        from lockgate.engine.approvals import NoApprovals
        from lockgate.plugins.manager import plugin_manager

        provider = plugin_manager().hook.tool_approvals(services=self)
        return provider if provider is not None else NoApprovals()

    @cached_property
    def prompts(self) -> PromptRegistry:
        """The packaged prompt templates (the registry's seed; the output guard's default
        instructions)."""
        return PromptRegistry([self.settings.home / "prompts"])

    @cached_property
    def prompt_store(self) -> PromptStore:
        """The prompt registry. The packaged grounded prompt is its version 1 (label
        `production`) from the first use on; seeding is idempotent across processes."""
        from lockgate.prompts.builtin import builtin_specs
        from lockgate.store.prompts import PromptStore

        store = PromptStore(self.engine)
        for spec in builtin_specs():
            store.seed(spec.name, spec.hash, spec.canonical())
        return store

    @cached_property
    def prompt_resolver(self) -> PromptResolver:
        """Labels -> versions for the turns, re-read every `grounded.prompt_cache_ttl_s`."""
        from lockgate.prompts.resolver import PromptResolver

        return PromptResolver(self.prompt_store, self.settings.grounded.prompt_cache_ttl_s)

    @cached_property
    def response_cache(self) -> ResponseCache:
        # Imported here: the cache is optional machinery most commands never touch.
        from lockgate.cache.service import ResponseCache
        from lockgate.cache.store import CacheStore, SqliteCacheStore

        cfg = self.settings.cache
        sql = SqliteCacheStore(self.engine, self.cipher)
        store: CacheStore = sql
        if cfg.store == "redis":
            from lockgate.cache.redis_store import RedisCacheStore

            store = RedisCacheStore(self.redis, sql, self.cipher, cfg.on_redis_error)
        return ResponseCache(cfg, store, self.query_embedder)

    @cached_property
    def router(self) -> Router:
        from lockgate.routing.router import Router

        return Router(self.settings.routing)

    @cached_property
    def cpu(self) -> CpuGate:
        from lockgate.engine.cpu import CpuGate

        server = self.settings.server
        return CpuGate(server.cpu.slot_count(), server.cpu.max_waiting, server.cpu_wait_s())

    # -- rate limits, budgets, batch API -------------------------------------------------
    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from lockgate.budget.limits import (
            BucketStore,
            MemoryBucketStore,
            RateLimiter,
            SqlBucketStore,
        )

        cfg = self.settings.limits
        store: BucketStore
        if cfg.store == "redis":
            from lockgate.budget.redis_limits import RedisBucketStore

            store = RedisBucketStore(self.redis, cfg.on_redis_error)
        elif cfg.store == "sqlite":
            store = SqlBucketStore(self.engine)
        else:
            store = MemoryBucketStore(cfg.max_buckets)
        return RateLimiter(cfg, store)

    @cached_property
    def budgets(self) -> Budgets:
        from lockgate.budget.ledger import Budgets, BudgetStore, SqlBudgetStore

        cfg = self.settings.budgets
        sql = SqlBudgetStore(self.engine)
        store: BudgetStore = sql
        if cfg.store == "redis":
            from lockgate.budget.redis_ledger import RedisBudgetStore

            store = RedisBudgetStore(self.redis, sql, cfg.on_redis_error)
        return Budgets(cfg, store)

    @cached_property
    def files(self) -> FileStore:
        from lockgate.batch.files import FileStore

        return FileStore(self.engine, self.settings.home / "files")

    @cached_property
    def batches(self) -> BatchStore:
        from lockgate.batch.batches import BatchStore

        return BatchStore(self.engine)
