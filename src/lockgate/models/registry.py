"""Model registry: names from config mapped to live backends, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lockgate.config import EmbeddingSpec, ModelSpec, Settings
from lockgate.models.base import ChatModel, EmbeddingModel
from lockgate.models.llama_local import LlamaCppModel
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.models.openai_compat import OpenAICompatModel
from lockgate.models.openai_embed import OpenAIEmbedder
from lockgate.routing.breaker import CircuitBreaker
from lockgate.routing.deployments import Deployment, DeploymentPool, deployment_specs
from lockgate.routing.fallback import ResilientModel

ChatFactory = Callable[[str, ModelSpec, Path], ChatModel]

BACKENDS: dict[str, ChatFactory] = {
    "llama_cpp": lambda name, spec, home: LlamaCppModel(name, spec, home),
    "openai": lambda name, spec, home: OpenAICompatModel(name, spec),
}


def build_embedder(spec: EmbeddingSpec) -> EmbeddingModel:
    if spec.backend == "openai":
        return OpenAIEmbedder(spec)
    return MiniLMEmbedder(spec.model_path, spec.batch_size, spec.max_seq_length, spec.int8)


class ModelRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, ChatModel] = {}
        self._pools: dict[str, DeploymentPool] = {}

    def names(self) -> list[str]:
        return list(self.settings.models)

    def spec(self, name: str) -> ModelSpec | None:
        return self.settings.models.get(name)

    def get(self, name: str) -> ChatModel:
        model = self._models.get(name)
        if model is None:
            # Issue 4a: every name is served through its deployments' breakers, retries and
            # fallback chain (routing/fallback.py); callers see a plain ChatModel.
            spec = self.settings.models[name]
            model = ResilientModel(name, spec, self.pool(name), self.pool)
            self._models[name] = model
        return model

    def pool(self, name: str) -> DeploymentPool:
        """The deployments of one model name, built once; fallback chains share them, so a
        breaker opened by one caller is seen by all."""
        pool = self._pools.get(name)
        if pool is None:
            spec = self.settings.models[name]
            existing = self._models.get(name)
            deployments = []
            for key, dep_spec, weight, limit in deployment_specs(name, spec):
                if existing is not None and not isinstance(existing, ResilientModel):
                    backend = existing  # a model put in place directly (preloaded, tests)
                else:
                    backend = BACKENDS[spec.backend](name, dep_spec, self.settings.home)
                breaker = CircuitBreaker(key, spec.resilience.breaker)
                deployments.append(Deployment(key, backend, weight, limit, breaker))
            pool = DeploymentPool(name, spec, deployments)
            self._pools[name] = pool
        return pool

    def breaker_states(self) -> dict[str, str]:
        return {k: v for pool in self._pools.values() for k, v in pool.states().items()}

    def loaded(self) -> dict[str, bool]:
        return {name: m.ready() for name, m in self._models.items()}
