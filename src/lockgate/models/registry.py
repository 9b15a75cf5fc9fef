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

ChatFactory = Callable[[str, ModelSpec, Path], ChatModel]

BACKENDS: dict[str, ChatFactory] = {
    "llama_cpp": lambda name, spec, home: LlamaCppModel(name, spec, home),
    "openai": lambda name, spec, home: OpenAICompatModel(name, spec),
}


def build_embedder(spec: EmbeddingSpec) -> EmbeddingModel:
    if spec.backend == "openai":
        return OpenAIEmbedder(spec)
    return MiniLMEmbedder(spec.model_path, spec.batch_size)


class ModelRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: dict[str, ChatModel] = {}

    def names(self) -> list[str]:
        return list(self.settings.models)

    def spec(self, name: str) -> ModelSpec | None:
        return self.settings.models.get(name)

    def get(self, name: str) -> ChatModel:
        model = self._models.get(name)
        if model is None:
            spec = self.settings.models[name]
            model = BACKENDS[spec.backend](name, spec, self.settings.home)
            self._models[name] = model
        return model

    def loaded(self) -> dict[str, bool]:
        return {name: m.ready() for name, m in self._models.items()}
