"""Model registry: names from config mapped to live backends, built once per process. The
backends themselves come from plugins (`register_chat_backends`,
`register_embedding_backends`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.config import ConfigError, EmbeddingSpec, ModelSpec, Settings
from lockgate.models.base import ChatBackend, EmbeddingBackend
from lockgate.plugins import Registry
from lockgate.upstreams.breaker import BreakerListener, CircuitBreaker
from lockgate.upstreams.deployments import Deployment, DeploymentPool, deployment_specs
from lockgate.upstreams.fallback import Upstream

if TYPE_CHECKING:
    from lockgate.upstreams.shared import SharedBreakers

ChatBackendFactory = Callable[[str, ModelSpec, Path], ChatBackend]
EmbeddingBackendFactory = Callable[[EmbeddingSpec], EmbeddingBackend]

CHAT_BACKENDS: Registry[ChatBackendFactory] = Registry("register_chat_backends", "chat backend")
EMBEDDING_BACKENDS: Registry[EmbeddingBackendFactory] = Registry(
    "register_embedding_backends", "embedding backend"
)


def check_backends(settings: Settings) -> None:
    """Every configured backend name is one a plugin registered; else a ConfigError naming the
    keys, as for any other invalid setting."""
    errors = [
        f"invalid config key 'models.{name}.backend': unknown chat backend '{spec.backend}' "
        f"(known: {CHAT_BACKENDS.known()})"
        for name, spec in settings.models.items()
        if spec.backend not in CHAT_BACKENDS
    ]
    emb = settings.embeddings
    for key, spec in (("embeddings", emb), ("embeddings.fallback", emb.fallback)):
        if spec is not None and spec.backend not in EMBEDDING_BACKENDS:
            errors.append(
                f"invalid config key '{key}.backend': unknown embedding backend "
                f"'{spec.backend}' (known: {EMBEDDING_BACKENDS.known()})"
            )
    if errors:
        raise ConfigError("\n".join(errors))


def build_embedder(spec: EmbeddingSpec, key: str = "embeddings") -> EmbeddingBackend:
    """The configured embedder; with a fallback, one whose query path falls back to it."""
    factory = EMBEDDING_BACKENDS.get(spec.backend)
    if factory is None:
        raise ConfigError(
            f"invalid config key '{key}.backend': unknown embedding backend "
            f"'{spec.backend}' (known: {EMBEDDING_BACKENDS.known()})"
        )
    primary = factory(spec)
    # Imported here: the httpx client stays out of commands that embed nothing.
    from lockgate.models.openai_embed import OpenAIEmbedder

    if isinstance(primary, OpenAIEmbedder):
        # Breakers are this package's (metrics, state names); the embedder only asks one.
        primary.attach_breaker(CircuitBreaker(f"embeddings:{primary.name}", spec.retry.breaker))
    if spec.fallback is None:
        return primary
    from lockgate.models.embed_fallback import WithQueryFallback

    fallback = build_embedder(spec.fallback, f"{key}.fallback")
    # A plugin backend's length is only known here (the config checked the declared ones).
    if fallback.dimensions and fallback.dimensions != spec.dimensions:
        raise ConfigError(
            f"invalid config key '{key}.fallback': its vectors have {fallback.dimensions} "
            f"dimensions, {key}.dimensions is {spec.dimensions}; a fallback must be the same model"
        )
    return WithQueryFallback(primary, fallback)


class ModelRegistry:
    def __init__(
        self,
        settings: Settings,
        on_breaker: BreakerListener | None = None,
        shared_breakers: SharedBreakers | None = None,
    ) -> None:
        check_backends(settings)
        self.settings = settings
        self.on_breaker = on_breaker
        self.shared_breakers = shared_breakers
        self._models: dict[str, Upstream] = {}
        self._pools: dict[str, DeploymentPool] = {}
        self._preloaded: dict[str, ChatBackend] = {}
        if shared_breakers is not None:
            shared_breakers.watch(
                key
                for name, spec in settings.models.items()
                if spec is not None and spec.resilience.breaker.enabled
                for key, *_ in deployment_specs(name, spec)
            )

    def names(self) -> list[str]:
        return list(self.settings.models)

    def spec(self, name: str) -> ModelSpec | None:
        return self.settings.models.get(name)

    def preload(self, name: str, backend: ChatBackend) -> None:
        """Serve `name` with an already loaded backend (a warm model shared between several
        registries, as tests and benches do) instead of building one from its spec."""
        if name in self._pools:
            raise RuntimeError(f"model '{name}' is already in use; preload it first")
        self._preloaded[name] = backend

    def get(self, name: str) -> Upstream:
        model = self._models.get(name)
        if model is None:
            # Every name is served through its deployments' breakers, retries and fallback
            # chain (upstreams/fallback.py).
            spec = self.settings.models[name]
            model = Upstream(name, spec, self.pool(name), self.pool)
            self._models[name] = model
        return model

    def pool(self, name: str) -> DeploymentPool:
        """The deployments of one model name, built once; fallback chains share them, so a
        breaker opened by one caller is seen by all."""
        pool = self._pools.get(name)
        if pool is None:
            spec = self.settings.models[name]
            preloaded = self._preloaded.get(name)
            deployments = []
            for key, dep_spec, weight, limit in deployment_specs(name, spec):
                if preloaded is not None:
                    backend = preloaded
                else:
                    backend = CHAT_BACKENDS[spec.backend](name, dep_spec, self.settings.home)
                breaker = CircuitBreaker(
                    key,
                    spec.resilience.breaker,
                    on_change=self.on_breaker,
                    shared=self.shared_breakers,
                )
                deployments.append(Deployment(key, backend, weight, limit, breaker))
            pool = DeploymentPool(name, spec, deployments)
            self._pools[name] = pool
        return pool

    def pools(self) -> list[DeploymentPool]:
        """The pools built so far (a model nobody called has none yet)."""
        return list(self._pools.values())

    def breaker_states(self) -> dict[str, str]:
        return {k: v for pool in self._pools.values() for k, v in pool.states().items()}

    def loaded(self) -> dict[str, bool]:
        return {name: m.ready() for name, m in self._models.items()}

    async def aclose(self) -> None:
        """Close the connections of every backend this registry built (shutdown); a
        preloaded backend belongs to whoever loaded it."""
        shared = {id(b) for b in self._preloaded.values()}
        for pool in self._pools.values():
            for d in pool.deployments:
                if id(d.model) not in shared:
                    await d.model.aclose()
