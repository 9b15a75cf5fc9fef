"""The chat and embedding backends that ship with Lockgate, registered through the same hooks
a plugin uses. Each factory imports its backend when called, so starting the plugin manager
(every CLI command) does not import llama.cpp, httpx clients or torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.plugins import hookimpl
from lockgate.plugins.hookspecs import Register

if TYPE_CHECKING:
    from pathlib import Path

    from lockgate.config import EmbeddingSpec, ModelSpec
    from lockgate.models.base import ChatBackend, EmbeddingBackend


def llama_cpp(name: str, spec: ModelSpec, home: Path) -> ChatBackend:
    from lockgate.models.llama_local import LlamaCppModel

    return LlamaCppModel(name, spec, home)


def openai(name: str, spec: ModelSpec, home: Path) -> ChatBackend:
    from lockgate.models.openai_compat import OpenAICompatModel

    return OpenAICompatModel(name, spec)


def mock(name: str, spec: ModelSpec, home: Path) -> ChatBackend:
    from lockgate.models.mock import MockBackend

    return MockBackend(name, spec.params)


def minilm(spec: EmbeddingSpec) -> EmbeddingBackend:
    from lockgate.models.minilm import MiniLMEmbedder

    return MiniLMEmbedder(spec.model_path, spec.batch_size, spec.max_seq_length, spec.int8)


def openai_embeddings(spec: EmbeddingSpec) -> EmbeddingBackend:
    from lockgate.models.openai_embed import OpenAIEmbedder

    return OpenAIEmbedder(spec)


@hookimpl
def register_chat_backends(register: Register) -> None:
    register("llama_cpp", llama_cpp)
    register("openai", openai)
    register("mock", mock)


@hookimpl
def register_embedding_backends(register: Register) -> None:
    register("minilm", minilm)
    register("openai", openai_embeddings)
